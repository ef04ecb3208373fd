"""Configuration fails closed: KALEYRA_MODE is explicit without DEBUG, live mode without
Kaleyra's credentials stops the server and every command naming the variable, and the
documented production environment passes `check --deploy`."""

import sqlite3
import subprocess
import sys

import environ
import pytest
from django.core import checks

from campaigns.conf import from_environment
from tests.deploy.production import ROOT, clean_env, manage, production_env

NO_CREDENTIALS = {"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "x" * 60}


def mode(environment: dict[str, str], *, debug: bool) -> str:
    env = environ.Env()
    env.ENVIRON = environment
    return from_environment(env, debug=debug)["KALEYRA_MODE"]


def test_the_mode_is_the_sandbox_only_by_default_in_debug():
    assert mode({}, debug=True) == "sandbox"
    assert mode({}, debug=False) == "live"  # a forgotten variable fails closed
    assert mode({"KALEYRA_MODE": "sandbox"}, debug=False) == "sandbox"
    assert mode({"KALEYRA_MODE": " Live "}, debug=True) == "live"
    # Credentials alone no longer choose the mode: debug with keys still needs KALEYRA_MODE=live.
    assert mode({"KALEYRA_SID": "HX1", "KALEYRA_API_KEY": "k"}, debug=True) == "sandbox"


def test_an_unknown_mode_is_a_configuration_error(settings):
    settings.KALEYRA_MODE = "demo"
    [error] = [m for m in checks.run_checks() if m.id == "campaigns.E001"]
    assert error.msg == "KALEYRA_MODE must be one of sandbox, live; got 'demo'."


def test_a_rate_redis_url_that_is_not_a_redis_url_is_a_configuration_error(settings):
    settings.MPM_RATE_REDIS_URL = "127.0.0.1:6379"
    [error] = [m for m in checks.run_checks() if m.id == "campaigns.E001"]
    assert error.msg == (
        "MPM_RATE_REDIS_URL must be a URL starting with redis://, rediss://, unix://;"
        " got '127.0.0.1:6379'."
    )


def test_live_mode_without_credentials_is_an_error_naming_each_missing_variable(settings):
    settings.KALEYRA_MODE = "live"
    settings.KALEYRA_SID = "HX1"
    [error] = [m for m in checks.run_checks() if m.id == "campaigns.E002"]
    assert error.is_serious()
    assert "KALEYRA_API_KEY and KALEYRA_SENDER are not set" in error.msg
    assert "KALEYRA_SID" not in error.msg.split("not set")[0]


def test_the_sandbox_with_debug_off_must_be_chosen_and_then_starts():
    refused = manage("check", env=clean_env(NO_CREDENTIALS))
    assert refused.returncode == 1
    assert "campaigns.E002" in refused.stderr
    assert "KALEYRA_SID, KALEYRA_API_KEY and KALEYRA_SENDER are not set" in refused.stderr
    assert "KALEYRA_MODE=sandbox" in refused.stderr  # the hint says how to try it offline

    chosen = manage("check", env=clean_env({**NO_CREDENTIALS, "KALEYRA_MODE": "sandbox"}))
    assert chosen.returncode == 0, chosen.stderr


@pytest.mark.parametrize(
    "command", [["migrate"], ["send_campaign", "1"], ["apply_callbacks"], ["receive_callbacks"]]
)
def test_every_command_refuses_to_start_in_live_mode_without_credentials(tmp_path, command):
    env = clean_env({**NO_CREDENTIALS, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"})
    result = manage(*command, env=env)
    assert result.returncode != 0
    assert "KALEYRA_SID, KALEYRA_API_KEY and KALEYRA_SENDER are not set" in result.stderr
    if (tmp_path / "db.sqlite3").exists():  # opened for the checks, but nothing migrated
        with sqlite3.connect(tmp_path / "db.sqlite3") as db:
            assert db.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall() == []


def test_the_wsgi_application_refuses_to_load_without_credentials():
    result = subprocess.run(
        [sys.executable, "-c", "import mpmsite.wsgi"],
        cwd=ROOT,
        env=clean_env(NO_CREDENTIALS),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "KALEYRA_API_KEY" in result.stderr


def test_gunicorn_refuses_to_start_without_credentials(tmp_path):
    env = clean_env({**NO_CREDENTIALS, "GUNICORN_BIND": "127.0.0.1:0"})
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "KALEYRA_SID, KALEYRA_API_KEY and KALEYRA_SENDER are not set" in result.stderr
    assert "Booting worker" not in result.stderr  # refused before any worker started


def test_gunicorn_names_a_missing_secret_key():
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env=clean_env({"DJANGO_DEBUG": "false", "GUNICORN_BIND": "127.0.0.1:0"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Set DJANGO_SECRET_KEY" in result.stderr


def test_check_deploy_is_clean_with_the_documented_production_environment(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."
    assert result.stderr == ""


def test_sandbox_callbacks_to_plain_http_under_an_https_redirect_are_a_warning(settings):
    settings.KALEYRA_MODE = "sandbox"
    settings.MPM_SANDBOX_CALLBACKS = True
    settings.SECURE_SSL_REDIRECT = True
    settings.SITE_URL = "http://127.0.0.1:8000"
    [warning] = [m for m in checks.run_checks() if m.id == "campaigns.W004"]
    assert "http://127.0.0.1:8000" in warning.msg
    settings.SITE_URL = "https://mpm.example.com"
    assert "campaigns.W004" not in [m.id for m in checks.run_checks()]
