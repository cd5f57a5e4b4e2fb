"""One human way to write a date on every page: "2 Dec 2026", with the time
as "2 Dec 2026, 14:05" and a month as "December 2026" (ISO dates only in CSV
and the API)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(
    path
    for folder in [ROOT / "templates", *ROOT.glob("*/templates")]
    for path in folder.rglob("*.html")
)
DATE_FILTER = re.compile(r"\|date:\"([^\"]*)\"")
HUMAN_FORMATS = {"j M Y", "j M Y, H:i", "F Y"}


def test_every_page_writes_dates_one_way():
    used = {
        (str(path.relative_to(ROOT)), fmt)
        for path in TEMPLATES
        for fmt in DATE_FILTER.findall(path.read_text())
    }
    assert used, "no dates found: the pattern no longer matches the templates"
    assert {(p, f) for p, f in used if f not in HUMAN_FORMATS} == set()
