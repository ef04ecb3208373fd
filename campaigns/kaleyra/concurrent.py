"""Many requests to Kaleyra in flight at once: keep-alive HTTP/1.1 connections on the running
event loop (uvloop in the engine), responses parsed by httptools (llhttp, the parser Node.js
uses).

Why not aiohttp: on the same load (`benchmarks/http_client.py`: 1,024 requests in flight, 200 ms
stand-in) aiohttp cost about 145 µs of CPU per request, this client about 32 µs; inside the
engine that was the difference between 0.30 and 0.16 ms of CPU per message. It does only what
the messages endpoint needs: one POST at a time per connection, no redirects, no cookies, no
proxies. Like `KaleyraClient` it never retries a POST, and it turns every failure into a
`SendResult`.
"""

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Callable
from urllib.parse import quote, urlsplit

import httptools
from django.core.exceptions import ImproperlyConfigured

from campaigns.kaleyra import (
    KaleyraConfig,
    Outcome,
    SendResult,
    elapsed_ms,
    parse_answer,
    request_headers,
)

logger = logging.getLogger(__name__)

KEEPALIVE_IDLE = 15.0  # seconds: older idle connections may be closing at the server; not reused
DNS_TTL = 300.0  # seconds a resolved address is reused (aiohttp's default)
MAX_RESPONSE_BODY = 1 << 20  # an answer is a few hundred bytes; keep at most 1 MiB of anything


class ExchangeError(Exception):
    """The connection broke, or the answer could not be parsed, after the request was written."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection: writes a request, collects the one response to it."""

    def __init__(self):
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future | None = None
        self.body: list[bytes] = []
        self.body_size = 0
        self.headers_done = False
        self.has_length = False  # Content-Length or chunked; without either, the close ends it
        self.closed = False
        self.idle_since = time.monotonic()

    # asyncio.Protocol
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes):
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ExchangeError(f"unreadable answer: {exc}"))
            self.close()

    def connection_lost(self, exc):
        self.closed = True
        if exc is None and self.headers_done and not self.has_length:
            self._answer()  # an answer without a length ends when the server closes
        self._fail(ExchangeError("the connection closed before the answer was complete"))

    # httptools callbacks
    def on_message_begin(self):
        self.body, self.body_size = [], 0
        self.headers_done = self.has_length = False

    def on_header(self, name: bytes, value: bytes):
        if name.lower() == b"content-length" or (
            name.lower() == b"transfer-encoding" and b"chunked" in value.lower()
        ):
            self.has_length = True

    def on_headers_complete(self):
        self.headers_done = True

    def on_body(self, chunk: bytes):
        if self.body_size < MAX_RESPONSE_BODY:
            self.body.append(chunk)
        self.body_size += len(chunk)

    def on_message_complete(self):
        if self.parser.get_status_code() < 200:
            self.headers_done = False  # an interim answer (100, 103): the real one follows
            return
        self._answer()
        if not self.parser.should_keep_alive():
            self.close()

    # ours
    def exchange(self, request: bytes) -> asyncio.Future:
        """Write one request; the future gets (status, body) or an ExchangeError."""
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiter

    def reusable(self, now: float) -> bool:
        return not self.closed and now - self.idle_since < KEEPALIVE_IDLE

    def close(self):
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _answer(self):
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), b"".join(self.body)))

    def _fail(self, exc: Exception):
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


