"""Trigger latency: from an HTTP API call to its request leaving for Kaleyra, for an always-on
campaign with a personalised section, at a steady rate of calls.

    .venv/bin/python benchmarks/trigger_latency.py                        # SQLite, 100 calls/s, 30 s
    .venv/bin/python benchmarks/trigger_latency.py --database postgres --rate 100 --duration 60

Each run makes a fresh database, loads the demo (catalog, template, admin), makes an always-on
campaign whose first section is filled per recipient and an API token, and starts the app under
gunicorn, the worker of the "triggered" queue (`db_worker --queue-name triggered`) and the
stand-in for Kaleyra (`benchmarks/standin.py`, which notes when each number's first request
arrives). A client then posts one call per recipient at `--rate` calls a second (open loop: a
slow answer does not slow the next call), each to a new number with three of the demo's SKUs
and its own `Idempotency-Key`, noting when it started. It prints the API's answer times and, per
call, the time from the call's start to its request reaching the stand-in: p50, p99 and max,
and how many never arrived. Every process runs on this machine and shares one clock.
"""

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests
from common import ROOT, free_port, fresh_database, start_standin  # benchmarks/ on sys.path

sys.path.insert(0, str(ROOT))  # the app's packages
from benchmarks.standin import HANG_SUFFIX, STANDIN_ANSWERS

PYTHON = sys.executable
TARGET_P99_S = 1.0

SEED = """
from django.contrib.auth import get_user_model
from campaigns.models import Campaign, Product, Section
from campaigns.services.api import api_token_create
from campaigns.services.composer import campaign_clone

demo = Campaign.objects.order_by("pk").first()
campaign = campaign_clone(campaign=demo)
Campaign.objects.filter(pk=campaign.pk).update(name="Abandoned cart (always on)", triggered=True)
for section in campaign.sections.all():
    section.position += 1
    section.save()
Section.objects.create(campaign=campaign, title="Your cart", position=0, personalised=True)
user = get_user_model().objects.filter(is_superuser=True).first()
_, token = api_token_create(user=user, name="benchmark", can_read=True, can_send=True)
skus = list(Product.objects.filter(active=True, availability="in stock").values_list("retailer_id", flat=True)[:20])
print(json.dumps({"campaign": campaign.pk, "token": token, "skus": skus}))
"""


