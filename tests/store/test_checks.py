"""Every gate on a passing and a failing stylesheet; contrast against WCAG examples."""

import pytest

from store.checks import MAX_GZIPPED_BYTES, MAX_MINIFIED_BYTES, run_checks
from store.colours import contrast_ratio, format_ratio, relative_luminance
from tests.factories.store import GOOD_CSS, GOOD_TOKENS


def results(css=GOOD_CSS, tokens=None, image_sizes=()):
    report = run_checks(css=css, tokens=tokens or GOOD_TOKENS, image_sizes=image_sizes)
    return {r.code: r for r in report}


# Published WCAG / WebAIM values: white on black 21:1, #767676 on white is the
# lightest grey passing AA at 4.54:1, #777777 fails at 4.478:1 (shown rounded
# down, so a fail never reads as 4.5), #949494 = 3.03.
@pytest.mark.parametrize(
    ("fg", "bg", "expected"),
    [
        ("#ffffff", "#000000", "21.00:1"),
        ("#000000", "#000000", "1.00:1"),
        ("#767676", "#ffffff", "4.54:1"),
        ("#777777", "#ffffff", "4.47:1"),
        ("#949494", "#ffffff", "3.03:1"),
        ("#595959", "#ffffff", "7.00:1"),
    ],
)
def test_contrast_matches_published_wcag_examples(fg, bg, expected):
    assert format_ratio(contrast_ratio(fg, bg)) == expected
    assert contrast_ratio(fg, bg) == contrast_ratio(bg, fg)


def test_luminance_of_black_white_and_short_hex():
    assert relative_luminance("#000") == 0
    assert relative_luminance("#fff") == pytest.approx(1.0)
    assert contrast_ratio("#767676", "#fff") >= 4.5 > contrast_ratio("#777", "#fff")


def test_a_good_stylesheet_passes_every_check():
    report = results()
    assert [code for code, r in report.items() if not r.passed] == []
    assert len(report) == 17


def test_every_check_reports_measured_threshold_and_fix():
    for result in results(css="@import 'x.css';").values():
        assert result.measured and result.threshold and result.fix


def test_parse_errors_fail_with_their_line():
    report = results(css=".a { color: red; }\n.b { color: ; }\n")
    assert not report["syntax"].passed
    assert report["syntax"].details[0].startswith("line 2")


def test_size_budgets_fail_above_50_kb_minified_and_15_kb_gzipped():
    # Distinct selectors so gzip cannot fold them away.
    css = "".join(f".c{i} {{ margin: {i}px; }}\n" for i in range(4000))
    report = results(css=css)
    assert not report["size_minified"].passed
    assert not report["size_gzipped"].passed
    assert "KB" in report["size_minified"].measured
    assert str(MAX_MINIFIED_BYTES // 1024) in report["size_minified"].threshold
    assert str(MAX_GZIPPED_BYTES // 1024) in report["size_gzipped"].threshold


def test_comments_and_whitespace_do_not_count_towards_the_minified_size():
    padded = "/*" + "x" * 60_000 + "*/\n" + GOOD_CSS + " " * 60_000
    assert results(css=padded)["size_minified"].passed


def test_too_many_rules_fail():
    css = ".a{color:red}" * 501
    report = results(css=css)
    assert not report["rule_count"].passed
    assert report["rule_count"].measured == "501 rules, 501 selectors"


def test_import_fails():
    report = results(css='@import "other.css";\n' + GOOD_CSS)
    assert not report["no_import"].passed
    assert report["no_import"].details == ["line 1"]


@pytest.mark.parametrize(
    "css",
    [
        ".a { background: url(https://cdn.example.com/bg.png); }",
        ".a { background: url('//cdn.example.com/bg.png'); }",
        "@font-face { font-family: X; src: url(fonts/x.woff2); }",
        ".a { background-image: image-set('https://x.example/a.png' 1x); }",
    ],
)
def test_remote_or_external_urls_fail(css):
    assert not results(css=css)["no_remote_urls"].passed


def test_embedded_data_uris_pass():
    css = "@font-face { font-family: X; src: url(data:font/woff2;base64,AAAA); }"
    assert results(css=css)["no_remote_urls"].passed


def test_preview_images_over_budget_fail():
    assert results(image_sizes=[100_000])["preview_images"].passed
    assert not results(image_sizes=[400_000])["preview_images"].passed
    assert not results(image_sizes=[1000] * 5)["preview_images"].passed


def test_low_contrast_text_and_muted_text_fail():
    report = results(tokens={**GOOD_TOKENS, "text": "#999999", "muted": "#777777"})
    assert not report["contrast_text"].passed
    assert not report["contrast_muted"].passed
    assert "4.5:1" in report["contrast_muted"].threshold


def test_muted_text_passing_on_background_but_not_on_surface_fails():
    tokens = {**GOOD_TOKENS, "bg": "#ffffff", "surface": "#e5e7eb", "muted": "#6b7280"}
    report = results(tokens=tokens)
    assert not report["contrast_muted"].passed
    assert "surface" in report["contrast_muted"].measured


def test_focus_indicator_needs_3_to_1():
    assert not results(tokens={**GOOD_TOKENS, "focus": "#fde68a"})[
        "contrast_focus"
    ].passed
    assert results(
        tokens={
            **GOOD_TOKENS,
            "focus": "#949494",
            "bg": "#ffffff",
            "surface": "#ffffff",
        }
    )["contrast_focus"].passed


def test_accent_for_large_text_needs_3_to_1():
    report = results(tokens={**GOOD_TOKENS, "accent": "#a5b4fc"})
    assert not report["contrast_large_text"].passed


def test_links_without_underline_must_stand_out_from_text():
    no_underline = "a { text-decoration: none; }"
    near_text = {**GOOD_TOKENS, "accent": "#1e293b"}
    assert results(css=GOOD_CSS, tokens=near_text)["link_distinguishable"].passed
    report = results(css=no_underline, tokens=near_text)
    assert not report["link_distinguishable"].passed
    assert "underline removed" in report["link_distinguishable"].measured
    # A class named "a" is not a link selector.
    assert results(css=".a { text-decoration: none; }", tokens=near_text)[
        "link_distinguishable"
    ].passed


def test_removing_focus_outlines_without_replacement_fails():
    assert not results(css=".button:focus { outline: none; }")["focus_visible"].passed
    assert not results(css="* { outline: 0; }")["focus_visible"].passed
    replaced = ".button:focus { outline: none; box-shadow: 0 0 0 3px var(--focus); }"
    assert results(css=replaced)["focus_visible"].passed


def test_animations_outside_reduced_motion_fail():
    bare = ".x { animation: spin 1s infinite; }"
    assert not results(css=bare)["reduced_motion"].passed
    wrapped = "@media (prefers-reduced-motion: no-preference) { " + bare + " }"
    assert results(css=wrapped)["reduced_motion"].passed
    opted_out = bare + (
        "@media (prefers-reduced-motion: reduce) { .x { animation: none; } }"
    )
    assert results(css=opted_out)["reduced_motion"].passed
    # Keyframes themselves are not animations.
    assert results(css="@keyframes spin { to { transform: rotate(1turn); } }")[
        "reduced_motion"
    ].passed


def test_redefining_token_properties_in_css_fails():
    report = results(css=":root { --text: #999999; --border: #cccccc; }")
    assert not report["tokens_respected"].passed
    assert report["tokens_respected"].measured == "--text"
