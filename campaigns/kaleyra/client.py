"""The only code that talks HTTP to Kaleyra: aiohttp, configured for this one endpoint.

Many requests in flight from one event loop over a pooled keep-alive connector that honours the
server's `Connection: close` and `Keep-Alive: timeout=` hints; `HTTPS_PROXY` / `HTTP_PROXY` /
`NO_PROXY` applied to every send; TLS verified against the CA bundle `requests` uses; a versioned
`User-Agent`.

Why not aiohttp's `trust_env=True`: it looks the proxy up again for every request, reading the
whole environment and `~/.netrc` in a worker thread, and on the send benchmark that was over a
third of the sender's CPU. The endpoint is one URL, so its proxy is looked up once per client with
aiohttp's own rules; `~/.netrc` is never read (it could add a Basic Authorization header).

It never follows a redirect and never retries a POST (a request sent twice that reached Kaleyra is
a second message): retries are the engine's decision. Every failure becomes a `SendResult`; it
knows nothing of the ORM.
"""

import asyncio
import logging
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from importlib import metadata
from types import SimpleNamespace
from urllib.parse import urlsplit

import aiohttp
import requests.certs
from aiohttp.helpers import get_env_proxy_for_url
from django.core.exceptions import ImproperlyConfigured
from yarl import URL

from campaigns.kaleyra.config import KaleyraConfig, request_headers
from campaigns.kaleyra.results import Outcome, SendResult, elapsed_ms, parse_answer

logger = logging.getLogger(__name__)

# Seconds an idle connection is kept for reuse: under a busy send a connection is never idle for
# more than milliseconds, so a short limit costs nothing and stays below common server limits.
KEEPALIVE_IDLE = 4.0
# A server's `Keep-Alive: timeout=N` is honoured with this margin (at most half of N, so a short
# hint such as timeout=1 still lets a busy connection be reused): a connection it is about to
# close is not reused (the request would go out and its outcome become unknown).
KEEPALIVE_MARGIN = 1.0
DNS_TTL = 300.0  # seconds a resolved address is reused
KEEPALIVE_TIMEOUT = re.compile(r"timeout\s*=\s*(\d+(?:\.\d+)?)", re.I)


def user_agent() -> str:
    try:
        version = metadata.version("mpm-campaigns")
    except metadata.PackageNotFoundError:
        version = "dev"
    return f"mpm-campaigns/{version} aiohttp/{aiohttp.__version__} (+Kaleyra WhatsApp API v2)"


def tls_context() -> ssl.SSLContext:
    """Certificates and host names checked against the bundle `requests` trusts (certifi)."""
    return ssl.create_default_context(cafile=requests.certs.where())


