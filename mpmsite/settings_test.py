"""Settings for the test suite: the project settings, isolated from any local `.env` secrets."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production")

from .settings import *  # noqa: F403

# Tests never use real credentials from the environment: each test that needs Kaleyra settings
# sets them (tests/conftest.py), and HTTP goes to `responses` or to local servers.
KALEYRA_SID = ""
KALEYRA_API_KEY = ""
KALEYRA_SENDER = ""
KALEYRA_BASE_URL = ""
KALEYRA_SANDBOX = True
KALEYRA_SANDBOX_BASE_URL = "http://sandbox.test/sandbox"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
# One request at a time through `requests`, so `responses` mocks it; the engine's aiohttp path is
# tested against a local stand-in server (tests/test_engine.py).
MPM_TRANSPORT = "requests"
KALEYRA_RATE_PER_SECOND = 0
# The real retry schedule, in fractions of a second.
KALEYRA_WA500_RETRY_DELAYS = [0.01, 0.02, 0.03]
MPM_CONNECT_RETRY_BASE_DELAY = 0.005
# SQLite tests use a file, not the in-memory default: the engine records from its own thread
# (its own connection) and the kill-and-resume test shares the database with a subprocess.
# One file per pytest process, so two runs at once never clobber each other's database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    import tempfile

    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"mpm-test-{os.getpid()}.sqlite3")
    }
