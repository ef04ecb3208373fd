"""A fast local stand-in for Kaleyra's send endpoint, for the benchmark and the engine tests.

It answers 202 WA202 after a fixed latency, counts every request per `extra_info.ref` (so
duplicates show), keeps each request's arrival time (`GET /stats?arrivals=1`, for rate checks),
and answers by recipient suffix: `STANDIN_ANSWERS` maps the last digits of `to` to one of
Kaleyra's documented errors (`campaigns.kaleyra.documented`); the suffix "0408" never answers in
time (a read timeout). Tests script it further (`tests/support/provider.py`): answers to give in
order, and every request kept as it arrived.

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
from dataclasses import dataclass, field

from aiohttp import web

from campaigns.kaleyra import documented

STANDIN_ANSWERS = {
    "0110": "E110",
    "0400": "WA400",
    "0401": "WA401",
    "0500": "WA500",
    "0001": "RBC001",
    "2101": "WAV2101",
}
HANG_SUFFIX = "0408"


@dataclass
class Script:
    """What a test asks of the stand-in: answers to give first, in order (the last one repeats),
    and every request kept as it arrived."""

    answers: list = field(default_factory=list)  # callables: request → awaitable response
    requests: list = field(default_factory=list)  # (web.Request, body bytes)


def make_app(latency: float, script: Script | None = None) -> web.Application:
    refs: Counter = Counter()
    counter = {"n": 0}
    arrivals: list[float] = []  # wall-clock time each request reached the handler
    first_seen: dict[str, float] = {}  # wall-clock time each number's first request arrived

    async def messages(request: web.Request) -> web.StreamResponse:
        arrivals.append(time.time())
        body = await request.read()
        if script is not None:
            script.requests.append((request, body))
            if script.answers:
                answer = script.answers.pop(0) if len(script.answers) > 1 else script.answers[0]
                return await answer(request)
        data = json.loads(body)
        to = data["messaging_object"]["to"]
        first_seen.setdefault(to, arrivals[-1])
        refs[data.get("extra_info", {}).get("ref", "")] += 1
        counter["n"] += 1
        if to.endswith(HANG_SUFFIX):
            await asyncio.sleep(3600)
        if latency:
            await asyncio.sleep(latency)
        for suffix, name in STANDIN_ANSWERS.items():
            if to.endswith(suffix):
                status, answer = documented.ERRORS[name]
                return web.json_response(answer, status=status)
        return web.json_response(documented.accepted(f"SI{counter['n']:012d}"), status=202)

    async def stats(request: web.Request) -> web.Response:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        answer = {
            "requests": counter["n"],
            "refs": dict(refs),
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
        }
        if request.query.get("arrivals"):  # GET /stats?arrivals=1 (for rate-limit checks)
            answer["arrivals"] = arrivals
        if request.query.get("first_seen"):  # GET /stats?first_seen=1 (trigger latency)
            answer["first_seen"] = first_seen
        return web.json_response(answer)

    async def templates(request: web.Request) -> web.StreamResponse:
        """The template list: scripted by the tests (tests/support/provider.py); else empty."""
        body = await request.read()
        if script is not None:
            script.requests.append((request, body))
            if script.answers:
                answer = script.answers.pop(0) if len(script.answers) > 1 else script.answers[0]
                return await answer(request)
        return web.json_response({"data": [], "paging": {"cursors": {}}})

    app = web.Application()
    app.router.add_post("/v2/{sid}/whatsapp/{sender}/messages", messages)
    app.router.add_get("/v2/{sid}/whatsapp/{waba_id}/message_templates", templates)
    app.router.add_get("/stats", stats)
    return app


class StandinThread:
    """The stand-in in a background thread of this process, on 127.0.0.1 and a free port."""

    def __init__(self, latency: float = 0.0, script: Script | None = None):
        self.latency = latency
        self.script = script
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        self.started.wait(10)
        return self

    def __exit__(self, *exc):
        """Close every connection and handler (a hanging one too), then stop the loop."""
        done = asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop)
        done.result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(
            make_app(self.latency, self.script),
            handle_signals=False,
            access_log=None,
            shutdown_timeout=0.1,  # a request the test left hanging is not waited for
        )
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
