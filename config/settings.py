"""One env-driven settings module (no per-environment split).

Every value a deployment changes comes from the environment; the defaults
run the app locally with zero services (SQLite file next to manage.py).
"""

import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_duration(name: str, default: str) -> str:
    """A PostgreSQL duration such as ``3s`` or ``500ms`` (``0`` turns it off)."""
    value = os.environ.get(name, default).strip()
    if not re.fullmatch(r"\d+(ms|s|min|h)?", value):
        raise ImproperlyConfigured(f"{name} must look like 500ms, 3s or 0: {value!r}")
    return value


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_tasks_db",
    "axes",
    "django_countries",
    "ninja",  # serves the API docs page's assets locally (no CDN)
    "accounts",
    # Before billing: store's seed_demo extends billing's, and Django runs the
    # command of the first app that defines it.
    "store",
    "billing",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outside the size check, so that its early 413 page carries them too.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Before anything reads the body (CSRF does).
    "config.middleware.RequestSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as its documentation asks: it turns a refused sign-in into the
    # lockout page.
    "axes.middleware.AxesMiddleware",
]
# The platform API (/api/, /healthz) is served by its own handler with only
# this list (config/handlers.py): no sessions, CSRF, messages or htmx.
API_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "dashboard.context_processors.billing",
                "store.context_processors.active_theme",
            ],
        },
    },
]

# PostgreSQL when DATABASE_URL is set; otherwise an embedded SQLite file.
# IMMEDIATE takes SQLite's write lock at BEGIN, so the services' "lock the
# account row, then check the limit" stays correct where SELECT ... FOR
# UPDATE is a no-op.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
DB_SESSION_LIMITS = env_bool("DB_SESSION_LIMITS", True)
DB_TIMEOUTS = {
    "lock_timeout": env_duration("DB_LOCK_TIMEOUT", "3s"),
    "statement_timeout": env_duration("DB_STATEMENT_TIMEOUT", "30s"),
    "idle_in_transaction_session_timeout": env_duration(
        "DB_IDLE_IN_TRANSACTION_SESSION_TIMEOUT", "60s"
    ),
}
# Seconds a client is told to wait (Retry-After) when the database is
# unreachable, out of connections or a lock wait gave up: all pass quickly.
RETRY_AFTER_SECONDS = env_int("RETRY_AFTER_SECONDS", 2)
if DATABASE_URL:
    # Persistent connections, checked before reuse: the API answers in a few
    # milliseconds, so a connect per request would double its cost.
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "600")),
            conn_health_checks=True,
        )
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # One stuck transaction must not freeze the site: web and API
        # connections give up on a lock wait, a long statement and an idle
        # open transaction (a lock wait that gives up is answered 503).
        # manage.py turns these off for management commands, which run long
        # on purpose (migrations, seeding, rebuilds, closes).
        session = dict(DB_TIMEOUTS) if DB_SESSION_LIMITS else {}
        if not env_bool("DB_SYNCHRONOUS_COMMIT", True):
            # The task worker's commits need not wait for the WAL flush: a
            # database crash can lose only its last few hundred milliseconds
            # of writes, never reorder them. What it writes is re-derivable
            # or harmless to redo (task bookkeeping: the task reruns or stays
            # claimed; an alert's e-mailed mark: at worst a second e-mail;
            # rollups: recomputed); the alerts themselves commit
            # synchronously (services/alerts.py), and any new worker write
            # that must survive a crash must do the same. manage.py sets
            # this for db_worker only.
            session["synchronous_commit"] = "off"
        if session:
            options = DATABASES["default"].setdefault("OPTIONS", {})
            limits = " ".join(f"-c {k}={v}" for k, v in session.items())
            # Kept beside any options DATABASE_URL already gives (search_path...).
            options["options"] = f"{options.get('options', '')} {limits}".strip()
        # The same backend, with a health check that needs no round trip.
        DATABASES["default"]["ENGINE"] = "config.postgresql"
        # Server-side parameters let psycopg prepare a statement the fifth
        # time a connection runs it, so the hot reads skip planning.
        if env_bool("DB_PREPARED_STATEMENTS", True):
            DATABASES["default"].setdefault("OPTIONS", {}).update(
                server_side_binding=True, prepare_threshold=5
            )
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # A file, not shared-cache memory: there a locked table fails at
            # once instead of waiting, and the race tests need real queueing.
            "TEST": {
                "NAME": os.environ.get(
                    "SQLITE_TEST_PATH", str(BASE_DIR / "db.sqlite3-test")
                )
            },
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                    " PRAGMA foreign_keys=ON;"
                ),
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
# django-axes first: a locked-out address or account is refused before the
# password is hashed (hashing is what made a burst of sign-ins slow the API).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "dashboard:login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "dashboard:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

