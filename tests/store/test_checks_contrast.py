"""Contrast of every colour pair a stylesheet's rules set, not only the tokens."""

import pytest
import tinycss2
from django.conf import settings

from store.checks import STATUS_COLOURS, all_passed, run_checks
from store.checks.contrast import MAX_VARIANTS
from store.colours import Rgba, UnreadableColour, read_colour
from store.management.commands.seed_demo import THEMES
from store.models import Theme
from store.services.themes import ThemeContent, submit_theme
from tests.factories.accounts import UserFactory
from tests.factories.store import GOOD_CSS, GOOD_TOKENS

TOKEN_CHECKS = (
    "contrast_text",
    "contrast_muted",
    "contrast_large_text",
    "contrast_focus",
    "link_distinguishable",
)


def report(css, tokens=None):
    return {r.code: r for r in run_checks(css=css, tokens=tokens or GOOD_TOKENS)}


def rules(css, tokens=None):
    return report(css, tokens)["contrast_rules"]


def readable(css):
    return report(css)["colours_readable"]


def test_grey_text_on_a_grey_background_fails_though_the_tokens_pass():
    result = report(".note { color: #9a9a9a; background: #a9a9a9; }")

    assert all(result[code].passed for code in TOKEN_CHECKS)  # all the old gate saw
    assert not result["contrast_rules"].passed
    assert not all_passed(result.values())
    assert result["contrast_rules"].details == [
        "line 1: .note: text #9a9a9a on #a9a9a9: 1.19:1, needs 4.5:1"
    ]
    assert "1.19:1 (.note, line 1)" in result["contrast_rules"].measured


def test_a_nested_rule_is_read_on_its_parents_background():
    css = ".card {\n  background: #1b1f24; color: #f9fafb;\n  .title { color: %s; }\n}"

    failing = rules(css % "#374151")
    assert not failing.passed
    assert failing.details == [
        "line 3: .title inside .card: text #374151 on #1b1f24 "
        "(from .card, line 1): 1.60:1, needs 4.5:1"
    ]
    assert rules(css % "#e5e7eb").passed


def test_a_descendant_selector_is_read_on_its_ancestors_background():
    css = ".banner { background: #1e3a8a; color: #f9fafb; }\n.banner a { color: %s; }"
    assert rules(css % "#ffffff").passed
    result = rules(css % "#1d4ed8")
    assert not result.passed
    assert result.details == [
        "line 2: .banner a: text #1d4ed8 on #1e3a8a (from .banner, line 1): "
        "1.54:1, needs 4.5:1"
    ]
    # Without a background on .banner the link sits on the page or a card.
    assert not rules(".banner a { color: #ffffff; }").passed


def test_rules_for_the_same_element_are_read_together():
    split = ".chip { color: #f9fafb; }\n.chip { background: #111827; }"
    assert rules(split).passed
    # A hover background also meets the resting text colour.
    hover = ".chip { color: #f9fafb; background: #111827; }\n"
    assert rules(hover + ".chip:hover { background: #1f2937; }").passed
    result = rules(hover + ".chip:hover { background: #e5e7eb; }")
    assert not result.passed
    assert (
        "line 2: .chip:hover: text #f9fafb (from .chip, line 1) on #e5e7eb"
        in (result.details[0])
    )
    # A hover-only background does not hide the resting page behind .chip.
    assert not rules(
        ".chip { color: #f9fafb; }\n.chip:hover { background: #111; }"
    ).passed


def test_a_rule_with_only_a_colour_is_read_on_the_page_and_card_backgrounds():
    result = rules(".hint { color: #8c8c8c; }")
    assert not result.passed
    assert any("your Background colour #f6f7f9" in line for line in result.details)
    assert any("your Surface (cards) colour #ffffff" in line for line in result.details)


def test_a_background_set_on_body_is_the_page_background_for_other_rules():
    css = "body { background: #111827; color: #f9fafb; }\n.hint { color: #6b7280; }"
    result = rules(css)
    assert not result.passed
    assert (
        "line 2: .hint: text #6b7280 on #111827 (from body, line 1): 3.66:1, "
        "needs 4.5:1" in result.details
    )


def test_a_rule_with_only_a_background_is_read_with_the_text_colour_it_inherits():
    result = rules(".card { background: #1b1f24; }")
    assert not result.passed
    assert result.details[0].startswith(
        "line 1: .card: text your Text colour #1b1f24 on #1b1f24: 1.00:1"
    )
    assert rules(".card { background: #1b1f24; color: #f9fafb; }").passed


