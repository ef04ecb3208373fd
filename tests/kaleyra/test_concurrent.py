"""The engine's concurrent client, against small scripted servers on 127.0.0.1: the bytes it
writes, keep-alive reuse, TLS, and every way an exchange can break, each as the right SendResult."""

import asyncio
import json
import socket
import ssl
import threading
import time

import pytest
import trustme
from django.core.exceptions import ImproperlyConfigured

from benchmarks.common import free_port
from campaigns.kaleyra import USER_AGENT, KaleyraConfig, Outcome
from campaigns.kaleyra.concurrent import ConcurrentKaleyraClient
from campaigns.sending.run import new_event_loop

API_KEY = "test-secret-key-5f2b9c"
BODY = b'{"messaging_object":{"to":"+919876543210"},"extra_info":{"ref":"r-1"}}'
ACCEPTED = json.dumps(
    {"code": "WA202", "message": "Request Accepted", "data": {"message_id": "AX1"}, "error": {}}
).encode()


def answer(body: bytes = ACCEPTED, status: str = "202 Accepted", *headers: str) -> bytes:
    head = [f"HTTP/1.1 {status}", "Content-Type: application/json", *headers]
    if not any(h.lower().startswith("transfer-encoding") for h in headers):
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def read_request(conn: socket.socket, buffer: bytearray) -> bytes | None:
    """One whole request (head and Content-Length body) from the connection, or None at EOF."""
    while b"\r\n\r\n" not in buffer:
        data = conn.recv(65536)
        if not data:
            return None
        buffer += data
    head, _, _ = bytes(buffer).partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    total = len(head) + 4 + length
    while len(buffer) < total:
        buffer += conn.recv(65536)
    request = bytes(buffer[:total])
    del buffer[:total]
    return request


class ScriptedServer:
    """Accepts connections on 127.0.0.1 and runs `script(conn, server)` for each in a thread."""

    def __init__(self, script, tls: ssl.SSLContext | None = None):
        self.script = script
        self.tls = tls
        self.requests: list[bytes] = []
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            if self.tls:
                conn = self.tls.wrap_socket(conn, server_side=True)
            self.script(conn, self)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.listener.close()


def keep_answering(*answers: bytes):
    """A script answering each request on a connection with the next answer (the last repeats)."""

    def script(conn, server):
        buffer, n = bytearray(), 0
        while (request := read_request(conn, buffer)) is not None:
            server.requests.append(request)
            conn.sendall(answers[min(n, len(answers) - 1)])
            n += 1

    return script


