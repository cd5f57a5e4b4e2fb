import pytest


@pytest.fixture(autouse=True)
def _fast_test_settings(settings):
    """Fast hashing, e-mail kept in memory, tasks run in-process."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.BILLING_SANDBOX_DECLINE = False
    settings.TASKS = {
        "default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}
    }


def pytest_report_header(config):
    """Say which database the suite runs on; .ci/run checks this line."""
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    return f"database: {engine}"