def test_var_takes_the_fallback_unless_the_property_is_always_defined():
    assert not rules(".x { color: var(--brand, #999999); }").passed
    assert rules(".x { color: var(--brand, #333333); }").passed
    assert rules(":root { --brand: #333333; } .x { color: var(--brand, #999); }").passed
    # Defined only for some pages: both the value and the fallback can show.
    conditional = ".dark { --brand: #333333; } .x { color: var(--brand, #999999); }"
    result = rules(conditional)
    assert not result.passed
    assert "var(--brand, #999999) = #999999" in result.details[0]


def test_var_reads_the_token_properties_and_every_definition():
    assert rules(".x { color: var(--text); background: var(--surface); }").passed
    css = (
        ":root { --ink: #333333; } .faint { --ink: #aaaaaa; } .x { color: var(--ink); }"
    )
    result = rules(css)
    assert not result.passed
    assert all("var(--ink) = #aaaaaa" in line for line in result.details)


def test_translucent_text_is_painted_over_its_background_first():
    result = rules(".x { color: rgb(0 0 0 / 40%); }")
    assert not result.passed
    assert (
        "line 1: .x: text rgb(0 0 0 / 40%) (shows as #999999) on your Surface "
        "(cards) colour #ffffff: 2.84:1, needs 4.5:1" in result.details
    )
    assert rules(".x { color: rgb(0 0 0 / 80%); }").passed


def test_a_translucent_background_is_painted_over_the_one_below():
    css = ".card { background: #0f172a; color: #f8fafc;\n  .tip { background: %s; } }"
    assert rules(css % "rgb(255 255 255 / 10%)").passed
    result = rules(css % "rgb(255 255 255 / 90%)")
    assert not result.passed
    assert (
        "rgb(255 255 255 / 90%) over #0f172a (from .card, line 1)"
        in (result.details[0])
    )


@pytest.mark.parametrize(
    "colour",
    [
        "#333",
        "#333f",
        "#333333",
        "#333333ff",
        "rgb(51, 51, 51)",
        "rgb(51 51 51)",
        "rgb(20% 20% 20%)",
        "rgba(51, 51, 51, 1)",
        "rgb(51 51 51 / 100%)",
        "hsl(0, 0%, 20%)",
        "hsla(0 0% 20% / 1)",
        "darkslategray",
        "DarkSlateGray",
        "oklch(0.3 0 0)",
        "lab(20 0 0)",
    ],
)
def test_every_colour_form_is_read(colour):
    assert rules(f".x {{ color: {colour}; }}").passed


@pytest.mark.parametrize(
    "colour",
    [
        "#aaa",
        "#aaaf",
        "#aaaaaa",
        "rgb(170, 170, 170)",
        "rgb(67% 67% 67%)",
        "rgba(0, 0, 0, 0.3)",
        "#0000004d",
        "hsl(0 0% 67%)",
        "hsla(0, 0%, 0%, 30%)",
        "silver",
        "oklch(0.75 0 0)",
    ],
)
def test_every_colour_form_can_fail(colour):
    assert not rules(f".x {{ color: {colour}; }}").passed


def test_the_background_shorthand_and_important_are_read():
    shorthand = ".x { background: #1b1f24 url(data:image/png;base64,AA) no-repeat; }"
    assert not rules(shorthand).passed  # the inherited dark text on it
    assert rules(
        ".x { color: #f9fafb !important; color: #333; background: #111; }"
    ).passed
    assert not rules(".x { color: #f9fafb; color: #333; background: #111; }").passed
    # An image alone leaves the colour below: nothing new to measure.
    assert rules(".x { background: url(data:image/png;base64,AA); }").passed


def test_gradient_stops_are_read_as_backgrounds():
    css = (
        ".hero { color: #ffffff; background: linear-gradient(to right, %s, #1e3a8a); }"
    )
    assert rules(css % "#1d4ed8").passed
    result = rules(css % "#93c5fd")
    assert not result.passed
    assert "gradient stop #93c5fd" in result.details[0]


def test_inherit_current_colour_and_transparent():
    nested = ".card { background: #111; color: #eee; .a { color: %s; } }"
    assert rules(nested % "inherit").passed
    assert rules(nested % "currentColor").passed
    assert rules(nested % "unset").passed
    # Transparent text is hidden, not faint; a transparent background shows
    # the one below.
    assert rules(".sr { color: transparent; }").passed
    assert not rules(".x { background: transparent; color: #999999; }").passed
    # A background in the text's own colour hides it.
    assert not rules(".x { color: #1b1f24; background: currentColor; }").passed


