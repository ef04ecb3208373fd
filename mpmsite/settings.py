"""Project settings, read from the environment (and `.env` in development) via django-environ."""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)

# A development key exists only in debug mode: production must set its own.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY (or DJANGO_DEBUG=true for development).")
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "campaigns",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mpmsite.urls"

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
                "campaigns.context_processors.sandbox_mode",
            ],
        },
    },
]

WSGI_APPLICATION = "mpmsite.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the worker and the command write without "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Marketers sign in at /accounts/login/ (staff may use the admin's own login too).
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/campaigns/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Background sends: the database backend by default (run `manage.py db_worker`, one or many);
# on Redis, `pip install -e '.[rq]'`, TASKS_BACKEND=django_tasks_rq.RQBackend and REDIS_URL, then
# `manage.py rqworker --job-class django_tasks_rq.Job`.
TASKS_BACKEND = env.str("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend")
TASKS = {"default": {"BACKEND": TASKS_BACKEND}}
if TASKS_BACKEND == "django_tasks_rq.RQBackend":
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    TASKS["default"]["QUEUES"] = ["default"]
    RQ_QUEUES = {"default": {"URL": env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Kaleyra WhatsApp API v2 ------------------------------------------------------------------
# With no SID and API key the app runs in sandbox mode: it sends to its own offline stand-in
# for Kaleyra (campaigns.sandbox) and nothing leaves the machine.
KALEYRA_REGION = env.str("KALEYRA_REGION", default="in")
KALEYRA_SID = env.str("KALEYRA_SID", default="")
KALEYRA_API_KEY = env.str("KALEYRA_API_KEY", default="")
KALEYRA_SENDER = env.str("KALEYRA_SENDER", default="")
KALEYRA_BASE_URL = env.str("KALEYRA_BASE_URL", default="")
KALEYRA_SANDBOX = not (KALEYRA_SID and KALEYRA_API_KEY)
KALEYRA_SANDBOX_BASE_URL = env.str(
    "KALEYRA_SANDBOX_BASE_URL", default="http://127.0.0.1:8000/sandbox"
)
KALEYRA_CONNECT_TIMEOUT = env.float("KALEYRA_CONNECT_TIMEOUT", default=5.0)
KALEYRA_READ_TIMEOUT = env.float("KALEYRA_READ_TIMEOUT", default=30.0)
# The send engine. Meta's default throughput tier is 80 messages/second per number (up to 1,000);
# 0 turns the limit off (only for local stand-ins). The limit is shared by all processes here.
KALEYRA_RATE_PER_SECOND = env.float("KALEYRA_RATE_PER_SECOND", default=80)
MPM_SEND_CONCURRENCY = env.int("MPM_SEND_CONCURRENCY", default=256)
# "async" sends many requests at once; "requests" one at a time (small sends, mocked tests).
MPM_TRANSPORT = env.str("MPM_TRANSPORT", default="async")
# Kaleyra: retry WA500 up to 3 times, at 5, 10 and 15 minutes.
KALEYRA_WA500_RETRY_DELAYS = env.list(
    "KALEYRA_WA500_RETRY_DELAYS", cast=float, default=[300, 600, 900]
)
MPM_CONNECT_RETRY_BASE_DELAY = env.float("MPM_CONNECT_RETRY_BASE_DELAY", default=2.0)
MPM_CONNECT_MAX_RETRIES = env.int("MPM_CONNECT_MAX_RETRIES", default=5)
# Seconds beyond the timeouts after which another machine's unanswered claim counts as dead.
MPM_CLAIM_LEASE = env.float("MPM_CLAIM_LEASE", default=120)
MPM_JOURNAL_DIR = env.str("MPM_JOURNAL_DIR", default=str(BASE_DIR / "var" / "journal"))
# Recipient CSVs uploaded in the composer wait here between the check and the confirmation.
MPM_UPLOAD_DIR = env.str("MPM_UPLOAD_DIR", default=str(BASE_DIR / "var" / "uploads"))
MPM_RATE_LIMIT_DIR = env.str("MPM_RATE_LIMIT_DIR", default="")
# Meta stopped delivering marketing templates to US (+1) numbers on 2025-04-01.
MPM_SKIP_US_RECIPIENTS = env.bool("MPM_SKIP_US_RECIPIENTS", default=True)

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# Where this app is reachable; demo product images are served from it.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

# --- Kaleyra callbacks (campaigns.webhooks, campaigns.callbacks) --------------------------------
# Register https://<this app>/callbacks/kaleyra/ as the sender number's callback in Kaleyra and
# choose one way to authenticate it (each value may be a comma-separated list, for rotation):
#  - Basic auth: the username and password you type into the callback profile;
KALEYRA_CALLBACK_USERNAME = env.list("KALEYRA_CALLBACK_USERNAME", default=[])
KALEYRA_CALLBACK_PASSWORD = env.list("KALEYRA_CALLBACK_PASSWORD", default=[])
#  - a static secret in an extra header of the profile (header name, secret);
KALEYRA_CALLBACK_HEADER = env.str("KALEYRA_CALLBACK_HEADER", default="")
KALEYRA_CALLBACK_TOKEN = env.list("KALEYRA_CALLBACK_TOKEN", default=[])
#  - "Advanced" auth: Kaleyra gets a bearer token from /callbacks/kaleyra/token/ with these.
KALEYRA_CALLBACK_CLIENT_ID = env.list("KALEYRA_CALLBACK_CLIENT_ID", default=[])
KALEYRA_CALLBACK_CLIENT_SECRET = env.list("KALEYRA_CALLBACK_CLIENT_SECRET", default=[])
KALEYRA_CALLBACK_TOKEN_TTL = env.int("KALEYRA_CALLBACK_TOKEN_TTL", default=3600)
# With none of them set, callbacks are refused (system check campaigns.W001) — except in sandbox
# mode, where the sandbox authenticates with a header secret derived from DJANGO_SECRET_KEY.

# Replies that opt a number out of (or back into) marketing, besides STOP / UNSUBSCRIBE / START;
# compared with the whole reply, ignoring case and punctuation: e.g. "ALTO,ROKO" and "INICIO".
MPM_STOP_WORDS = env.list("MPM_STOP_WORDS", default=[])
MPM_START_WORDS = env.list("MPM_START_WORDS", default=[])
# At most one marketing message per recipient within this many hours, across campaigns (0: off).
MPM_FREQUENCY_CAP_HOURS = env.float("MPM_FREQUENCY_CAP_HOURS", default=24)
# Meta's 131049 (per-user marketing limit): queue the message once more, 24 hours later.
MPM_RETRY_131049 = env.bool("MPM_RETRY_131049", default=False)
# Orders count for the customer's latest campaign message within this many days.
MPM_ORDER_ATTRIBUTION_DAYS = env.float("MPM_ORDER_ATTRIBUTION_DAYS", default=7)
# After Meta's 130429 / 131056 the sender's rate is cut (halved, at most every 10 s) for this long.
MPM_PACING_SLOWDOWN_SECONDS = env.float("MPM_PACING_SLOWDOWN_SECONDS", default=300)
# Status events whose message is not known yet are matched again for this long.
MPM_CALLBACK_MATCH_HOURS = env.float("MPM_CALLBACK_MATCH_HOURS", default=24)
# The sandbox posts realistic callbacks (sent, delivered, read, failures, orders, STOP) back to
# the app after accepting a message; the URL defaults to this app's own /callbacks/kaleyra/.
MPM_SANDBOX_CALLBACKS = env.bool("MPM_SANDBOX_CALLBACKS", default=True)
MPM_SANDBOX_CALLBACK_URL = env.str("MPM_SANDBOX_CALLBACK_URL", default="")
MPM_SANDBOX_CALLBACK_DELAY = env.float("MPM_SANDBOX_CALLBACK_DELAY", default=0.5)
