"""The command line outside `make`: `make run` writes a development `.env` (from .env.example,
with its HOST and PORT), and `manage.py` in a new shell reads it."""

import shutil
import subprocess

from tests.deploy.production import ROOT, clean_env, manage


def make_env_file(tmp_path, **variables) -> str:
    """`make .env` as `make run` runs it, in a copy of the project's Makefile's folder."""
    for name in ("Makefile", ".env.example"):
        shutil.copy(ROOT / name, tmp_path / name)
    args = [f"{name}={value}" for name, value in variables.items()]
    subprocess.run(["make", "-s", ".env", *args], cwd=tmp_path, check=True, timeout=30)
    return str(tmp_path / ".env")


def test_manage_py_works_in_a_new_shell_after_make_run(tmp_path):
    env_file = make_env_file(tmp_path)
    for command in (["send_campaign", "--help"], ["changepassword", "--help"], ["check"]):
        result = manage(*command, env=clean_env({"DJANGO_ENV_FILE": env_file}))
        assert result.returncode == 0, (command, result.stderr)
    assert (
        "--recipients"
        in manage("send_campaign", "--help", env=clean_env({"DJANGO_ENV_FILE": env_file})).stdout
    )


def test_the_port_of_make_run_reaches_every_url_the_commands_use(tmp_path):
    env_file = make_env_file(tmp_path, HOST="127.0.0.1", PORT="8123")
    code = (
        "from campaigns import conf; "
        "from campaigns.kaleyra import config_from_settings; "
        "print(conf.SITE_URL, config_from_settings().base_url)"
    )
    result = manage("shell", "-c", code, env=clean_env({"DJANGO_ENV_FILE": env_file}))
    assert result.returncode == 0, result.stderr
    last_line = result.stdout.strip().splitlines()[-1]  # after "N objects imported"
    assert last_line.split() == ["http://127.0.0.1:8123", "http://127.0.0.1:8123/sandbox"]
    assert "http://127.0.0.1:8000" not in (tmp_path / ".env").read_text()