def manage(env: dict, *args: str, code: str | None = None) -> str:
    command = [PYTHON, "manage.py", *args] + (["-c", "import json\n" + code] if code else [])
    return subprocess.run(
        command, env=env, cwd=ROOT, check=True, capture_output=True
    ).stdout.decode()


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def drive(args, seed: dict) -> list[dict]:
    """One call per recipient at args.rate a second; each notes its start and its answer."""
    import aiohttp

    url = f"http://127.0.0.1:{args.port}/api/v1/campaigns/{seed['campaign']}/send"
    headers = {"Authorization": f"Bearer {seed['token']}", "Content-Type": "application/json"}
    calls = int(args.rate * args.duration)
    skus = seed["skus"]
    results: list[dict] = []

    # Numbers whose endings the stand-in answers with 202 (others script its errors).
    reserved = {*STANDIN_ANSWERS, HANG_SUFFIX}
    phones = (f"+9198{70000000 + n:08d}" for n in range(calls * 2))
    phones = [p for p in phones if p[-4:] not in reserved][:calls]

    async def call(session, n: int):
        phone = phones[n]
        body = {
            "recipients": [{"phone": phone, "skus": [skus[(n + k) % len(skus)] for k in (0, 3, 7)]}]
        }
        started = time.time()
        async with session.post(
            url, json=body, headers={**headers, "Idempotency-Key": str(uuid.uuid4())}
        ) as response:
            answer = await response.read()
            results.append(
                {
                    "phone": phone,
                    "started": started,
                    "answered": time.time(),
                    "status": response.status,
                    "detail": "" if response.status == 202 else answer.decode()[:300],
                }
            )

    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as session:
        begin = time.monotonic()
        tasks = []
        for n in range(calls):
            wait = begin + n / args.rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(call(session, n)))
        await asyncio.gather(*tasks, return_exceptions=True)
    return results


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rate", type=float, default=100, help="API calls a second")
    parser.add_argument("--duration", type=float, default=30, help="seconds of calls")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    args = parser.parse_args()
    print(f"{args.database}, {args.rate:g} calls/s for {args.duration:g} s, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="mpm-trigger-bench-") as tmp:
        workdir = Path(tmp)
        args.port, standin_port = free_port(), free_port()
        env = {
            **os.environ,
            "DATABASE_URL": fresh_database(args.database, workdir, "mpm_trigger_bench")
            + "?conn_max_age=600",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": "benchmark-only-secret",
            "DJANGO_SSL_REDIRECT": "false",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_STATIC_ROOT": str(workdir / "static"),
            "MPM_JOURNAL_DIR": str(workdir / "journal"),
            "KALEYRA_MODE": "live",
            "KALEYRA_SID": "HXBENCH",
            "KALEYRA_API_KEY": "benchmark-key",
            "KALEYRA_SENDER": "+919000000001",
            "KALEYRA_BASE_URL": f"http://127.0.0.1:{standin_port}",
            "KALEYRA_RATE_PER_SECOND": "0",
            "KALEYRA_CALLBACK_TOKEN": "benchmark-callback-token-123456",
            "MPM_FREQUENCY_CAP_HOURS": "0",
            "MPM_API_RATE": str(max(10.0, args.rate * 2)),
            "MPM_API_BURST": str(int(max(20, args.rate * 2))),
            "LOG_LEVEL": "WARNING",
            "MPM_CONSENT_REQUIRED": "false",  # made-up recipients: this measures sending
            "PYTHONPATH": str(ROOT),
        }
        manage(env, "migrate", "-v0")
        manage(env, "collectstatic", "--noinput", "-v0")
        manage(env, "demo")
        seed = json.loads(manage(env, "shell", code=SEED).splitlines()[-1])
        standin = start_standin(standin_port, 0.2)
        server = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{args.port}",
             "--workers", str(args.workers), "--threads", str(args.threads), "--access-logfile", "/dev/null"],
            env=env, cwd=ROOT, stderr=(workdir / "gunicorn.log").open("w"),
        )  # fmt: skip
        worker = subprocess.Popen(
            [PYTHON, "manage.py", "db_worker", "--no-reload", "--queue-name", "triggered",
             "--interval", "0.1"],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=(workdir / "worker.log").open("w"),
        )  # fmt: skip
        try:
            for _ in range(300):
                try:
                    requests.get(f"http://127.0.0.1:{args.port}/healthz", timeout=5)
                    break
                except requests.RequestException:
                    time.sleep(0.1)
            results = asyncio.run(drive(args, seed))
            time.sleep(3)  # the last calls' requests leave
            seen = requests.get(
                f"http://127.0.0.1:{standin_port}/stats?first_seen=1", timeout=10
            ).json()["first_seen"]
        finally:
            for process in (server, worker, standin):
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
    report(args, results, seen)


def report(args, results: list[dict], seen: dict):
    answered = [r for r in results if r["status"] == 202]
    api_ms = [(r["answered"] - r["started"]) * 1000 for r in results]
    to_kaleyra = [seen[r["phone"]] - r["started"] for r in answered if r["phone"] in seen]
    missing = len(answered) - len(to_kaleyra)
    statuses = statistics.multimode([r["status"] for r in results]) if results else []
    print(
        f"{len(results)} calls, {len(answered)} answered 202 (most common status {statuses}); "
        f"API answer p50 {percentile(api_ms, 0.5):.0f} ms, p99 {percentile(api_ms, 0.99):.0f} ms"
    )
    refused = [r for r in results if r["status"] != 202]
    if refused:
        print(f"first refusal: {refused[0]['status']} {refused[0]['detail']}")
    p99 = percentile(to_kaleyra, 0.99)
    print(
        f"call to request at Kaleyra: p50 {percentile(to_kaleyra, 0.5) * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {max(to_kaleyra, default=float('nan')) * 1000:.0f} ms; "
        f"{missing} never arrived; target p99 <= {TARGET_P99_S * 1000:.0f} ms: "
        f"{'met' if p99 <= TARGET_P99_S and not missing else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
