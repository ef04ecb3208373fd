"""A plain HTTP server on 127.0.0.1 that keeps every request it gets (method, path, headers,
body, when it arrived) and answers 200: the far end of whatever the app posts (the sandbox's
callbacks, outbound webhooks). `answer(...)` scripts other answers, given in order (the last
one repeats); `delay` makes it a slow endpoint."""

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = 0.0  # time.monotonic() when it arrived


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class Receiver:
    def __init__(self, *, delay: float = 0.0):
        self.requests: list[Received] = []
        self.replies: list[Reply] = []
        received, replies = self.requests, self.replies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                arrived = time.monotonic()
                received.append(
                    Received("POST", self.path, dict(self.headers.items()), body, arrived)
                )
                if delay:
                    time.sleep(delay)
                reply = (replies.pop(0) if len(replies) > 1 else replies[0]) if replies else Reply()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def answer(self, status: int = 200, *, headers: dict | None = None, body: bytes = b""):
        self.replies.append(Reply(status, headers or {}, body))

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