class ConcurrentKaleyraClient:
    """Posts request bodies to one sender's messages endpoint; call `send` from many tasks of
    one event loop (each holds one connection while its request is in flight)."""

    def __init__(self, config: KaleyraConfig):
        self.config = config
        url = urlsplit(config.messages_url)
        try:
            port = url.port
            host = (url.hostname or "").encode("idna").decode("ascii")  # unicode names, checked
        except (ValueError, UnicodeError):
            host = port = None
        if url.scheme not in ("http", "https") or not host:
            raise ImproperlyConfigured(
                f"Kaleyra's URL must be http(s)://host[:port]/…; got {config.base_url!r}."
            )
        default_port = 443 if url.scheme == "https" else 80
        self.host = host
        self.port = port or default_port
        self.tls = ssl.create_default_context() if url.scheme == "https" else None
        host_header = f"[{host}]" if ":" in host else host  # an IPv6 address goes in brackets
        if self.port != default_port:
            host_header += f":{self.port}"
        self.head = _request_head(config, url, host_header)
        self.idle: list[_Connection] = []
        self.addresses: list[tuple] = []  # (host, port) to connect to, the next one first
        self.resolved_at = -DNS_TTL
        self.resolving: asyncio.Future | None = None

    async def send(self, body: bytes, on_write: Callable[[], None] | None = None) -> SendResult:
        """Post one body; `on_write` runs just before its bytes go out on a connection (after
        connecting), so whoever journals sends knows a request that never left from one that did.
        """
        started = time.monotonic()
        connection = self._idle_connection(started)
        if connection is None:
            try:
                async with asyncio.timeout(self.config.connect_timeout):
                    connection = await self._connect()
            except Exception as exc:  # refused, unreachable, unknown host, TLS: it never left
                if not isinstance(exc, OSError | TimeoutError):
                    logger.exception("Unexpected error connecting to Kaleyra")
                if len(self.addresses) > 1:  # the next connection tries the host's next address
                    self.addresses.append(self.addresses.pop(0))
                return SendResult(Outcome.CONNECTION, duration_ms=elapsed_ms(started))
        request = b"%s%d\r\n\r\n%s" % (self.head, len(body), body)
        if on_write is not None:
            on_write()
        try:
            async with asyncio.timeout(self.config.read_timeout):
                status, content = await connection.exchange(request)
        except Exception as exc:  # the request went out: it may have reached Kaleyra
            if not isinstance(exc, TimeoutError | ExchangeError | OSError):
                logger.exception("Unexpected error waiting for Kaleyra's answer")
            connection.close()
            return SendResult(Outcome.TIMEOUT, duration_ms=elapsed_ms(started))
        if not connection.closed:
            connection.idle_since = time.monotonic()
            self.idle.append(connection)
        return parse_answer(status, content, elapsed_ms(started))

    def close(self):
        for connection in self.idle:
            connection.close()
        self.idle.clear()

    def _idle_connection(self, now: float) -> _Connection | None:
        while self.idle:
            connection = self.idle.pop()  # the most recently used: the least likely to be stale
            if connection.reusable(now):
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        if time.monotonic() - self.resolved_at > DNS_TTL:
            # One lookup however many tasks are connecting (1,024 at the start of a run).
            if self.resolving is None or self.resolving.done():
                self.resolving = asyncio.ensure_future(self._resolve())
            await asyncio.shield(self.resolving)
        if not self.addresses:
            raise OSError(f"no address for {self.host}")
        host, port = self.addresses[0]
        _, connection = await asyncio.get_running_loop().create_connection(
            _Connection,
            host,
            port,
            ssl=self.tls,
            server_hostname=self.host if self.tls else None,
        )
        return connection

    async def _resolve(self):
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        self.addresses = [info[4][:2] for info in infos]
        self.resolved_at = time.monotonic()


def _request_head(config: KaleyraConfig, url, host: str) -> bytes:
    """The request line and headers up to the Content-Length value: the same for every send."""
    headers = request_headers(config.api_key)
    for name, value in headers.items():
        if "\r" in value or "\n" in value:
            raise ImproperlyConfigured(f"The {name} header must not contain a line break.")
    target = quote(url.path or "/", safe="/+:@!$&'()*,;=-._~%")
    if url.query:
        target += f"?{url.query}"
    lines = [f"POST {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append("Content-Length: ")
    try:
        return "\r\n".join(lines).encode("ascii")
    except UnicodeEncodeError:
        raise ImproperlyConfigured("Kaleyra's API key and SID must be plain ASCII.") from None
