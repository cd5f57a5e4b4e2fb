"""Templates keep within the Content-Security-Policy: no inline script or style."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(
    path
    for folder in [ROOT / "templates", *ROOT.glob("*/templates")]
    for path in folder.rglob("*.html")
)
INLINE_STYLE = re.compile(r"<[a-zA-Z][^>]*\sstyle\s*=", re.S)
STYLE_ELEMENT = re.compile(r"<style[\s>]", re.I)
INLINE_SCRIPT = re.compile(
    r"<script(?![^>]*\ssrc=)(?![^>]*type=\"application/json\")[^>]*>"
)
EVENT_HANDLER = re.compile(r"<[a-zA-Z][^>]*\son[a-z]+\s*=", re.S)
COMMENTS = re.compile(r"\{#.*?#\}|\{% comment %\}.*?\{% endcomment %\}", re.S)


def test_there_are_templates_to_check():
    assert len(TEMPLATES) > 20


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_inline_style_or_script(path):
    text = COMMENTS.sub("", path.read_text())
    problems = [
        name
        for name, pattern in [
            ("style attribute", INLINE_STYLE),
            ("<style> element", STYLE_ELEMENT),
            ("inline <script>", INLINE_SCRIPT),
            ("on* event handler", EVENT_HANDLER),
        ]
        if pattern.search(text)
    ]
    assert not problems, f"{path.relative_to(ROOT)}: {', '.join(problems)}"
