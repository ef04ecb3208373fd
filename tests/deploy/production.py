"""The documented production environment (docs/deploy/mpm.env) with this test run's values in
place of its <placeholders>, and the app's commands run in a clean process with it."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = ROOT / "docs" / "deploy" / "mpm.env"
SECRET_KEY = "prod-test-" + "k3y" * 20  # 70 characters, varied enough for check --deploy


def documented_env() -> dict[str, str]:
    """docs/deploy/mpm.env as a dict, <placeholders> kept."""
    env = {}
    for line in ENV_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    return env


def production_env(tmp_path: Path, **values: str) -> dict[str, str]:
    """The documented environment filled in for a test: a SQLite file in `tmp_path`, an
    example host, and `values` (e.g. KALEYRA_BASE_URL of a stand-in) on top."""
    filled = {
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "DJANGO_ALLOWED_HOSTS": "mpm.example.com,127.0.0.1",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://mpm.example.com",
        "SITE_URL": "https://mpm.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "KALEYRA_REGION": "in",
        "KALEYRA_SID": "HXPRODTEST",
        "KALEYRA_API_KEY": "A-production-api-key-never-shown",
        "KALEYRA_SENDER": "+919000000001",
        "KALEYRA_CALLBACK_USERNAME": "kaleyra",
        "KALEYRA_CALLBACK_PASSWORD": "a-long-callback-password",
        "MPM_JOURNAL_DIR": str(tmp_path / "state" / "journal"),
    }
    env = documented_env()
    for name, value in env.items():
        if re.search(r"<.*>", value):
            env[name] = filled[name]  # a KeyError here: the docs gained a placeholder
    env |= {"DJANGO_STATIC_ROOT": str(tmp_path / "static"), **values}
    return clean_env(env)


def clean_env(values: dict[str, str]) -> dict[str, str]:
    """Only what a service manager would give: PATH, HOME and `values` (no DJANGO_* or
    KALEYRA_* from the developer's shell or `.env`, no test settings)."""
    home = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "")}
    return {**home, "DJANGO_ENV_FILE": "", **values}


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
