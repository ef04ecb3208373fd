"""Send throughput: the real engine against a local stand-in for Kaleyra, and a naive loop.

    .venv/bin/python benchmarks/send_throughput.py                      # SQLite, 60,000, 200 ms
    .venv/bin/python benchmarks/send_throughput.py --database postgres --runs 3
    .venv/bin/python benchmarks/send_throughput.py --rate 80 --recipients 1600   # pacing check
    .venv/bin/python benchmarks/send_throughput.py --sending-hours 00:00-23:59   # hours checked

Each run makes a fresh database, loads the demo campaign, writes a CSV of N recipients, starts
the stand-in (`benchmarks/standin.py`) in its own process, and times the whole
`manage.py send_campaign --recipients FILE` command in a child process (start, CSV ingest,
claim, send, final commit). It prints messages/second for the whole command and for the sending
phase, p50/p99 request latency, the sender's CPU per message and peak RSS, the stand-in's CPU,
and, with --naive, a sequential `requests.post` loop for comparison.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from common import ROOT, free_port, fresh_database, start_standin, stop  # benchmarks/ on sys.path

PYTHON = sys.executable
SENDER = "+919000000001"


def write_csv(path: Path, count: int):
    with path.open("w") as handle:
        handle.write("phone\n")
        for n in range(count):
            handle.write(f"+9198{n:07d}7\n")  # ends in 7: no stand-in test suffix


def run_child(args: list[str], env: dict) -> tuple[float, resource.struct_rusage, int, str]:
    """Run a child to completion: (wall seconds, its rusage, exit status, stderr tail)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=err, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        err.seek(0)
        tail = err.read().decode(errors="replace")[-1500:]
    return wall, usage, os.waitstatus_to_exitcode(status), tail


def query(env: dict, code: str) -> dict:
    """Ask the benchmark database a question through Django, in a child process."""
    output = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", code],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return json.loads(output.stdout.decode().strip().splitlines()[-1])


STATS = """
import json
from django.db.models import Max, Min
from campaigns.models import Message, SendAttempt
attempts = SendAttempt.objects.all()
span = attempts.aggregate(first=Min("created_at"), last=Max("created_at"))
durations = sorted(attempts.values_list("duration_ms", flat=True))
print(json.dumps({
    "accepted": Message.objects.filter(state="accepted").count(),
    "messages": Message.objects.count(),
    "attempts": len(durations),
    "span": (span["last"] - span["first"]).total_seconds() if durations else 0,
    "p50": durations[len(durations) // 2] if durations else 0,
    "p99": durations[int(len(durations) * 0.99)] if durations else 0,
}))
"""

ALL_DAY = """
import json
from campaigns.models import Campaign
print(json.dumps(Campaign.objects.filter(pk=1).update(send_from="{start}", send_until="{end}")))
"""