def env_proxy(url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    """The proxy `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` name for `url` (aiohttp's own reading
    of them, as `trust_env` would do), looked up once per client rather than once per send."""
    try:
        return get_env_proxy_for_url(URL(url))
    except LookupError:
        return None, None


def check_config(config: KaleyraConfig):
    """Refuse, before anything is sent or recorded, settings no request could go out with."""
    url = urlsplit(config.messages_url)
    try:
        url.port  # noqa: B018 (raises on a port that is not a number or out of range)
        host = (url.hostname or "").encode("idna")
    except (ValueError, UnicodeError):
        host = b""
    if url.scheme not in ("http", "https") or not host:
        raise ImproperlyConfigured(
            f"Kaleyra's URL must be http(s)://host[:port]/…; got {config.base_url!r}."
        )
    for name, value in request_headers(config.api_key).items():
        if "\r" in value or "\n" in value:
            raise ImproperlyConfigured(f"The {name} header must not contain a line break.")
        if not value.isascii():
            raise ImproperlyConfigured("Kaleyra's API key and SID must be plain ASCII.")
    if not config.messages_url.isascii():
        raise ImproperlyConfigured("Kaleyra's API key and SID must be plain ASCII.")


# The request being sent by the current task: told the moment it has a connection.
_sending: ContextVar[SimpleNamespace | None] = ContextVar("kaleyra_sending", default=None)


class NotSent(Exception):
    """Raised by a `before_write` hook to drop a request that has its connection but was never
    written (the run is stopping); `send` raises it again, and nothing reached Kaleyra."""


class _Connector(aiohttp.TCPConnector):
    """aiohttp's pooled connector, telling the request it connects for (new connection or reused)
    just before the request is written: from then on it may reach Kaleyra. A trace config could
    say the same, but aiohttp then fires every trace signal of every request: 76 µs of CPU per
    request on the HTTP benchmark, a third of the client's cost."""

    async def connect(self, req, traces, timeout):
        connection = await super().connect(req, traces, timeout)
        progress = _sending.get()
        if progress is not None:
            try:
                if progress.before_write is not None:
                    await progress.before_write()  # e.g. wait for the rate slot, connected
                if progress.on_write is not None:
                    progress.on_write()  # the journal's "S" line: a failure stops this request
            except BaseException as exc:
                progress.write_error = exc
                connection.close()
                raise
            progress.written = True
        return connection


class KaleyraClient:
    """Posts request bodies to one sender's messages endpoint. Create it, call `send` from many
    tasks, and `close` it, all in one running event loop."""

    def __init__(self, config: KaleyraConfig, *, concurrency: int = 256):
        check_config(config)
        self.config = config
        self.url = config.messages_url
        self.connector = _Connector(
            limit=concurrency,
            ttl_dns_cache=DNS_TTL,
            keepalive_timeout=KEEPALIVE_IDLE,
            ssl=tls_context() if self.url.startswith("https:") else False,
        )
        self.proxy, self.proxy_auth = env_proxy(self.url)
        self.session = aiohttp.ClientSession(
            connector=self.connector,
            headers={**request_headers(config.api_key), "User-Agent": user_agent()},
            skip_auto_headers=("Accept-Encoding",),
            # We ask for no compression, so an answer is read as it came: a proxy's error page
            # claiming an encoding we cannot decode stays an answer, not a broken exchange.
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=config.connect_timeout, sock_read=config.read_timeout
            ),
        )
        self.idle_limit = KEEPALIVE_IDLE

    async def send(
        self,
        body: bytes,
        on_write: Callable[[], None] | None = None,
        before_write: Callable[[], Awaitable[None]] | None = None,
    ) -> SendResult:
        """Post one body; `before_write` is awaited and `on_write` runs once it has a connection
        (new or reused), just before its bytes go out: a rate limiter waits for its slot there,
        so opening a connection never makes a send late, and whoever journals sends can tell a
        request that never left from one that did. Never raises for anything the network or
        the server does; raises what `before_write` or `on_write` raised."""
        started = time.monotonic()
        progress = SimpleNamespace(
            written=False, on_write=on_write, before_write=before_write, write_error=None
        )
        _sending.set(progress)
        try:
            async with self.session.post(
                self.url,
                data=body,
                allow_redirects=False,  # a followed 307/308 would post the body a second time
                proxy=self.proxy,
                proxy_auth=self.proxy_auth,
            ) as response:
                content = await response.read()
                self._follow_keepalive_hint(response.headers.get("Keep-Alive", ""))
                status = response.status
        except Exception as exc:  # every failure is a value; only where it happened matters
            if progress.write_error is not None:
                raise progress.write_error from None
            if not isinstance(exc, aiohttp.ClientError | OSError | asyncio.TimeoutError):
                logger.exception("Unexpected error sending to Kaleyra")
            # Before the request was written it cannot have reached Kaleyra: safe to retry.
            outcome = Outcome.TIMEOUT if progress.written else Outcome.CONNECTION
            return SendResult(outcome, duration_ms=elapsed_ms(started))
        return parse_answer(status, content, elapsed_ms(started))

    def _follow_keepalive_hint(self, header: str):
        """Keep idle connections no longer than the server says it keeps them (minus a margin).
        aiohttp reads `Connection: close` itself but not `Keep-Alive: timeout=`; its connector
        takes the idle limit from `_keepalive_timeout` on every reuse (tests/kaleyra pin this)."""
        match = KEEPALIVE_TIMEOUT.search(header) if header else None
        if match:
            server_limit = float(match.group(1))
            limit = server_limit - min(KEEPALIVE_MARGIN, server_limit / 2)
            if limit < self.idle_limit:
                self.idle_limit = limit
                self.connector._keepalive_timeout = limit

    async def close(self):
        await self.session.close()