def test_large_text_may_use_3_to_1():
    # #808080 is 3.6:1 on the page background: enough only for large text.
    assert not rules(".x { color: #808080; }").passed
    assert rules(".x { color: #808080; font-size: 24px; }").passed
    assert rules(".x { color: #808080; font-size: 2rem; }").passed
    assert rules(".x { color: #808080; font: bold 14pt Georgia, serif; }").passed
    assert rules(".x { font-size: 1.5rem; .y { color: #808080; } }").passed
    assert not rules(".x { color: #808080; font-size: 14pt; }").passed
    result = rules(".x { color: #aaaaaa; font-size: 32px; }")
    assert "needs 3:1 (large text)" in result.details[0]


def test_the_status_colours_checked_are_those_of_the_app_stylesheet():
    css = (settings.BASE_DIR / "static/css/app.css").read_text()
    root = next(
        rule
        for rule in tinycss2.parse_stylesheet(css, skip_comments=True)
        if rule.type == "qualified-rule"
        and tinycss2.serialize(rule.prelude).strip() == ":root"
    )
    app = {
        d.name: tinycss2.serialize(d.value).strip()
        for d in tinycss2.parse_blocks_contents(root.content)
        if d.type == "declaration"
    }
    for name, (text, background) in STATUS_COLOURS.items():
        assert (app[f"--{name}"], app[f"--{name}-bg"]) == (text, background)


def test_status_colour_properties_are_read_as_the_pairs_the_app_paints():
    result = rules(":root { --ok: #dcfce7; }")
    assert not result.passed
    assert result.details == [
        "line 1: :root: text --ok: #dcfce7 on the app's --ok-bg #dcfce7: "
        "1.00:1, needs 4.5:1"
    ]
    assert rules(":root { --ok-bg: #14532d; --ok: #bbf7d0; }").passed


@pytest.mark.parametrize(
    ("css", "reason"),
    [
        (".x { color: grren; }", "not a colour"),
        (".x { color: #12345; }", "a hex colour has 3, 4, 6 or 8 digits"),
        (".x { color: rgb(1, 2); }", "rgb() with values the check cannot read"),
        (".x { background: color-mix(in srgb, red, blue); }", "color-mix()"),
        (".x { color: var(--nope); }", "--nope is not defined in the stylesheet"),
        (".x { color: Canvas; }", "a system colour"),
        (".x { color: color(display-p3 1 0 0); }", "display-p3 colour space"),
        (".x { color: red blue; }", "not a single colour"),
        (":root { --a: var(--b); --b: var(--a); } .x { color: var(--a); }", "itself"),
        (".x { color: var(1px); }", "var() without a custom property name"),
        (".x { color: var((--a)); }", "var() without a custom property name"),
        (".x { background: var(f(--a)); }", "var() without a custom property name"),
    ],
)
def test_a_colour_that_cannot_be_read_fails_the_theme_with_its_rule(css, reason):
    result = report(css)
    check = result["colours_readable"]
    assert not check.passed
    assert not all_passed(result.values())
    assert check.details[0].startswith("line 1: .x { ")
    assert reason in check.details[0]
    assert "cannot be measured" in check.measured


def test_a_property_with_too_many_possible_values_fails_without_hanging():
    css = "".join(f".v{i} {{ --c: #{i:06x}; }}\n" for i in range(40))
    css += ".x { color: var(--c); }\n"
    assert f"more than {MAX_VARIANTS} possible values" in readable(css).details[0]


def test_a_stylesheet_asking_for_too_many_combinations_fails_without_hanging():
    css = "".join(f".v{i} {{ --c: rgb({i} {i} {i} / 40%); }}\n" for i in range(15))
    css += ".a { background: var(--c); color: var(--c);\n"
    css += "  .b { background: var(--c); .c { background: var(--c); } } }\n"
    css += "".join(
        f".x{i} .y{i} {{ background: var(--c); color: var(--c); }}\n"
        f".x{i} {{ background: var(--c); }}\n"
        for i in range(200)
    )
    check = readable(css)
    assert not check.passed
    assert any("simplify" in line for line in check.details)


def test_rules_that_inherit_from_each_other_do_not_loop():
    css = ".x { color: inherit; }\n.x:hover { color: currentColor; }\n"
    css += ".x::before { background: currentColor; }"
    assert readable(css).passed


