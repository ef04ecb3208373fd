"""A fast local stand-in for Kaleyra's send endpoint, for the benchmark and the engine tests.

It answers 202 WA202 after a fixed latency, counts every request per `extra_info.ref` (so
duplicates show), keeps each request's arrival time (`GET /stats?arrivals=1`, for rate checks),
and answers by recipient suffix: `STANDIN_ANSWERS` maps the last digits of `to` to
(status, code); the suffix "0408" never answers in time (a read timeout).

    python -m benchmarks.standin --port 9800 --latency 0.2
"""

import argparse
import asyncio
import json
import os
import resource
import threading
import time
from collections import Counter

from aiohttp import web

STANDIN_ANSWERS = {
    "0110": (400, "E110"),
    "0400": (400, "WA400"),
    "0401": (401, "WA401"),
    "0500": (500, "WA500"),
    "0001": (401, "RBC001"),
    "2101": (429, "WAV2101"),
}
HANG_SUFFIX = "0408"


def make_app(latency: float) -> web.Application:
    refs: Counter = Counter()
    counter = {"n": 0}
    arrivals: list[float] = []  # wall-clock time each request reached the handler

    async def messages(request: web.Request) -> web.Response:
        arrivals.append(time.time())
        body = await request.read()
        data = json.loads(body)
        to = data["messaging_object"]["to"]
        refs[data.get("extra_info", {}).get("ref", "")] += 1
        counter["n"] += 1
        if to.endswith(HANG_SUFFIX):
            await asyncio.sleep(3600)
        if latency:
            await asyncio.sleep(latency)
        for suffix, (status, code) in STANDIN_ANSWERS.items():
            if to.endswith(suffix):
                answer = {"code": code, "message": code, "data": {}, "error": {"error": code}}
                return web.json_response(answer, status=status)
        answer = {
            "code": "WA202",
            "message": "Request Accepted",
            "data": {"message_id": f"SI{counter['n']:012d}"},
            "error": {},
        }
        return web.json_response(answer, status=202)

    async def stats(request: web.Request) -> web.Response:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        answer = {
            "requests": counter["n"],
            "refs": dict(refs),
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
        }
        if request.query.get("arrivals"):  # GET /stats?arrivals=1 (for rate-limit checks)
            answer["arrivals"] = arrivals
        return web.json_response(answer)

    app = web.Application()
    app.router.add_post("/v2/{sid}/whatsapp/{sender}/messages", messages)
    app.router.add_get("/stats", stats)
    return app


class StandinThread:
    """The stand-in in a background thread of this process, on 127.0.0.1 and a free port."""

    def __init__(self, latency: float = 0.0):
        self.latency = latency
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        self.started.wait(10)
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(make_app(self.latency), handle_signals=False)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self.started.set()
        self.loop.run_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9800)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(
        f"stand-in pid {os.getpid()} on 127.0.0.1:{args.port}, latency {args.latency}s", flush=True
    )
    web.run_app(
        make_app(args.latency),
        host="127.0.0.1",
        port=args.port,
        print=None,
        backlog=4096,
        access_log=None,
        shutdown_timeout=1,
    )


if __name__ == "__main__":
    main()
