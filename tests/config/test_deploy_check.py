"""Production settings pass the deploy check; security follows the environment."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k" * 20 + "x9!Qz" * 10,
    "ALLOWED_HOSTS": "billing.example.com",
    "PATH": "/usr/bin:/bin",
}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_deploy_check_is_clean_with_production_settings():
    result = _run(PRODUCTION, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def _setting(env: dict[str, str], expression: str) -> str:
    script = f"from django.conf import settings; print({expression})"
    result = _run(env, "shell", "-c", script)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("variables", "expression", "expected"),
    [
        ({}, "settings.SECURE_SSL_REDIRECT", "True"),
        ({}, "settings.SECURE_HSTS_SECONDS", "31536000"),
        ({}, "settings.SESSION_COOKIE_SECURE", "True"),
        ({"SECURE_SSL_REDIRECT": "0"}, "settings.SECURE_SSL_REDIRECT", "False"),
        ({"SECURE_HSTS_SECONDS": "60"}, "settings.SECURE_HSTS_SECONDS", "60"),
        (
            {"SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https"},
            "settings.SECURE_PROXY_SSL_HEADER",
            "('HTTP_X_FORWARDED_PROTO', 'https')",
        ),
    ],
)
def test_security_settings_come_from_the_environment(variables, expression, expected):
    assert _setting(PRODUCTION | variables, expression) == expected


@pytest.mark.django_db
def test_pages_redirect_to_https_but_the_api_and_healthz_do_not(settings):
    settings.SECURE_SSL_REDIRECT = True
    client = Client()
    page = client.get("/login/")
    assert page.status_code == 301
    assert page["Location"].startswith("https://")
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/accounts/x/quotas").status_code == 401
