"""The tests' Kaleyra: the stand-in (`benchmarks/standin.py`) on 127.0.0.1, scripted per test.

    provider.answer()                         # 202 WA202 with a message id (the default)
    provider.answer_error("WA401")            # one of Kaleyra's documented errors
    provider.answer(status=502, body="<html>…", content_type="text/html")
    provider.hang()                           # never answers in time (a read timeout)
    provider.requests[0].json()["messaging_object"]["to"]

Answers are given in order and the last one repeats (as `responses` does); every request the
real client sent is kept in `provider.requests`, headers and bytes as they arrived.
"""

import asyncio
import json
from dataclasses import dataclass, field

from aiohttp import web

from benchmarks.common import free_port
from benchmarks.standin import Script, StandinThread
from campaigns.kaleyra import KaleyraClient, KaleyraConfig, SendResult, documented
from campaigns.sending.sender import new_event_loop

SID = "HXAP16TEST97IN"
API_KEY = "test-secret-key-5f2b9c"
SENDER = "+919000000001"
ACCEPTED_ID = "AXXXXXXXXXXXXXXXXXXX"  # Kaleyra's own example id


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict
    body: bytes
    query: dict = field(default_factory=dict)

    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def to(self) -> str:
        return self.json()["messaging_object"]["to"]


class Provider:
    """Say what Kaleyra answers, then check what it was sent."""

    def __init__(self, server: StandinThread, script: Script):
        self.server = server
        self.script = script

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def answer(
        self,
        status: int = 202,
        json: dict | None = None,
        body: str | bytes | None = None,
        *,
        content_type: str = "application/json",
        headers: dict | None = None,
        delay: float = 0.0,
    ):
        """Add one answer; with neither `json` nor `body`, Kaleyra's 202 (with ACCEPTED_ID)."""

        async def respond(request) -> web.Response:
            if delay:
                await asyncio.sleep(delay)
            if json is None and body is None:
                payload = documented.accepted(ACCEPTED_ID)
                return web.json_response(payload, status=status, headers=headers)
            if json is not None:
                return web.json_response(json, status=status, headers=headers)
            return web.Response(
                body=body.encode() if isinstance(body, str) else body,
                status=status,
                content_type=content_type,
                headers=headers,
            )

        self.script.answers.append(respond)

    def answer_error(self, name: str, *, delay: float = 0.0):
        """Kaleyra's documented answer `name` (a key of `campaigns.kaleyra.documented.ERRORS`)."""
        status, payload = documented.ERRORS[name]
        self.answer(status, payload, delay=delay)

    def reset(self):
        """Forget the answers not given yet (requests received so far are kept)."""
        self.script.answers.clear()

    def hang(self):
        """An answer that never comes in time: the client's read timeout fires."""

        async def respond(request):
            await asyncio.sleep(3600)

        self.script.answers.append(respond)

    @property
    def requests(self) -> list[Received]:
        return [
            Received(request.method, request.path, dict(request.headers), body, dict(request.query))
            for request, body in list(self.script.requests)
        ]


def send_once(config: KaleyraConfig, body: bytes) -> SendResult:
    """One request through the real client, for tests that check a single exchange."""

    async def send() -> SendResult:
        client = KaleyraClient(config, concurrency=1)
        try:
            return await client.send(body)
        finally:
            await client.close()

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(send())


def refused_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens: every connection is refused."""
    return f"http://127.0.0.1:{free_port()}"


def use_kaleyra_at(settings, base_url: str):
    """Real (non-sandbox) Kaleyra settings pointing at `base_url`."""
    settings.KALEYRA_MODE = "live"
    settings.KALEYRA_SID = SID
    settings.KALEYRA_API_KEY = API_KEY
    settings.KALEYRA_SENDER = SENDER
    settings.KALEYRA_BASE_URL = base_url