# E-mail: console in development; set EMAIL_URL-style pieces for SMTP.
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "billing@example.com")
# For django.core.mail.backends.filebased.EmailBackend: one file per message.
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH") or None

# Background work: alerts e-mails go through django.tasks. The immediate
# backend runs them in-process after commit; point TASKS_BACKEND at a real
# queue backend in production.
# Background work (alert evaluation, e-mails) goes through a durable queue in
# the database: the enqueue commits with the write that caused it, and
# ``make worker`` (``manage.py db_worker``) runs it. With DEBUG on (``make
# run``, the tests) tasks run in process after commit unless TASKS_BACKEND
# says otherwise.
TASKS = {
    "default": {
        "BACKEND": os.environ.get(
            "TASKS_BACKEND",
            "django.tasks.backends.immediate.ImmediateBackend"
            if DEBUG
            else "django_tasks_db.DatabaseBackend",
        ),
        "QUEUES": ["default"],
    }
}

BILLING_CURRENCY = os.environ.get("BILLING_CURRENCY", "USD").upper()
BILLING_PAYMENT_GATEWAY = os.environ.get(
    "BILLING_PAYMENT_GATEWAY", "billing.services.payments.SandboxGateway"
)
# The sandbox gateway approves every payment unless told to decline.
BILLING_SANDBOX_DECLINE = env_bool("BILLING_SANDBOX_DECLINE", False)
# Hours after a month ends before ``close_billing_period`` (no --period)
# closes it, so late usage events can still arrive.
BILLING_CLOSE_GRACE_HOURS = int(os.environ.get("BILLING_CLOSE_GRACE_HOURS", "72"))

# The seller on every invoice, credit note and statement. The address is
# written with "|" between its lines (one environment variable); the country
# is ISO 3166-1 alpha-2 and picks the tax rate of buyers who gave none.
BILLING_SELLER_NAME = os.environ.get("BILLING_SELLER_NAME", "Example Media Ltd")
BILLING_SELLER_ADDRESS = os.environ.get(
    "BILLING_SELLER_ADDRESS", "1 Harbour Square|Dublin D02 X123|Ireland"
)
BILLING_SELLER_COUNTRY = os.environ.get("BILLING_SELLER_COUNTRY", "IE").upper()
BILLING_SELLER_VAT_ID = os.environ.get("BILLING_SELLER_VAT_ID", "IE1234567T")
BILLING_SELLER_BANK = os.environ.get(
    "BILLING_SELLER_BANK", "IBAN IE29 AIBK 9311 5212 3456 78 · BIC AIBKIE2D"
)
# Invoices are e-mailed as PDF attachments from the task worker. Off: no
# e-mail (the documents stay in the dashboard).
BILLING_EMAIL_INVOICES = env_bool("BILLING_EMAIL_INVOICES", True)

