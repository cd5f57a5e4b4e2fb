"""Browser tests of the page frame: focus rings, the narrow header, pack cards.

Measured in Chromium from computed styles and layout boxes, never from
screenshots. Contrast uses the same WCAG maths as the theme checks, so the
3:1 asked of a theme's focus colour is what the default must reach here.
"""

import pytest
from playwright.sync_api import expect

from store.checks import NON_TEXT_CONTRAST
from store.colours import contrast_ratio
from tests.factories.billing import company_account, personal_account

pytestmark = pytest.mark.django_db(transaction=True)

NARROW = {"width": 375, "height": 800}

# The outline's colour and the first opaque background behind the element
# (its parent's, or further up), both as #rrggbb. The outline is drawn
# outside the element or inside its transparent padding: either way it sits
# on that background.
FOCUS_RING = """el => {
  const hex = c => '#' + c.match(/[\\d.]+/g).slice(0, 3)
    .map(v => Math.round(Number(v)).toString(16).padStart(2, '0')).join('');
  const opaque = c => !/^rgba\\(.*,\\s*0\\)$/.test(c) && c !== 'transparent';
  let node = el.parentElement;
  let background = null;
  while (node) {
    const colour = getComputedStyle(node).backgroundColor;
    if (opaque(colour)) { background = colour; break; }
    node = node.parentElement;
  }
  const style = getComputedStyle(el);
  return {
    style: style.outlineStyle,
    width: parseFloat(style.outlineWidth),
    colour: hex(style.outlineColor),
    background: hex(background || 'rgb(255, 255, 255)'),
  };
}"""

# The outline's box against the client box of the nearest ancestor that
# clips overflow (null when none does): an outline past that box is cut.
OUTLINE_AND_CLIP = """el => {
  const style = getComputedStyle(el);
  const grow = parseFloat(style.outlineWidth) + parseFloat(style.outlineOffset);
  const r = el.getBoundingClientRect();
  const outline = {
    left: r.left - grow, top: r.top - grow,
    right: r.right + grow, bottom: r.bottom + grow,
  };
  let node = el.parentElement;
  while (node && node !== document.body) {
    const s = getComputedStyle(node);
    if (s.overflowX !== 'visible' || s.overflowY !== 'visible') {
      const b = node.getBoundingClientRect();
      const left = b.left + node.clientLeft;
      const top = b.top + node.clientTop;
      return {
        outline,
        clip: {
          left, top,
          right: left + node.clientWidth, bottom: top + node.clientHeight,
        },
        clipper: node.className || node.tagName,
      };
    }
    node = node.parentElement;
  }
  return {outline, clip: null, clipper: null};
}"""


def _tab_to(page, locator, presses=60):
    """Press Tab until ``locator`` has focus, as a keyboard user would."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if locator.evaluate("el => el === document.activeElement"):
            return
    pytest.fail(f"Tab never reached {locator}")


def _assert_visible_focus_ring(locator):
    ring = locator.evaluate(FOCUS_RING)
    assert ring["style"] != "none" and ring["width"] >= 2, ring
    ratio = contrast_ratio(ring["colour"], ring["background"])
    assert ratio >= NON_TEXT_CONTRAST, (
        f"focus ring {ring['colour']} on {ring['background']} is {ratio:.2f}:1"
    )


def test_keyboard_focus_ring_reaches_3_to_1_on_the_top_bar_tabs_and_buttons(sign_in):
    account = personal_account(email="ring@example.com")
    page = sign_in("ring@example.com")
    page.goto(f"/accounts/{account.pk}/packs/")

    targets = [
        page.get_by_role("link", name="Dashboard", exact=True),  # top bar
        page.get_by_role("link", name="Overview", exact=True),  # page background
        page.get_by_role("link", name="Buy Storage +50 GB", exact=True),  # card
    ]
    for target in targets:
        _tab_to(page, target)
        _assert_visible_focus_ring(target)


def test_focus_ring_on_every_tab_is_not_clipped_by_the_tab_row(sign_in, page):
    page.set_viewport_size(NARROW)
    account = company_account()
    user = account.company.memberships.get().user
    sign_in(user.email)
    page.goto(f"/accounts/{account.pk}/")

    tabs = page.locator(".tabs a")
    assert tabs.count() == 8  # a company account also has Job slots
    for index in range(tabs.count()):
        tab = tabs.nth(index)
        _tab_to(page, tab)
        boxes = tab.evaluate(OUTLINE_AND_CLIP)
        outline, clip = boxes["outline"], boxes["clip"]
        if clip is not None:
            # clientWidth/Height are whole pixels: allow that rounding.
            inside = (
                outline["left"] >= clip["left"] - 1
                and outline["top"] >= clip["top"] - 1
                and outline["right"] <= clip["right"] + 1
                and outline["bottom"] <= clip["bottom"] + 1
            )
            assert inside, f"{tab.inner_text()}: {boxes['clipper']} clips {boxes}"
        _assert_visible_focus_ring(tab)


def test_narrow_screen_shows_the_heading_high_and_the_tabs_in_one_row(sign_in, page):
    # Worst case: a second account adds the switcher to the top bar.
    account = company_account()
    user = account.company.memberships.get().user
    page.set_viewport_size(NARROW)
    sign_in(user.email)
    page.goto(f"/accounts/{account.pk}/usage/")
    expect(page.get_by_label("Account", exact=True)).to_be_visible()

    heading = page.locator("main h1").first
    assert heading.bounding_box()["y"] <= 170

    rows = {round(box["y"]) for box in _boxes(page.locator(".tabs a"))}
    assert len(rows) == 1, f"the tabs wrap onto {len(rows)} rows"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= NARROW["width"], f"the page scrolls sideways: {width}px wide"


def test_session_menu_opens_with_the_keyboard_on_a_narrow_screen(sign_in, page):
    personal_account(email="menu@example.com")
    page.set_viewport_size(NARROW)
    sign_in("menu@example.com")

    sign_out = page.get_by_role("button", name="Sign out")
    expect(sign_out).to_be_hidden()
    menu = page.locator(".topbar summary")
    _tab_to(page, menu)
    _assert_visible_focus_ring(menu)
    page.keyboard.press("Enter")
    expect(sign_out).to_be_visible()
    _tab_to(page, sign_out, presses=5)

    page.set_viewport_size({"width": 1280, "height": 800})
    page.reload()
    expect(menu).to_be_hidden()
    expect(sign_out).to_be_visible()


def test_subscription_badge_stays_inside_its_pack_card(sign_in):
    account = personal_account(email="badge@example.com")
    page = sign_in("badge@example.com")
    page.goto(f"/accounts/{account.pk}/packs/")

    cards = page.locator(".pack", has=page.locator(".tag-pill.sub"))
    assert cards.count() >= 1
    for index in range(cards.count()):
        card = cards.nth(index)
        outer = card.bounding_box()
        badge = card.locator(".tag-pill.sub").bounding_box()
        assert badge["x"] >= outer["x"], card.locator("h3").inner_text()
        assert badge["x"] + badge["width"] <= outer["x"] + outer["width"], card.locator(
            "h3"
        ).inner_text()
        assert badge["y"] >= outer["y"]
        assert badge["y"] + badge["height"] <= outer["y"] + outer["height"]


def _boxes(locator):
    return [locator.nth(i).bounding_box() for i in range(locator.count())]
