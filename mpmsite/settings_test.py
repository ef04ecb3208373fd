"""Settings for the test suite: the project settings, isolated from any local `.env` secrets."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production")
os.environ.setdefault("DJANGO_ENV_FILE", "")  # a developer's .env never reaches the tests

from .settings import *  # noqa: F403

# Tests never use real credentials from the environment: each test that needs Kaleyra settings
# sets them (tests/conftest.py), and HTTP goes to `responses` or to local servers.
KALEYRA_SID = ""
KALEYRA_API_KEY = ""
KALEYRA_SENDER = ""
KALEYRA_BASE_URL = ""
KALEYRA_MODE = "sandbox"
KALEYRA_SANDBOX_BASE_URL = "http://sandbox.test/sandbox"
# The test client speaks plain HTTP (tests/deploy/ checks the production redirect itself).
SECURE_SSL_REDIRECT = False
# Tests render templates without running collectstatic first: WhiteNoise serves the source
# folders, as in development (tests/e2e/test_production_e2e.py checks the collected files).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
TASKS = {
    "default": {
        "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
        "QUEUES": ["default", "triggered"],
    }
}
# An always-on campaign's run, started in the request by the immediate backend, ends soon.
MPM_TRIGGERED_STAY_OPEN = 0.2
KALEYRA_RATE_PER_SECOND = 0
# The real retry schedule, in fractions of a second.
KALEYRA_WA500_RETRY_DELAYS = [0.01, 0.02, 0.03]
MPM_CONNECT_RETRY_BASE_DELAY = 0.005
# SQLite tests use a file, not the in-memory default: the engine records from its own thread
# (its own connection) and the kill-and-resume test shares the database with a subprocess.
# One folder per pytest process, so two runs at once never clobber each other's database; it
# goes at exit (Django removes the database file, not SQLite's -wal and -shm files beside it).
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    import atexit
    import shutil
    import tempfile

    _test_db_dir = tempfile.mkdtemp(prefix="mpm-test-")
    atexit.register(shutil.rmtree, _test_db_dir, ignore_errors=True)
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(_test_db_dir, "db.sqlite3")}  # noqa: F405
# The sandbox posts no callbacks unless a test turns them on (tests/test_callbacks.py).
MPM_SANDBOX_CALLBACKS = False
# Callback authentication comes from each test, never from a local `.env`.
KALEYRA_CALLBACK_USERNAME = []
KALEYRA_CALLBACK_PASSWORD = []
KALEYRA_CALLBACK_HEADER = ""
KALEYRA_CALLBACK_TOKEN = []
KALEYRA_CALLBACK_CLIENT_ID = []
KALEYRA_CALLBACK_CLIENT_SECRET = []
MPM_STOP_WORDS = []
MPM_START_WORDS = []
MPM_RETRY_131049 = False
# Journals of this test run stay in its own folder, gone at exit.
_run_dir = __import__("tempfile").mkdtemp(prefix="mpm-test-run-")
__import__("atexit").register(__import__("shutil").rmtree, _run_dir, ignore_errors=True)
MPM_JOURNAL_DIR = os.path.join(_run_dir, "journal")
MEDIA_ROOT = os.path.join(_run_dir, "media")
