"""Sign-in is throttled per address and per account, before any password is hashed."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from accounts.throttle import client_ip, sign_in_username
from tests.factories.accounts import StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/login/"


class CountingHasher(MD5PasswordHasher):
    """The test suite's fast hasher, counting the passwords it checks."""

    checked = 0

    def verify(self, password: str, encoded: str) -> bool:
        type(self).checked += 1
        return super().verify(password, encoded)


@pytest.fixture(autouse=True)
def _counting_hasher(settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    settings.AXES_FAILURE_LIMIT = 5
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    CountingHasher.checked = 0


def _sign_in(email: str, password: str, *, address: str, **meta):
    return Client().post(
        LOGIN, {"username": email, "password": password}, REMOTE_ADDR=address, **meta
    )


def _signed_in(response) -> bool:
    return response.status_code == 302


def test_wrong_passwords_from_one_address_lock_it_before_hashing():
    user = UserFactory(email="ana@example.com")
    for _ in range(4):
        assert _sign_in(user.email, "wrong", address="203.0.113.7").status_code == 200
    # The fifth failure reaches the limit: it is answered with the pause.
    assert _sign_in(user.email, "wrong", address="203.0.113.7").status_code == 429
    hashed = CountingHasher.checked

    response = _sign_in(user.email, "pw", address="203.0.113.7")  # even the right one
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.content.decode()
    assert CountingHasher.checked == hashed  # refused before hashing


def test_an_account_under_attack_is_paused_from_every_address():
    user = UserFactory(email="ana@example.com")
    for n in range(5):  # changing the case of the e-mail does not help
        email = user.email.upper() if n % 2 else user.email
        _sign_in(email, "wrong", address=f"198.51.100.{n + 1}")
    assert _sign_in(user.email, "pw", address="192.0.2.50").status_code == 429


def test_signing_in_to_ones_own_account_does_not_clear_the_count():
    victim = UserFactory(email="victim@example.com")
    attacker = UserFactory(email="attacker@example.com")
    for _ in range(2):
        for _ in range(2):
            _sign_in(victim.email, "wrong", address="203.0.113.7")
        assert _signed_in(_sign_in(attacker.email, "pw", address="203.0.113.7"))
    # Five failures on the victim from anywhere: paused, the sign-ins between
    # them notwithstanding.
    _sign_in(victim.email, "wrong", address="198.51.100.1")
    assert _sign_in(victim.email, "pw", address="192.0.2.50").status_code == 429


def test_one_address_cannot_lock_every_account():
    users = [UserFactory(email=f"user{n}@example.com") for n in range(4)]
    for user in users:  # 8 failures in all, 2 per account
        for _ in range(2):
            _sign_in(user.email, "wrong", address="203.0.113.7")
    assert _sign_in(users[0].email, "pw", address="203.0.113.7").status_code == 429
    for user in users:
        assert _signed_in(_sign_in(user.email, "pw", address="192.0.2.50"))


@pytest.mark.time_machine(datetime(2026, 6, 10, 12, tzinfo=UTC))
def test_the_pause_ends_after_the_cool_off_and_is_not_extended_by_retries(settings):
    user = UserFactory(email="ana@example.com")
    start = timezone.now()
    for _ in range(5):
        _sign_in(user.email, "wrong", address="203.0.113.7")
    with time_machine.travel(start + timedelta(minutes=10)):
        assert _sign_in(user.email, "wrong", address="203.0.113.7").status_code == 429
    with time_machine.travel(start + settings.AXES_COOLOFF_TIME + timedelta(seconds=5)):
        assert _signed_in(_sign_in(user.email, "pw", address="203.0.113.7"))


def test_a_forwarded_address_is_ignored_unless_the_proxy_is_trusted(settings):
    settings.TRUSTED_PROXIES = []
    user = UserFactory(email="ana@example.com")
    for n in range(5):  # a new made-up address in the header every time
        _sign_in(
            user.email,
            "wrong",
            address="203.0.113.7",
            HTTP_X_FORWARDED_FOR=f"10.9.{n}.1",
        )
    other = UserFactory(email="bob@example.com")
    assert _sign_in(other.email, "pw", address="203.0.113.7").status_code == 429


def test_behind_a_trusted_proxy_each_client_is_throttled_on_its_own(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    user = UserFactory(email="ana@example.com")
    other = UserFactory(email="bob@example.com")
    for _ in range(5):
        _sign_in(
            other.email, "wrong", address="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.7"
        )
    # Same proxy, another client: not paused.
    response = _sign_in(
        user.email, "pw", address="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.9"
    )
    assert _signed_in(response)


@pytest.mark.parametrize(
    "typed",
    [
        "ines@example.com",
        " INES@example.com ",
        "ınes@example.com",
        "ｉｎｅｓ@example.com",
    ],
)
def test_every_spelling_the_lookup_accepts_counts_as_one_account(typed):
    request = RequestFactory().post("/login/", {"username": typed})
    assert sign_in_username(request) == "ines@example.com"


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.7", "", "203.0.113.7"),
        ("203.0.113.7", "1.1.1.1", "203.0.113.7"),  # not a proxy: header ignored
        ("10.0.0.2", "198.51.100.9", "198.51.100.9"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.9, 10.0.0.3", "198.51.100.9"),
        ("10.0.0.2", "10.0.0.3", "10.0.0.2"),  # only proxies: the peer
        ("10.0.0.2", "not-an-address", "10.0.0.2"),
    ],
)
def test_client_address_follows_only_trusted_proxies(
    settings, peer, forwarded, expected
):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    request = RequestFactory().get(
        "/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded
    )
    assert client_ip(request) == expected


def test_staff_see_the_counted_failures_without_axes_clean_up_action(client):
    client.force_login(StaffUserFactory(perms=["axes.view_accessattempt"]))
    _sign_in("ana@example.com", "wrong", address="203.0.113.7")
    response = client.get(reverse("admin:axes_accessattempt_changelist"))
    assert response.status_code == 200
    assert "cleanup_expired_attempts" not in response.content.decode()