def test_a_compliant_theme_with_many_rules_passes():
    css = """\
:root { --brand: #1e3a8a; --brand-soft: rgb(30 58 138 / 8%); --ok: #14532d; }
body { color: #111827; }
h1, h2 { color: var(--brand); font-size: 2rem; }
.lead { color: #374151; }
.muted-note { color: hsl(220 9% 36%); }
.card { background: #ffffff; color: #1f2937;
  .title { color: var(--brand, #1e3a8a); font-weight: 700; }
  .meta { color: rgb(75 85 99); }
  & .pill { background: var(--brand-soft); color: #1e3a8a; }
}
.banner { background: linear-gradient(90deg, #1e3a8a, #312e81); color: #f9fafb; }
.banner a { color: #ffffff !important; }
.warning { background: #fef3c7; color: #78350f; }
.error { background: #7f1d1d; color: #fee2e2; }
.error .detail { color: rgba(254, 226, 226, 0.9); }
.ghost { background: transparent; color: #1f2937; }
.invisible { color: transparent; }
.inverse { background: black; color: white; }
.inverse .soft { color: #d1d5db; }
.hero { color: #6b7280; font-size: 28px; }
.code { background: #f3f4f6; color: #b91c1c; }
.button.primary:hover { background: #1e40af; color: #fff; }
.tag { background-color: #e0e7ff; color: #3730a3; }
.sidebar { background: #0f172a; color: #e2e8f0;
  .link { color: #93c5fd; }
  .heading { color: inherit; }
}
@media (prefers-color-scheme: dark) {
  .auto { background: #111827; color: #e5e7eb; }
}
@supports (display: grid) { .grid { color: #111827; } }
a:focus-visible { outline: none; box-shadow: 0 0 0 3px var(--focus); }
@media (prefers-reduced-motion: no-preference) {
  .button { transition: background-color 150ms ease; }
}
"""
    result = report(css)
    assert [code for code, r in result.items() if not r.passed] == []
    assert "lowest" in result["contrast_rules"].measured


def test_the_demo_themes_meant_to_pass_measure_their_rules_and_pass():
    nightfall = next(t for t in THEMES if t["name"] == "Nightfall")
    check = rules(nightfall["css"], nightfall["tokens"])
    assert check.passed
    assert "colour pair(s)" in check.measured  # its rules were measured
    for theme in THEMES:
        if theme["state"] != "changes_needed":
            assert all_passed(run_checks(css=theme["css"], tokens=theme["tokens"]))


def test_the_good_factory_stylesheet_passes():
    assert rules(GOOD_CSS).passed and readable(GOOD_CSS).passed


@pytest.mark.django_db
def test_a_submitted_theme_with_a_faint_rule_goes_back_with_the_pair_named():
    theme = submit_theme(
        actor=UserFactory(),
        content=ThemeContent(
            name="Fog",
            description="",
            price_cents=500,
            css=GOOD_CSS + ".note { color: #9a9a9a; background: #a9a9a9; }\n",
            tokens=dict(GOOD_TOKENS),
        ),
    )
    assert theme.status == Theme.Status.CHANGES_NEEDED
    failed = {c["code"]: c for c in theme.check_report if not c["passed"]}
    assert list(failed) == ["contrast_rules"]
    assert failed["contrast_rules"]["details"] == [
        "line 6: .note: text #9a9a9a on #a9a9a9: 1.19:1, needs 4.5:1"
    ]


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("#1d4ed8", "#1d4ed8"),
        ("#fff", "#ffffff"),
        ("rgb(29 78 216)", "#1d4ed8"),
        ("hsl(0deg 100% 50%)", "#ff0000"),
        ("hwb(120 0% 0%)", "#00ff00"),
        ("oklch(0.628 0.2577 29.23)", "#ff0000"),
        ("lab(54.29 80.82 69.91)", "#ff0000"),
        ("rebeccapurple", "#663399"),
        ("color(srgb 1 0 0)", "#ff0000"),
    ],
)
def test_colour_forms_become_the_srgb_colour_a_browser_paints(written, expected):
    node = tinycss2.parse_one_component_value(written)
    assert read_colour(node).hex == expected


def test_read_colour_keeps_alpha_and_refuses_non_colours():
    assert read_colour(tinycss2.parse_one_component_value("#0000")) == Rgba(
        0, 0, 0, 0.0
    )
    assert read_colour(tinycss2.parse_one_component_value("currentColor")) is None
    with pytest.raises(UnreadableColour):
        read_colour(tinycss2.parse_one_component_value("light-dark(#000, #fff)"))
