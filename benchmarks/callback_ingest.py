"""Callback ingest: Kaleyra's v2 status callbacks posted at a target rate to the app under
gunicorn, with the applier running, then a check that nothing acknowledged was lost.

    .venv/bin/python benchmarks/callback_ingest.py --messages 10000 --rate 1000
    .venv/bin/python benchmarks/callback_ingest.py --database postgres --rate 1000 --duration 120
    .venv/bin/python benchmarks/callback_ingest.py --rate 3000 --duration 30   # find the maximum

Each run makes a fresh database (SQLite by default), creates N accepted Messages, starts
gunicorn on 127.0.0.1 and `manage.py apply_callbacks`, and, from a second process, posts a
`sent`, `delivered` and `read` callback for every message — shuffled, so they race in every
order — plus 5 % replays, at `--rate` per second (open loop: a slow answer does not slow the
sender) for at most `--duration` seconds. It prints the sustained rate, p50/p99 latency at the
client and at the server (gunicorn's request time), errors and the server's CPU per callback;
then waits for the applier to catch up and checks that every acknowledged callback was stored,
that each event was stored once, and that no Message ended behind its latest acknowledged
status (it never moved backwards).
"""

import argparse
import asyncio
import json
import os
import random
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import free_port, fresh_database  # benchmarks/ is on sys.path when run

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the app's packages, in the runner and in the client process
from campaigns.kaleyra.sandbox.envelopes import metadata, status_callback  # noqa: E402

PYTHON = sys.executable
STATUSES = ("sent", "delivered", "read")
RANK = {"accepted": 0, "sent": 1, "delivered": 2, "read": 3}
HEADER = "X-Bench-Callback-Secret"
BASE_TS = 1_750_000_000
SENDER = metadata("919000000001")


def manage(env: dict, *args: str, code: str | None = None) -> str:
    command = [PYTHON, "manage.py", *args]
    if code is not None:
        command += ["-c", code]
    done = subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True)
    return done.stdout.decode()


SEED = """
from django.db import connection, transaction
from django.utils import timezone
from campaigns.models.rawsql import adapt_datetime
from campaigns.recipients.sql import insert_messages
from campaigns.models import Campaign
from tests.support.factories import make_campaign
count = COUNT
campaign = make_campaign(name="Callback benchmark")
Campaign.objects.filter(pk=campaign.pk).update(state="completed")
stamp = adapt_datetime(timezone.now())
rows = [
    (campaign.pk, f"+9197{n:08d}", "{}", "accepted", f"BENCH{n:08d}", "WA202", "", 1, False, "",
     stamp, stamp, "")
    for n in range(count)
]
with connection.cursor() as cursor:
    for start in range(0, len(rows), 2000):
        with transaction.atomic():
            insert_messages(cursor, rows[start:start + 2000])
print(campaign.pk)
"""

VERIFY = """
import json
from collections import Counter
from campaigns.models import CallbackInbox, Message, StatusEvent
spec = json.load(open(SPEC))
rank = {"accepted": 0, "sent": 1, "delivered": 2, "read": 3}
expected = {int(n): s for n, s in spec["final"].items()}
states = dict(Message.objects.values_list("message_id", "state"))
behind = ahead = 0
for n in range(spec["messages"]):
    want = expected.get(n, "accepted")
    got = states[f"BENCH{n:08d}"]
    if rank[got] < rank[want]:
        behind += 1
    elif rank[got] > rank[want]:
        ahead += 1
events = StatusEvent.objects.count()
print(json.dumps({
    "inbox_rows": CallbackInbox.objects.count(),
    "inbox_errors": CallbackInbox.objects.exclude(error="").count(),
    "inbox_pending": CallbackInbox.objects.filter(processed_at__isnull=True).count(),
    "status_events": events,
    "events_waiting": StatusEvent.objects.filter(applied=False).count(),
    "behind": behind,
    "ahead": ahead,
    "states": dict(Counter(states.values())),
}))
"""

