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
