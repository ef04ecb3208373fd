"""The busy callback URL, POST /callbacks/kaleyra/, served by aiohttp (`manage.py
receive_callbacks`): the reverse proxy sends that one path here and everything else to gunicorn.

Why a server of its own: measured on `benchmarks/callback_ingest.py`, gunicorn and Django's
request cycle cost 1.5 ms of CPU a callback on two cores, and every callback committed alone,
each commit waiting for the one before: under 800 callbacks/s. Here a callback costs aiohttp's
parsing and the same checks as the Django view (the credentials from headers before the body is
read, then `views.json_document`), and the callbacks that arrive while one commit runs are stored
by the next, in one transaction (group commit). Each is still answered 200 only once its row is
committed; the answers are the view's (401, 400, 413, 405, 503, 500), in the same JSON.

`ALLOWED_HOSTS` and HTTPS are the proxy's to enforce here: bind to 127.0.0.1 behind it.
"""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from campaigns.callbacks.auth import accepted, configured_auth
from campaigns.callbacks.sql import insert_callbacks
from campaigns.callbacks.views import (
    INTERNAL_ERROR,
    MAX_BODY_BYTES,
    RECEIVED,
    UNAUTHORIZED,
    UNAVAILABLE,
    Malformed,
    TooLarge,
    challenge,
    json_document,
    malformed,
)
from campaigns.callbacks.writelock import sqlite_write_lock
from campaigns.models import CallbackInbox

logger = logging.getLogger(__name__)

PATH = "/callbacks/kaleyra/"
KIND = CallbackInbox.Kind.KALEYRA
MAX_BATCH = 500  # callbacks in one transaction, at most


def _commit(callbacks: list[tuple]) -> None:
    """Store a batch in one transaction (in the writer's thread, which owns its connection)."""
    try:
        with sqlite_write_lock(), transaction.atomic(), connection.cursor() as cursor:
            insert_callbacks(cursor, callbacks)
    except DatabaseError:
        connection.close()  # the next batch connects afresh (a restarted database heals alone)
        raise


def _close_connection() -> None:
    connection.close()  # looked up here: the writer thread's own connection


class InboxWriter:
    """Group commit: `store()` waits until its callback is committed, together with every other
    callback that arrived while the previous batch was committing."""

    def __init__(self):
        # One thread, so one database connection, used by nothing else.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inbox-writer")
        self._waiting: list[tuple[tuple, asyncio.Future]] = []
        self._flushing: asyncio.Task | None = None

    async def store(self, content_type: str, body: str) -> None:
        """Return once stored; raise the database's error if the batch could not be."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(((KIND, content_type, body, timezone.now()), future))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                try:
                    await loop.run_in_executor(self._thread, _commit, [row for row, _ in batch])
                except Exception as exc:  # every callback of the batch hears why
                    outcome = exc
                else:
                    outcome = None
                for _, future in batch:
                    if future.done():  # its request was cancelled: stored all the same
                        continue
                    if outcome is None:
                        future.set_result(None)
                    else:
                        future.set_exception(outcome)
        finally:
            self._flushing = None

    def close(self) -> None:
        self._thread.submit(_close_connection).result()
        self._thread.shutdown()


async def receive(request: web.Request) -> web.Response:
    """The Django view's contract (`views.CallbackView`) for Kaleyra's v2 callbacks."""
    try:
        if not accepted(request):
            return web.json_response(UNAUTHORIZED, status=401, headers=challenge(configured_auth()))
        try:
            body = json_document(await _read(request))
        except Malformed as exc:
            logger.warning("Refused a malformed %s callback: %s", KIND, exc)
            return web.json_response(malformed(exc), status=exc.status)
        # As Django's request.content_type: "" when the header is missing (aiohttp says
        # application/octet-stream); a NUL could never be stored.
        content_type = request.content_type if "Content-Type" in request.headers else ""
        content_type = content_type.replace("\x00", "")[:100]
        try:
            await request.app[WRITER].store(content_type, body)
        except DatabaseError:
            logger.exception("Could not store a %s callback; Kaleyra will retry it", KIND)
            return web.json_response(UNAVAILABLE, status=503)
        return web.json_response(RECEIVED)
    except Exception:  # our bug: logged, and an answer Kaleyra will retry
        logger.exception("The %s callback receiver failed", KIND)
        return web.json_response(INTERNAL_ERROR, status=500)


async def _read(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise TooLarge(f"The body is larger than {MAX_BODY_BYTES} bytes.") from None


WRITER = web.AppKey("writer", InboxWriter)


def receiver_app() -> web.Application:
    # One byte over the limit reaches json_document, which names the limit.
    app = web.Application(client_max_size=MAX_BODY_BYTES + 1)
    app.router.add_post(PATH, receive)

    async def writer(app: web.Application):
        app[WRITER] = InboxWriter()
        yield
        await asyncio.get_running_loop().run_in_executor(None, app[WRITER].close)

    app.cleanup_ctx.append(writer)
    return app
