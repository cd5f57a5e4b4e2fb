"""Uploads are bounded before they are read, and refused with a clear message."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from store.models import Theme
from tests.factories.accounts import UserFactory
from tests.factories.store import GOOD_CSS

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def _form(**files) -> dict:
    return {
        "name": "Harbour Lights",
        "price": "0",
        "css": GOOD_CSS,
        "bg": "#f6f7f9",
        "surface": "#ffffff",
        "text": "#1b1f24",
        "muted": "#55606e",
        "accent": "#1d4ed8",
        "focus": "#b45309",
        **files,
    }


@pytest.fixture
def creator_client() -> Client:
    client = Client()
    client.force_login(UserFactory())
    return client


def test_a_body_declared_too_large_is_refused_without_reading_it(creator_client):
    # The test client's payload raises if read past what it holds: a 200 MiB
    # Content-Length over a few bytes is only safe if nothing reads it.
    response = creator_client.post(
        "/store/submit/",
        data=b"--x--",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(200 * 1024 * 1024),
    )
    assert response.status_code == 413
    page = response.content.decode()
    assert "That upload is too large" in page
    assert "none of it was read or saved" in page
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert not Theme.objects.exists()


def test_a_real_oversized_image_is_refused_and_nothing_is_saved(creator_client):
    huge = SimpleUploadedFile("huge.png", PNG + b"\0" * (5 * 1024 * 1024))
    response = creator_client.post("/store/submit/", _form(images=[huge]))
    assert response.status_code == 413
    assert not Theme.objects.exists()


def test_an_image_over_the_per_image_limit_gets_a_form_error(creator_client):
    big = SimpleUploadedFile("big-preview.png", PNG + b"\0" * (3 * 1024 * 1024))
    response = creator_client.post("/store/submit/", _form(images=[big]))
    assert response.status_code == 200
    assert "big-preview.png: each image can be at most 2 MB" in (
        response.content.decode()
    )
    assert not Theme.objects.exists()


def test_a_stylesheet_too_big_to_check_is_refused_before_it_is_parsed(creator_client):
    huge = "a{color:red}\n" * 10_000  # 130 KB
    response = creator_client.post("/store/submit/", _form(css=huge))
    assert response.status_code == 200
    assert "A stylesheet may be at most 100 KB" in response.content.decode()
    assert not Theme.objects.exists()


def test_a_small_image_is_accepted(creator_client):
    small = SimpleUploadedFile("small.png", PNG, content_type="image/png")
    response = creator_client.post("/store/submit/", _form(images=[small]))
    assert response.status_code == 302
    assert Theme.objects.get().images.count() == 1