@pytest.fixture
def serve():
    servers = []

    def start(script, tls=None) -> ScriptedServer:
        servers.append(ScriptedServer(script, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def run(coroutine):
    """Run on the loop the engine uses (uvloop where installed)."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(coroutine)


def config_for(base_url: str, **timeouts) -> KaleyraConfig:
    return KaleyraConfig(base_url, "HXSID", API_KEY, "+919000000001", **timeouts)


def send_all(client: ConcurrentKaleyraClient, *bodies: bytes, together: bool = False):
    """Send bodies one after another (or all at once) on a fresh event loop."""

    async def main():
        try:
            if together:
                return await asyncio.gather(*(client.send(body) for body in bodies))
            return [await client.send(body) for body in bodies]
        finally:
            client.close()

    return run(main())


def test_the_request_is_a_post_to_the_messages_url_with_key_json_and_exact_body(serve):
    server = serve(keep_answering(answer()))
    client = ConcurrentKaleyraClient(config_for(f"http://127.0.0.1:{server.port}"))

    (result,) = send_all(client, BODY)

    assert result.accepted and result.message_id == "AX1" and result.http_status == 202
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    request_line, *header_lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    assert request_line == "POST /v2/HXSID/whatsapp/+919000000001/messages HTTP/1.1"
    assert headers == {
        "Host": f"127.0.0.1:{server.port}",
        "api-key": API_KEY,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Content-Length": str(len(BODY)),
    }
    assert body == BODY


def test_answers_are_parsed_like_the_single_send_client(serve):
    refused = json.dumps({"code": "WA401", "message": "Not yours", "error": {"p": "x"}}).encode()
    server = serve(
        keep_answering(answer(refused, "401 Unauthorized"), answer(b"<html>", "502 Bad"))
    )
    client = ConcurrentKaleyraClient(config_for(f"http://127.0.0.1:{server.port}"))

    rejected, unexpected = send_all(client, BODY, BODY)

    assert (rejected.outcome, rejected.code, rejected.http_status) == (
        Outcome.REJECTED,
        "WA401",
        401,
    )
    assert rejected.error == {"p": "x"}
    assert (unexpected.outcome, unexpected.response_body) == (Outcome.UNEXPECTED, "<html>")


def test_one_connection_carries_request_after_request(serve):
    server = serve(keep_answering(answer()))
    client = ConcurrentKaleyraClient(config_for(f"http://127.0.0.1:{server.port}"))

    results = send_all(client, *[BODY] * 5)

    assert all(r.accepted for r in results)
    assert (len(server.requests), server.connections) == (5, 1)


def test_requests_sent_together_each_get_their_own_connection_and_answer(serve):
    def slow_echo(conn, server):
        buffer = bytearray()
        while (request := read_request(conn, buffer)) is not None:
            server.requests.append(request)
            ref = json.loads(request.partition(b"\r\n\r\n")[2])["extra_info"]["ref"]
            time.sleep(0.05)
            body = json.dumps({"code": "WA202", "data": {"message_id": f"id-{ref}"}}).encode()
            conn.sendall(answer(body))

    server = serve(slow_echo)
    client = ConcurrentKaleyraClient(config_for(f"http://127.0.0.1:{server.port}"))
    bodies = [json.dumps({"extra_info": {"ref": str(n)}}).encode() for n in range(8)]

    results = send_all(client, *bodies, together=True)

    assert [r.message_id for r in results] == [f"id-{n}" for n in range(8)]
    assert server.connections == 8


def test_a_chunked_answer_is_read_whole(serve):
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(ACCEPTED), ACCEPTED)
    server = serve(keep_answering(answer(chunked, "202 Accepted", "Transfer-Encoding: chunked")))
    client = ConcurrentKaleyraClient(config_for(f"http://127.0.0.1:{server.port}"))

    (result,) = send_all(client, BODY)

    assert result.accepted and result.message_id == "AX1"


def test_connection_close_from_the_server_means_a_new_connection_next_time(serve):
    server = serve(keep_answering(answer(ACCEPTED, "202 Accepted", "Connection: close")))
    client = ConcurrentKaleyraClient(config_for(f"http://127.0.0.1:{server.port}"))

    results = send_all(client, BODY, BODY, BODY)

    assert all(r.accepted for r in results)
    assert server.connections == 3


def test_an_idle_connection_the_server_closed_is_not_used_again(serve):
    def one_answer_then_close(conn, server):
        buffer = bytearray()
        server.requests.append(read_request(conn, buffer))
        conn.sendall(answer())

    server = serve(one_answer_then_close)
    client = ConcurrentKaleyraClient(config_for(f"http://127.0.0.1:{server.port}"))

    async def main():
        first = await client.send(BODY)
        await asyncio.sleep(0.1)  # the server's close reaches the idle connection
        second = await client.send(BODY)
        client.close()
        return first, second

    first, second = run(main())
    assert first.accepted and second.accepted
    assert server.connections == 2


def test_a_refused_connection_never_left(serve):
    port = free_port()  # nothing listens there
    client = ConcurrentKaleyraClient(config_for(f"http://127.0.0.1:{port}"))

    (result,) = send_all(client, BODY)

    assert result.outcome is Outcome.CONNECTION
    assert not result.may_have_been_sent


def test_no_answer_in_time_may_have_been_sent(serve):
    def never_answer(conn, server):
        server.requests.append(read_request(conn, bytearray()))
        time.sleep(2)

    server = serve(never_answer)
    client = ConcurrentKaleyraClient(
        config_for(f"http://127.0.0.1:{server.port}", read_timeout=0.2)
    )

    started = time.monotonic()
    (result,) = send_all(client, BODY)

    assert result.outcome is Outcome.TIMEOUT and result.may_have_been_sent
    assert time.monotonic() - started < 1.5
    assert len(server.requests) == 1  # sent once, never again by the client


@pytest.mark.parametrize(
    "reply",
    [b"", b'HTTP/1.1 202 Accepted\r\nContent-Length: 500\r\n\r\n{"co', b"SPAM SPAM SPAM\r\n\r\n"],
    ids=["closed-without-answer", "cut-short", "not-http"],
)
def test_a_broken_exchange_after_the_request_left_may_have_been_sent(serve, reply):
    def break_it(conn, server):
        server.requests.append(read_request(conn, bytearray()))
        conn.sendall(reply)

    server = serve(break_it)
    client = ConcurrentKaleyraClient(config_for(f"http://127.0.0.1:{server.port}"))

    (result,) = send_all(client, BODY)

    assert result.outcome is Outcome.TIMEOUT and result.may_have_been_sent
    assert len(server.requests) == 1


@pytest.fixture
def tls_server(serve, tmp_path, monkeypatch):
    """A TLS server for "localhost" signed by a test CA that the client trusts (SSL_CERT_FILE)."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    trusted = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(trusted))
    monkeypatch.setenv("SSL_CERT_FILE", str(trusted))
    return serve(keep_answering(answer()), tls=server_context)


def test_https_checks_the_certificate_and_sends_over_tls(tls_server):
    client = ConcurrentKaleyraClient(config_for(f"https://localhost:{tls_server.port}"))

    results = send_all(client, BODY, BODY)

    assert all(r.accepted for r in results)
    assert tls_server.requests[0].endswith(BODY)
    assert b"Host: localhost:%d" % tls_server.port in tls_server.requests[0]


def test_a_certificate_that_does_not_match_the_host_is_refused_before_sending(tls_server):
    # The certificate names "localhost", not 127.0.0.1: the handshake fails, nothing is sent.
    client = ConcurrentKaleyraClient(config_for(f"https://127.0.0.1:{tls_server.port}"))

    (result,) = send_all(client, BODY)

    assert result.outcome is Outcome.CONNECTION
    assert tls_server.requests == []


def test_a_key_with_a_line_break_is_refused_at_the_start():
    config = KaleyraConfig("http://127.0.0.1:1", "HXSID", "key\r\nX-Evil: 1", "+919000000001")
    with pytest.raises(ImproperlyConfigured, match="line break"):
        ConcurrentKaleyraClient(config)


def test_a_url_that_is_not_http_is_refused_at_the_start():
    with pytest.raises(ImproperlyConfigured, match="http"):
        ConcurrentKaleyraClient(config_for("ftp://kaleyra.test"))


def test_on_write_runs_once_just_before_a_request_leaves_and_never_for_a_refused_one(serve):
    server = serve(keep_answering(answer()))
    client = ConcurrentKaleyraClient(config_for(f"http://127.0.0.1:{server.port}"))
    closed_port = free_port()  # nothing listens there
    refused = ConcurrentKaleyraClient(config_for(f"http://127.0.0.1:{closed_port}"))
    writes = []

    async def main():
        sent = await client.send(BODY, on_write=lambda: writes.append(len(server.requests)))
        never = await refused.send(BODY, on_write=lambda: writes.append("refused"))
        client.close()
        return sent, never

    sent, never = run(main())
    assert sent.accepted and never.outcome is Outcome.CONNECTION
    assert writes == [0]  # once, before the server had the request; not for the refused one


def test_the_host_is_looked_up_once_for_many_connections(serve, monkeypatch):
    server = serve(keep_answering(answer()))
    client = ConcurrentKaleyraClient(config_for(f"http://localhost:{server.port}"))
    lookups = []
    resolve = client._resolve

    async def counted_resolve():
        lookups.append(1)
        await resolve()

    monkeypatch.setattr(client, "_resolve", counted_resolve)

    results = send_all(client, *[BODY] * 6, together=True)

    assert all(r.accepted for r in results) and server.connections == 6
    assert len(lookups) == 1


def test_after_a_refused_connection_the_next_address_of_the_host_is_tried(serve):
    server = serve(keep_answering(answer()))
    closed_port = free_port()  # nothing listens there
    client = ConcurrentKaleyraClient(config_for(f"http://kaleyra.test:{server.port}"))
    client.addresses = [("127.0.0.1", closed_port), ("127.0.0.1", server.port)]
    client.resolved_at = time.monotonic()  # as if kaleyra.test had these two addresses

    refused, accepted = send_all(client, BODY, BODY)

    assert refused.outcome is Outcome.CONNECTION
    assert accepted.accepted and len(server.requests) == 1


def test_an_interim_answer_is_skipped_and_each_request_gets_its_own_answer(serve):
    def early_hints_first(conn, server):
        buffer, n = bytearray(), 0
        while (request := read_request(conn, buffer)) is not None:
            server.requests.append(request)
            n += 1
            body = json.dumps({"code": "WA202", "data": {"message_id": f"id-{n}"}}).encode()
            conn.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" + answer(body))

    server = serve(early_hints_first)
    client = ConcurrentKaleyraClient(config_for(f"http://127.0.0.1:{server.port}"))

    results = send_all(client, BODY, BODY, BODY)

    assert [(r.http_status, r.message_id) for r in results] == [
        (202, "id-1"),
        (202, "id-2"),
        (202, "id-3"),
    ]


def test_an_answer_without_a_length_ends_when_the_server_closes(serve):
    def html_502_then_close(conn, server):
        server.requests.append(read_request(conn, bytearray()))
        conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n<html>proxy</html>")

    server = serve(html_502_then_close)
    client = ConcurrentKaleyraClient(config_for(f"http://127.0.0.1:{server.port}"))

    (result,) = send_all(client, BODY)

    assert (result.outcome, result.http_status) == (Outcome.UNEXPECTED, 502)
    assert result.response_body == "<html>proxy</html>"


@pytest.mark.parametrize(
    "base_url",
    [
        "https://api.kaleyra.io:abc",
        "https://" + "a" * 64 + ".kaleyra.io",
        "https://a..b",
        "https://",
    ],
)
def test_a_host_or_port_that_cannot_be_used_is_refused_at_the_start(base_url):
    with pytest.raises(ImproperlyConfigured, match="must be http"):
        ConcurrentKaleyraClient(config_for(base_url))


def test_the_host_header_names_an_ipv6_address_in_brackets():
    client = ConcurrentKaleyraClient(config_for("http://[::1]:8080"))
    assert b"\r\nHost: [::1]:8080\r\n" in client.head
    assert (
        b"\r\nHost: api.kaleyra.io\r\n"
        in ConcurrentKaleyraClient(config_for("https://api.kaleyra.io")).head
    )


def test_an_api_key_that_is_not_plain_ascii_is_refused_at_the_start():
    config = KaleyraConfig("http://127.0.0.1:1", "HXSID", "clé", "+919000000001")
    with pytest.raises(ImproperlyConfigured, match="ASCII"):
        ConcurrentKaleyraClient(config)


def test_a_close_after_only_an_interim_answer_may_have_been_sent(serve):
    def hints_then_close(conn, server):
        server.requests.append(read_request(conn, bytearray()))
        conn.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n")

    server = serve(hints_then_close)
    client = ConcurrentKaleyraClient(config_for(f"http://127.0.0.1:{server.port}"))

    (result,) = send_all(client, BODY)

    assert result.outcome is Outcome.TIMEOUT and result.may_have_been_sent
