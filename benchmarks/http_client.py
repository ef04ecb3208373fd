"""HTTP clients for the engine, compared on the same load: no database, just requests.

    .venv/bin/python benchmarks/http_client.py                    # 30,000 requests, 1,024 in flight
    .venv/bin/python benchmarks/http_client.py --requests 10000 --concurrency 256

Starts the stand-in (`benchmarks/standin.py`, 200 ms) in its own process, then sends the same
request body N times with each client from this process, under uvloop, and prints requests per
second and this process's CPU per request, the median of `--runs` rounds (clients take turns
within a round): the production client (`campaigns.kaleyra.KaleyraClient`), a bare aiohttp
session (set up as this script had it before, as a reference), and the production client with
aiohttp's `trust_env` (per-request proxy and ~/.netrc lookups) as it first had, to show what that
costs.
"""

import argparse
import asyncio
import os
import resource
import statistics
import sys
import time

import aiohttp
import uvloop
from common import ROOT, free_port, start_standin, stop  # benchmarks/ is on sys.path when run

BODY = b'{"messaging_object":{"to":"+919800000017"},"extra_info":{"ref":"bench"}}' + b" " * 1200


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def drive(send, count: int, concurrency: int) -> int:
    """`concurrency` tasks sending until `count` requests are done; returns how many were 202."""
    left, accepted = [count], [0]

    async def worker():
        while left[0] > 0:
            left[0] -= 1
            ok = await send()
            accepted[0] += ok

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return accepted[0]


def production_client(*, trust_env: bool = False):
    """The production client; optionally with `trust_env`, by reaching into its session (the
    benchmark alone does this, to measure; the client offers no such switch)."""

    async def bench(config, count: int, concurrency: int) -> int:
        from campaigns.kaleyra import KaleyraClient

        client = KaleyraClient(config, concurrency=concurrency)
        if trust_env:  # as the client first was: aiohttp's per-request proxy and netrc lookups
            client.session._trust_env = True
        writes = [0]

        def on_write():
            writes[0] += 1

        async def send() -> bool:
            return (await client.send(BODY, on_write=on_write)).accepted

        try:
            return await drive(send, count, concurrency)
        finally:
            await client.close()

    return bench


async def aiohttp_client(config, count: int, concurrency: int) -> int:
    from campaigns.kaleyra import parse_answer, request_headers

    timeout = aiohttp.ClientTimeout(total=None, connect=5, sock_read=30)
    connector = aiohttp.TCPConnector(limit=concurrency, ttl_dns_cache=300)
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        headers=request_headers(config.api_key),
        skip_auto_headers=("Accept-Encoding",),
    ) as session:

        async def send() -> bool:
            async with session.post(config.messages_url, data=BODY) as response:
                return parse_answer(response.status, await response.read()).accepted

        return await drive(send, count, concurrency)


def measure(client, config, args) -> tuple[float, float, int]:
    """(requests/s, CPU µs per request, accepted) for one run."""
    started, cpu = time.perf_counter(), cpu_seconds()
    accepted = uvloop.run(client(config, args.requests, args.concurrency))
    wall, used = time.perf_counter() - started, cpu_seconds() - cpu
    return args.requests / wall, used * 1e6 / args.requests, accepted


CLIENTS = {
    "aiohttp, bare": aiohttp_client,
    "KaleyraClient": production_client(),
    "  with trust_env": production_client(trust_env=True),
}


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=30_000)
    parser.add_argument("--concurrency", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3, help="rounds; the median is printed")
    parser.add_argument("--latency", type=float, default=0.2, help="stand-in latency, seconds")
    args = parser.parse_args()

    from campaigns.kaleyra import KaleyraConfig

    port = free_port()
    config = KaleyraConfig(f"http://127.0.0.1:{port}", "HXBENCH", "key", "+919000000001")
    standin = start_standin(port, args.latency)
    try:
        print(
            f"{args.requests} requests, {args.concurrency} in flight, stand-in latency "
            f"{args.latency * 1000:.0f} ms, {os.cpu_count()} cores"
        )
        runs = {name: [] for name in CLIENTS}
        for _ in range(args.runs):
            for name, client in CLIENTS.items():
                runs[name].append(measure(client, config, args))
        for name, results in runs.items():
            rates, cpus, accepted = zip(*results, strict=True)
            print(
                f"{name:>22}: {statistics.median(rates):7.0f} requests/s, "
                f"{statistics.median(cpus):5.0f} µs CPU per request (median of {args.runs}; "
                f"runs {', '.join(f'{c:.0f}' for c in cpus)} µs), {min(accepted)} accepted"
            )
    finally:
        stop(standin)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