# Outbound webhooks (docs/webhooks.md). Seconds to wait before each retry
# after a failed attempt: the default spends about three days (71.6 h) over
# ten attempts; each wait is shortened by up to a fifth at random (jitter).
BILLING_WEBHOOK_RETRY_SCHEDULE = [
    int(s)
    for s in env_list(
        "BILLING_WEBHOOK_RETRY_SCHEDULE",
        "5,300,1800,7200,18000,36000,36000,72000,86400",
    )
]
# One attempt may take this long (connect and answer together).
BILLING_WEBHOOK_TIMEOUT_SECONDS = float(
    os.environ.get("BILLING_WEBHOOK_TIMEOUT_SECONDS", "10")
)
# A claimed attempt is retried by another worker once its lease expires
# (its worker died); keep it well above the timeout.
BILLING_WEBHOOK_LEASE_SECONDS = float(
    os.environ.get("BILLING_WEBHOOK_LEASE_SECONDS", "60")
)
# Endpoints must use https and public addresses, except these hosts: names,
# addresses or networks (CIDR) of the private network the platform runs in.
# Link-local and cloud metadata addresses are refused even when listed.
BILLING_WEBHOOK_PRIVATE_HOSTS = env_list(
    "BILLING_WEBHOOK_PRIVATE_HOSTS", "localhost,127.0.0.0/8,::1" if DEBUG else ""
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # Django's own "django" logger already prints to the console; without
    # this every record (e.g. each task run) would appear twice.
    "loggers": {
        "django": {"handlers": [], "propagate": True},
        "django.tasks": {"level": "WARNING"},
    },
}

# Sign-in throttle (django-axes). Failures count per address and per
# account, separately: an address that fails AXES_FAILURE_LIMIT times is
# refused, and so is an account that failed that often, from anywhere. One
# address therefore locks at most one account before it is locked itself.
# A failure counts for the cool-off period; failing again while locked does
# not extend a lockout (and costs no password hash), so keeping an account
# paused takes a fresh round of failures every cool-off.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
# A successful sign-in does not clear the counts: django-axes would clear
# every row matching the address too, so an attacker could interleave
# sign-ins to an account of their own and guess another's password forever.
# Failures simply age out after the cool-off.
AXES_RESET_ON_SUCCESS = False
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "accounts.throttle.client_ip"
AXES_USERNAME_CALLABLE = "accounts.throttle.sign_in_username"
# The sign-in forms (ours and the admin's) name the e-mail field "username".
AXES_USERNAME_FORM_FIELD = "username"
AXES_VERBOSE = False
# Addresses (or networks) of the reverse proxies whose X-Forwarded-For is
# believed. Empty: the connecting address is the client, whatever headers say.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", "")

# Uploads: a browser request declaring more than UPLOAD_MAX_REQUEST_BYTES is
# refused unread (config/middleware.py); form fields are capped by
# DATA_UPLOAD_MAX_MEMORY_SIZE, files stream to disk past
# FILE_UPLOAD_MAX_MEMORY_SIZE, and forms check each file's size before
# reading it.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
UPLOAD_MAX_REQUEST_BYTES = env_int("UPLOAD_MAX_REQUEST_BYTES", 4 * 1024 * 1024)

# Content-Security-Policy on every HTML response (Django's middleware). No
# inline script or style attribute anywhere; images and fonts only from this
# origin or inline data: URLs, which is what keeps a store theme from
# contacting another origin even if its checks missed something.
SECURE_CSP: dict[str, list[str]] = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "frame-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}

# Transport security: each setting comes from the environment under its
# Django name; with DEBUG off the defaults are the safe ones. The platform
# calls /api/ and /healthz inside the private network, where the proxy has
# already ended TLS, so those paths are never redirected to https.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^api/", r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
_proxy_ssl_header = env_list("SECURE_PROXY_SSL_HEADER", "")
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if _proxy_ssl_header else None
if SECURE_PROXY_SSL_HEADER is not None and len(SECURE_PROXY_SSL_HEADER) != 2:
    raise ImproperlyConfigured(
        "SECURE_PROXY_SSL_HEADER must be 'HEADER,value', e.g. "
        "'HTTP_X_FORWARDED_PROTO,https'."
    )
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = os.environ.get("SECURE_REFERRER_POLICY", "same-origin")
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = [
    # HSTS preload is a one-way door (browsers ship the list; leaving it takes
    # months), so it stays off unless a deployment sets SECURE_HSTS_PRELOAD.
    "security.W021",
]