PENDING = """
import time
from campaigns.models import CallbackInbox
started, first = time.monotonic(), None
while time.monotonic() - started < 300:
    pending = CallbackInbox.objects.filter(processed_at__isnull=True).count()
    first = pending if first is None else first
    if not pending:
        break
    time.sleep(0.02)
print(first, pending, time.monotonic() - started)
"""


def body(n: int, status: str) -> bytes:
    """A v2 status callback in the spec-notes shape, for message BENCH<n>."""
    message_id = f"BENCH{n:08d}"
    return json.dumps(
        status_callback(
            status,
            event_id=f"wamid.{message_id}",
            recipient=f"9197{n:08d}",
            timestamp=str(BASE_TS + n % 1000 + RANK[status]),
            sender_metadata=SENDER,
            extra_info={
                "trace_id": f"t{n}",
                "message_id": message_id,
                "waba_id": "WABA",
                "ref": f"bench-{n}",
            },
            message_id=message_id,
            conversation={"id": f"c{n}", "origin": {"type": "marketing"}},
            pricing={"billable": True, "pricing_model": "CBP", "category": "marketing"},
        )
    ).encode()


# --- the client (a second process) -----------------------------------------------------------------


def client_main(args):
    """Post the callbacks; write what was acknowledged and the latencies to `args.out`."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    rng = random.Random(args.seed)
    events = [(n, status) for n in range(args.messages) for status in STATUSES]
    rng.shuffle(events)
    replays = [events[rng.randrange(len(events))] for _ in range(int(len(events) * args.replays))]
    for event in replays:  # a replay comes after its original, at any distance
        events.insert(rng.randrange(len(events) + 1), event)
    result = asyncio.run(post_all(args, events))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu"] = usage.ru_utime + usage.ru_stime
    Path(args.out).write_text(json.dumps(result))


async def post_all(args, events):
    """Open loop: callback i leaves at start + i / rate over one of `concurrency` keep-alive
    connections. A plain HTTP/1.1 client on asyncio streams: the load generator shares the
    machine with the server, so it should cost little CPU (aiohttp took three times as much)."""
    head = (
        "POST /callbacks/kaleyra/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\n{header}: {secret}\r\nContent-Length: {length}\r\n\r\n"
    )
    latencies: list[float] = []
    acked: list[tuple[int, str]] = []
    failures: dict[str, int] = {}
    queue: asyncio.Queue = asyncio.Queue()

    def fail(name: str):
        failures[name] = failures.get(name, 0) + 1

    async def connection_worker():
        reader = writer = None
        while (event := await queue.get()) is not None:
            payload = body(*event)
            request = head.format(
                port=args.port, header=HEADER, secret=args.secret, length=len(payload)
            ).encode()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", args.port)
                started = time.perf_counter()
                writer.write(request + payload)
                status, keep = await asyncio.wait_for(read_response(reader), 30)
                latencies.append(time.perf_counter() - started)
                if status == 200:
                    acked.append(event)
                else:
                    fail(str(status))
                if not keep:
                    writer.close()
                    reader = writer = None
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                fail(type(exc).__name__)  # not acknowledged: it may or may not be stored
                if writer is not None:
                    writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    workers = [asyncio.create_task(connection_worker()) for _ in range(args.concurrency)]
    start = time.perf_counter()
    deadline = start + args.duration if args.duration else float("inf")
    sent = 0
    for index, event in enumerate(events):
        due = start + index / args.rate
        if due > deadline:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(event)
        sent += 1
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - start
    final: dict[int, str] = {}
    for n, status in acked:
        if RANK[status] > RANK[final.get(n, "accepted")]:
            final[n] = status
    return {
        "sent": sent,
        "acked": len(acked),
        "distinct_acked": len(set(acked)),
        "elapsed": elapsed,
        "latencies": sorted(latencies),
        "failures": failures,
        "final": final,
    }


async def read_response(reader) -> tuple[int, bool]:
    """(status, keep-alive) of one HTTP/1.1 response, its body read and dropped."""
    status = int((await reader.readline()).split(b" ", 2)[1])
    length, keep = 0, True
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
    if length:
        await reader.readexactly(length)
    return status, keep


# --- the run ----------------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(len(values) * share))] if values else 0.0


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=1000, help="callbacks per second to send")
    parser.add_argument(
        "--duration", type=float, default=0, help="stop sending after this many seconds (0: all)"
    )
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--server",
        choices=["receiver", "gunicorn"],
        default="receiver",
        help="receiver: manage.py receive_callbacks (production's path for the busy URL); "
        "gunicorn: the Django view under gunicorn, for comparison",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(4, (os.cpu_count() or 1) + 1),  # gunicorn.conf.py's default
        help="gunicorn worker processes (default: as gunicorn.conf.py, cores + 1, at most 4)",
    )
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument("--worker-class", default="gthread", help="gunicorn worker class")
    parser.add_argument("--concurrency", type=int, default=64, help="client requests in flight")
    parser.add_argument("--replays", type=float, default=0.05, help="share of replayed callbacks")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        return client_main(args)

    print(
        f"{args.messages} messages, {args.messages * 3 * (1 + args.replays):.0f} callbacks at "
        f"{args.rate:g}/s{f' for at most {args.duration:g} s' if args.duration else ''}, "
        f"{args.database}, "
        + (
            "manage.py receive_callbacks, "
            if args.server == "receiver"
            else f"gunicorn {args.workers} {args.worker_class} workers x {args.threads} threads, "
        )
        + f"{os.cpu_count()} cores",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="mpm-callback-bench-") as tmp:
        workdir = Path(tmp)
        port, secret = free_port(), secrets.token_urlsafe(24)
        env = {
            **os.environ,
            # Persistent connections: one per gunicorn thread, as in production.
            "DATABASE_URL": fresh_database(args.database, workdir, "mpm_callback_bench")
            + "?conn_max_age=600",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": "benchmark-only-secret",
            "DJANGO_SSL_REDIRECT": "false",  # the benchmark's client speaks plain HTTP
            "KALEYRA_MODE": "live",
            "KALEYRA_SID": "HXBENCH",
            "KALEYRA_API_KEY": "benchmark-key",
            "KALEYRA_SENDER": "+919000000001",
            "KALEYRA_CALLBACK_HEADER": HEADER,
            "KALEYRA_CALLBACK_TOKEN": secret,
            "LOG_LEVEL": "ERROR",  # not a line per 401 of the warm-up
            "PYTHONPATH": str(ROOT),
        }
        manage(env, "migrate", "-v0")
        seeded = time.perf_counter()
        manage(env, "shell", code=SEED.replace("COUNT", str(args.messages)))
        print(
            f"seeded {args.messages} messages in {time.perf_counter() - seeded:.1f} s", flush=True
        )

        access_log = workdir / "access.log"
        access_log.write_text("")
        receiver = [PYTHON, "manage.py", "receive_callbacks", "--bind", f"127.0.0.1:{port}"]
        server = subprocess.Popen(
            receiver if args.server == "receiver" else [
                PYTHON, "-m", "gunicorn", "mpmsite.wsgi:application",
                "--bind", f"127.0.0.1:{port}",
                "--workers", str(args.workers),
                "--worker-class", args.worker_class, "--threads", str(args.threads),
                "--access-logfile", str(access_log), "--access-logformat", "%(D)s %(s)s",
                "--log-level", "warning",
            ],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=(workdir / "server.log").open("w"),
        )  # fmt: skip
        applier = subprocess.Popen(
            [PYTHON, "manage.py", "apply_callbacks"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL
        )
        try:
            wait_for_server(port)
            access_log.write_text("")  # only the benchmark's requests
            out = workdir / "client.json"
            client_args = [
                PYTHON, str(Path(__file__).resolve()), "--client",
                "--port", str(port), "--secret", secret, "--out", str(out),
                "--messages", str(args.messages), "--rate", str(args.rate),
                "--duration", str(args.duration), "--concurrency", str(args.concurrency),
                "--replays", str(args.replays), "--seed", str(args.seed),
            ]  # fmt: skip
            subprocess.run(client_args, check=True, cwd=ROOT)
            result = json.loads(out.read_text())
            lag, drained = wait_for_applier(env)
            client_cpu = result["cpu"]
        finally:
            cpu = {"server": stop(server), "applier": stop(applier)}
        cpu["client"] = client_cpu
        server_ms = sorted(
            int(line.split()[0]) / 1000
            for line in access_log.read_text().splitlines()
            if line.strip()
        )
        spec = workdir / "spec.json"
        spec.write_text(json.dumps({"messages": args.messages, "final": result["final"]}))
        check = json.loads(
            manage(env, "shell", code=VERIFY.replace("SPEC", repr(str(spec)))).splitlines()[-1]
        )
    report(args, result, server_ms, check, lag, drained, cpu)


def stop(process: subprocess.Popen) -> float:
    """Stop a child (gunicorn stops its workers first) and return its CPU seconds, its own
    children's included."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        _, _, usage = os.wait4(process.pid, 0)
    except ChildProcessError:
        return 0.0
    return usage.ru_utime + usage.ru_stime


