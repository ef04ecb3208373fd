"""HTTP clients for the engine, compared on the same load: no database, just requests.

    .venv/bin/python benchmarks/http_client.py                    # 30,000 requests, 1,024 in flight
    .venv/bin/python benchmarks/http_client.py --requests 10000 --concurrency 256

Starts the stand-in (`benchmarks/standin.py`, 200 ms) in its own process, then sends the same
request body N times with each client from this process, under uvloop, and prints requests per
second and this process's CPU per request: the engine's own client
(`campaigns.kaleyra.concurrent`) and aiohttp (what the engine used first, set up as it was).
"""

import argparse
import asyncio
import os
import resource
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


async def engine_client(config, count: int, concurrency: int) -> int:
    from campaigns.kaleyra.concurrent import ConcurrentKaleyraClient

    client = ConcurrentKaleyraClient(config)

    async def send() -> bool:
        return (await client.send(BODY)).accepted

    try:
        return await drive(send, count, concurrency)
    finally:
        client.close()


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


def measure(name, client, config, args):
    started, cpu = time.perf_counter(), cpu_seconds()
    accepted = uvloop.run(client(config, args.requests, args.concurrency))
    wall, used = time.perf_counter() - started, cpu_seconds() - cpu
    print(
        f"{name:>16}: {args.requests / wall:7.0f} requests/s, "
        f"{used * 1e6 / args.requests:5.0f} µs CPU per request, {accepted} accepted"
    )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=30_000)
    parser.add_argument("--concurrency", type=int, default=1024)
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
        measure("engine's client", engine_client, config, args)
        measure("aiohttp", aiohttp_client, config, args)
    finally:
        stop(standin)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
