"""What the benchmark scripts share: a free local port, a fresh database, the stand-in, a child
process on that database, and a file import timed step by step."""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_database(kind: str, workdir: Path, name: str) -> str:
    """A SQLite file in `workdir`, or PostgreSQL database `name` dropped and created anew."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite3'}"
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def start_standin(port: int, latency: float) -> subprocess.Popen:
    """The stand-in for Kaleyra (`benchmarks/standin.py`) in its own process, once it answers."""
    standin = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.standin",
            "--port",
            str(port),
            "--latency",
            str(latency),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            requests.get(f"http://127.0.0.1:{port}/stats", timeout=1)
            return standin
        except requests.ConnectionError:
            time.sleep(0.05)
    standin.kill()
    raise SystemExit("the stand-in did not start")


def stop(process: subprocess.Popen):
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def run_child(script: str, env: dict, *args: str) -> dict:
    """Run `script --child ARGS` (a fresh Django process on the database `env` names) and read
    the JSON line it prints last."""
    output = subprocess.run(
        [sys.executable, script, "--child", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if output.returncode:
        raise SystemExit(f"The child process failed:\n{output.stderr[-3000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def timed_file_import(kind, job) -> tuple[float, float]:
    """A stored file import's dry run and, confirmed, its import, through the service functions
    the worker's tasks call (`services.file_imports`); the seconds each took."""
    started = time.perf_counter()
    kind.check(import_id=job.pk)
    dry_run = time.perf_counter() - started
    job.refresh_from_db()
    assert job.state == job.State.CHECKED, job.detail
    kind.confirm(job)
    started = time.perf_counter()
    kind.run(import_id=job.pk)
    imported = time.perf_counter() - started
    job.refresh_from_db()
    assert job.state == job.State.IMPORTED, job.detail
    return dry_run, imported