def wait_for_server(port: int):
    import requests

    for _ in range(300):
        try:  # every worker loads Django on its first request: warm them all
            for _ in range(20):
                requests.post(f"http://127.0.0.1:{port}/callbacks/kaleyra/", timeout=10)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit("gunicorn did not start")


def wait_for_applier(env: dict) -> tuple[int, float]:
    """Wait until the applier has applied everything: (rows pending when sending stopped,
    seconds until none was)."""
    first, pending, seconds = manage(env, "shell", code=PENDING).splitlines()[-1].split()
    if int(pending):
        raise SystemExit(f"the applier did not catch up: {pending} callbacks still pending")
    return int(first), float(seconds)


def report(args, result, server_ms, check, lag, drained, cpu):
    latencies = [value * 1000 for value in result["latencies"]]
    acked, elapsed = result["acked"], result["elapsed"]
    print(
        f"sent {result['sent']} in {elapsed:.1f} s: sustained {acked / elapsed:.0f}/s acknowledged"
        f" (target {args.rate:g}/s); errors {result['failures'] or 0}"
    )
    print(
        f"latency at the client: p50 {percentile(latencies, 0.5):.1f} ms, "
        f"p99 {percentile(latencies, 0.99):.1f} ms, max {max(latencies, default=0):.1f} ms"
    )
    if server_ms:  # gunicorn's access log (the receiver keeps none)
        print(
            f"latency at the server: p50 {percentile(server_ms, 0.5):.1f} ms, "
            f"p99 {percentile(server_ms, 0.99):.1f} ms ({len(server_ms)} requests logged)"
        )
    per = {name: seconds * 1000 / max(1, result["sent"]) for name, seconds in cpu.items()}
    print(
        f"CPU per callback: {args.server} {per['server']:.2f} ms, applier {per['applier']:.2f} ms, "
        f"client {per['client']:.2f} ms; applier backlog after the last answer: {lag} rows, "
        f"applied within {drained:.2f} s"
    )
    stored_ok = check["inbox_rows"] >= acked
    once_ok = check["status_events"] == result["distinct_acked"]
    print(
        f"check: {acked} acknowledged, {check['inbox_rows']} stored "
        f"({'none lost' if stored_ok else 'LOST SOME'}); {result['distinct_acked']} distinct "
        f"events, {check['status_events']} status events "
        f"({'each once' if once_ok else 'MISMATCH'}); messages behind their latest "
        f"acknowledged status: {check['behind']}; ahead (events stored for unacknowledged "
        f"requests): {check['ahead']}; waiting events {check['events_waiting']}; rows with "
        f"errors {check['inbox_errors']}"
    )
    print(f"final states: {check['states']}")
    ok = stored_ok and check["behind"] == 0 and not check["inbox_errors"]
    print("RESULT:", "ok" if ok else "FAILED")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