def one_run(args, run: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="mpm-bench-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": fresh_database(args.database, workdir, "mpm_bench"),
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": "benchmark-only-secret",
            "KALEYRA_MODE": "live",
            "KALEYRA_SID": "HXBENCH",
            "KALEYRA_API_KEY": "benchmark-key",
            "KALEYRA_SENDER": SENDER,
            "KALEYRA_BASE_URL": f"http://127.0.0.1:{port}",
            "KALEYRA_CALLBACK_HEADER": "X-Bench",  # configured, as in production (no warning)
            "KALEYRA_CALLBACK_TOKEN": "benchmark-callback-token",
            "MPM_JOURNAL_DIR": str(workdir / "journal"),
            "LOG_LEVEL": "WARNING",
            "MPM_CONSENT_REQUIRED": "false",  # made-up recipients: this measures sending
        }
        subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], env=env, cwd=ROOT, check=True)
        subprocess.run(
            [PYTHON, "manage.py", "demo"], env=env, cwd=ROOT, check=True, capture_output=True
        )
        if args.sending_hours:  # every claimed batch then has its recipients' hours checked
            start, end = args.sending_hours.split("-")
            query(env, ALL_DAY.format(start=start, end=end))
        csv_path = workdir / "recipients.csv"
        write_csv(csv_path, args.recipients)
        standin = start_standin(port, args.latency)
        try:
            command = [
                PYTHON, "manage.py", "send_campaign", "1", "--recipients", str(csv_path),
                "--rate", str(args.rate), "--concurrency", str(args.concurrency),
            ]  # fmt: skip
            wall, usage, code, tail = run_child(command, env)
            standin_stats = requests.get(
                f"http://127.0.0.1:{port}/stats", params={"arrivals": 1}, timeout=30
            ).json()
            naive = naive_loop(port, args.naive) if args.naive and run == 0 else None
        finally:
            stop(standin)
        if code not in (0, 1):
            raise SystemExit(f"send_campaign exited {code}:\n{tail}")
        stats = query(env, STATS)
    cpu = usage.ru_utime + usage.ru_stime
    result = {
        "whole_per_s": args.recipients / wall,
        "sending_per_s": stats["attempts"] / stats["span"] if stats["span"] else 0,
        "wall_s": wall,
        "cpu_ms_per_msg": cpu * 1000 / args.recipients,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "p50_ms": stats["p50"],
        "p99_ms": stats["p99"],
        "accepted": stats["accepted"],
        "standin_cpu_s": standin_stats["cpu_seconds"],
        "standin_requests": standin_stats["requests"],
        "duplicates_at_standin": sum(1 for n in standin_stats["refs"].values() if n > 1),
    }
    if naive:
        result["naive_per_s"] = naive
    if args.rate:
        result.update(pacing(sorted(standin_stats["arrivals"])))
    return result


def pacing(arrivals: list[float]) -> dict:
    """The rate the stand-in saw, and the most requests it saw in any one second."""
    busiest, start = 0, 0
    for end, moment in enumerate(arrivals):
        while moment - arrivals[start] >= 1.0:
            start += 1
        busiest = max(busiest, end - start + 1)
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0
    return {
        "achieved_rate": (len(arrivals) - 1) / span if span else 0.0,
        "busiest_second": busiest,
    }


def naive_loop(port: int, count: int) -> float:
    """What a user writes by hand: one requests.post after another."""
    url = f"http://127.0.0.1:{port}/v2/HXBENCH/whatsapp/{SENDER}/messages"
    started = time.perf_counter()
    for n in range(count):
        body = {"messaging_object": {"to": f"+9197{n:08d}"}, "extra_info": {"ref": f"naive-{n}"}}
        requests.post(url, json=body, headers={"api-key": "benchmark-key"}, timeout=30)
    return count / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipients", type=int, default=60_000)
    parser.add_argument("--latency", type=float, default=0.2, help="stand-in latency, seconds")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=1024)
    parser.add_argument("--rate", type=float, default=0, help="messages/second; 0: no limit")
    parser.add_argument(
        "--naive", type=int, default=200, help="recipients for the naive loop; 0 skips"
    )
    parser.add_argument(
        "--sending-hours",
        default="",
        help="e.g. 00:00-23:59: the campaign has sending hours (open now, so all are sent)",
    )
    args = parser.parse_args()

    print(
        f"{args.recipients} recipients, stand-in latency {args.latency * 1000:.0f} ms, "
        f"{args.database}, concurrency {args.concurrency}, rate {args.rate or 'unlimited'}, "
        f"{os.cpu_count()} cores"
    )
    results = []
    for run in range(args.runs):
        result = one_run(args, run)
        results.append(result)
        print(
            f"run {run + 1}: "
            + ", ".join(
                f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items()
            )
        )
    if args.runs > 1:
        print("median: " + ", ".join(
            f"{key} {statistics.median(r[key] for r in results):.2f}"
            for key in ("whole_per_s", "sending_per_s", "cpu_ms_per_msg", "peak_rss_mb", "p50_ms", "p99_ms", "standin_cpu_s")
        ))  # fmt: skip
    naive = results[0].get("naive_per_s")
    if naive:
        whole = statistics.median(r["whole_per_s"] for r in results)
        print(f"naive loop: {naive:.2f} msg/s; engine / naive = {whole / naive:.0f}x")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
