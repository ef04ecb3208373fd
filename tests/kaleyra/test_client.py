"""The real Kaleyra client (aiohttp) against small scripted servers on 127.0.0.1: the bytes it
writes, keep-alive and the server's hints about it, proxies from the environment, TLS, and every
way an exchange can break, each as the right SendResult."""

import asyncio
import json
import socket
import ssl
import threading
import time

import pytest
import requests.certs
import trustme
from django.core.exceptions import ImproperlyConfigured

from benchmarks.common import free_port
from campaigns.kaleyra import KaleyraClient, KaleyraConfig, Outcome
from campaigns.kaleyra.client import tls_context, user_agent
from campaigns.sending.sender import new_event_loop

API_KEY = "test-secret-key-5f2b9c"
MESSAGES_PATH = "/v2/HXSID/whatsapp/+919000000001/messages"
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
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    total = len(head) + 4 + length
    while len(buffer) < total:
        data = conn.recv(65536)
        if not data:
            return None
        buffer += data
    request = bytes(buffer[:total])
    del buffer[:total]
    return request


def parts(request: bytes) -> tuple[str, dict[str, str], bytes]:
    """(request line, headers, body) of one request as it arrived."""
    head, _, body = request.partition(b"\r\n\r\n")
    request_line, *header_lines = head.decode().split("\r\n")
    return request_line, dict(line.split(": ", 1) for line in header_lines), body


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


def send_all(config: KaleyraConfig, *bodies: bytes, together: bool = False, pause: float = 0):
    """Send bodies with a fresh client on a fresh event loop: one after another (`pause` seconds
    apart) or all at once."""

    async def main():
        client = KaleyraClient(config, concurrency=64)
        try:
            if together:
                return await asyncio.gather(*(client.send(body) for body in bodies))
            results = []
            for n, body in enumerate(bodies):
                if n and pause:
                    await asyncio.sleep(pause)
                results.append(await client.send(body))
            return results
        finally:
            await client.close()

    return run(main())


# --- the request --------------------------------------------------------------------------------


def test_the_request_is_a_post_to_the_messages_url_with_key_json_agent_and_exact_body(serve):
    server = serve(keep_answering(answer()))

    (result,) = send_all(config_for(f"http://127.0.0.1:{server.port}"), BODY)

    assert result.accepted and result.message_id == "AX1" and result.http_status == 202
    request_line, headers, body = parts(server.requests[0])
    assert request_line == f"POST {MESSAGES_PATH} HTTP/1.1"
    assert headers == {
        "Host": f"127.0.0.1:{server.port}",
        "api-key": API_KEY,
        "Content-Type": "application/json",
        "User-Agent": user_agent(),
        "Accept": "*/*",
        "Content-Length": str(len(BODY)),
    }
    assert body == BODY


def test_the_user_agent_names_our_version_and_aiohttps():
    agent = user_agent()
    assert agent.startswith("mpm-campaigns/") and "aiohttp/" in agent
    assert agent.split("/", 1)[1].split(" ")[0]  # a version, even if only "dev"


def test_answers_are_parsed_into_results(serve):
    refused = json.dumps({"code": "WA401", "message": "Not yours", "error": {"p": "x"}}).encode()
    server = serve(
        keep_answering(answer(refused, "401 Unauthorized"), answer(b"<html>", "502 Bad"))
    )

    rejected, unexpected = send_all(config_for(f"http://127.0.0.1:{server.port}"), BODY, BODY)

    assert (rejected.outcome, rejected.code, rejected.http_status) == (
        Outcome.REJECTED,
        "WA401",
        401,
    )
    assert rejected.error == {"p": "x"}
    assert (unexpected.outcome, unexpected.response_body) == (Outcome.UNEXPECTED, "<html>")


def test_a_compressed_looking_answer_is_recorded_as_it_came(serve):
    # We never ask for compression (no Accept-Encoding); an answer that claims it anyway is kept
    # as bytes, not decoded into an error.
    server = serve(keep_answering(answer(b"<html>zz</html>", "502 Bad", "Content-Encoding: br")))

    (result,) = send_all(config_for(f"http://127.0.0.1:{server.port}"), BODY)

    assert "Accept-Encoding" not in parts(server.requests[0])[1]
    assert (result.outcome, result.http_status) == (Outcome.UNEXPECTED, 502)


# --- keep-alive ---------------------------------------------------------------------------------


def test_one_connection_carries_request_after_request(serve):
    server = serve(keep_answering(answer()))

    results = send_all(config_for(f"http://127.0.0.1:{server.port}"), *[BODY] * 5)

    assert all(r.accepted for r in results)
    assert (len(server.requests), server.connections) == (5, 1)


def test_requests_sent_together_each_get_their_own_connection_and_answer(serve):
    def slow_echo(conn, server):
        buffer = bytearray()
        while (request := read_request(conn, buffer)) is not None:
            server.requests.append(request)
            ref = json.loads(parts(request)[2])["extra_info"]["ref"]
            time.sleep(0.05)
            body = json.dumps({"code": "WA202", "data": {"message_id": f"id-{ref}"}}).encode()
            conn.sendall(answer(body))

    server = serve(slow_echo)
    bodies = [json.dumps({"extra_info": {"ref": str(n)}}).encode() for n in range(8)]

    results = send_all(config_for(f"http://127.0.0.1:{server.port}"), *bodies, together=True)

    assert [r.message_id for r in results] == [f"id-{n}" for n in range(8)]
    assert server.connections == 8


def test_a_chunked_answer_is_read_whole(serve):
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(ACCEPTED), ACCEPTED)
    server = serve(keep_answering(answer(chunked, "202 Accepted", "Transfer-Encoding: chunked")))

    results = send_all(config_for(f"http://127.0.0.1:{server.port}"), BODY, BODY)

    assert all(r.accepted and r.message_id == "AX1" for r in results)
    assert server.connections == 1


def test_connection_close_from_the_server_means_a_new_connection_next_time(serve):
    server = serve(keep_answering(answer(ACCEPTED, "202 Accepted", "Connection: close")))

    results = send_all(config_for(f"http://127.0.0.1:{server.port}"), BODY, BODY, BODY)

    assert all(r.accepted for r in results)
    assert server.connections == 3


def test_an_idle_connection_the_server_closed_is_not_used_again(serve):
    def one_answer_then_close(conn, server):
        server.requests.append(read_request(conn, bytearray()))
        conn.sendall(answer())

    server = serve(one_answer_then_close)

    # The pause lets the server's close reach the idle connection.
    first, second = send_all(config_for(f"http://127.0.0.1:{server.port}"), BODY, BODY, pause=0.1)

    assert first.accepted and second.accepted
    assert server.connections == 2


def closes_after_idle(limit: float):
    """A server that says `Keep-Alive: timeout=<limit>` and means it. A request on a connection
    idle for longer gets no answer, as when the server's close crosses a request in flight: a
    client that ignored the hint would send, and never know whether the message went out."""

    def script(conn, server):
        buffer, last = bytearray(), None
        while (request := read_request(conn, buffer)) is not None:
            server.requests.append(request)
            if last is not None and time.monotonic() - last > limit:
                return  # closed without an answer
            conn.sendall(answer(ACCEPTED, "202 Accepted", f"Keep-Alive: timeout={limit:g}"))
            last = time.monotonic()

    return script


def test_a_connection_idle_past_the_servers_keep_alive_timeout_is_not_reused(serve):
    server = serve(closes_after_idle(1))

    first, second = send_all(config_for(f"http://127.0.0.1:{server.port}"), BODY, BODY, pause=1.3)

    assert first.accepted
    assert second.accepted, second  # not TIMEOUT: it went out on a new connection
    assert (len(server.requests), server.connections) == (2, 2)


def test_under_a_short_keep_alive_timeout_a_busy_connection_is_still_reused(serve):
    server = serve(closes_after_idle(1))

    results = send_all(config_for(f"http://127.0.0.1:{server.port}"), *[BODY] * 4, pause=0.05)

    assert all(r.accepted for r in results)
    assert server.connections == 1


# --- proxies from the environment ---------------------------------------------------------------


def test_http_proxy_from_the_environment_carries_the_send(serve, monkeypatch):
    proxy = serve(keep_answering(answer()))
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    writes = []

    async def main():
        client = KaleyraClient(config_for("http://kaleyra.invalid"))
        try:
            return await client.send(BODY, on_write=lambda: writes.append(1))
        finally:
            await client.close()

    result = run(main())

    assert result.accepted and writes == [1]
    request_line, headers, body = parts(proxy.requests[0])
    assert request_line == f"POST http://kaleyra.invalid{MESSAGES_PATH} HTTP/1.1"
    assert headers["Host"] == "kaleyra.invalid" and headers["api-key"] == API_KEY
    assert body == BODY


def test_no_proxy_covering_the_host_goes_direct(serve, monkeypatch):
    proxy = serve(keep_answering(answer()))
    server = serve(keep_answering(answer()))
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")

    (result,) = send_all(config_for(f"http://127.0.0.1:{server.port}"), BODY)

    assert result.accepted
    assert (len(server.requests), proxy.connections) == (1, 0)
    assert parts(server.requests[0])[0] == f"POST {MESSAGES_PATH} HTTP/1.1"


def test_https_proxy_gets_a_connect_and_a_refused_tunnel_never_left(serve, monkeypatch):
    def refuse_tunnels(conn, server):
        server.requests.append(read_request(conn, bytearray()))
        conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    proxy = serve(refuse_tunnels)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    writes = []

    async def main():
        client = KaleyraClient(config_for("https://kaleyra.invalid"))
        try:
            return await client.send(BODY, on_write=lambda: writes.append(1))
        finally:
            await client.close()

    result = run(main())

    assert parts(proxy.requests[0])[0] == "CONNECT kaleyra.invalid:443 HTTP/1.1"
    assert result.outcome is Outcome.CONNECTION and writes == []


# --- failures -----------------------------------------------------------------------------------


def test_a_refused_connection_never_left():
    port = free_port()  # nothing listens there

    (result,) = send_all(config_for(f"http://127.0.0.1:{port}"), BODY)

    assert result.outcome is Outcome.CONNECTION
    assert not result.may_have_been_sent and result.http_status is None


def test_no_answer_in_time_may_have_been_sent(serve):
    def never_answer(conn, server):
        server.requests.append(read_request(conn, bytearray()))
        time.sleep(2)

    server = serve(never_answer)

    started = time.monotonic()
    (result,) = send_all(config_for(f"http://127.0.0.1:{server.port}", read_timeout=0.2), BODY)

    assert result.outcome is Outcome.TIMEOUT and result.may_have_been_sent
    assert time.monotonic() - started < 1.5
    assert len(server.requests) == 1  # sent once, never again by the client


@pytest.mark.parametrize(
    "reply",
    [
        b"",
        b'HTTP/1.1 202 Accepted\r\nContent-Length: 500\r\n\r\n{"co',
        b"SPAM SPAM SPAM\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n",
    ],
    ids=["closed-without-answer", "cut-short", "not-http", "only-an-interim-answer"],
)
def test_a_broken_exchange_after_the_request_left_may_have_been_sent(serve, reply):
    def break_it(conn, server):
        server.requests.append(read_request(conn, bytearray()))
        conn.sendall(reply)

    server = serve(break_it)

    (result,) = send_all(config_for(f"http://127.0.0.1:{server.port}"), BODY)

    assert result.outcome is Outcome.TIMEOUT and result.may_have_been_sent
    assert len(server.requests) == 1


def test_a_post_is_never_retried_even_on_a_reused_connection(serve):
    # The second request goes out on the kept-alive connection, which the server then drops:
    # a client retrying "stale" connections would send it twice.
    def answer_once_then_drop(conn, server):
        buffer = bytearray()
        server.requests.append(read_request(conn, buffer))
        conn.sendall(answer())
        server.requests.append(read_request(conn, buffer))

    server = serve(answer_once_then_drop)

    first, second = send_all(config_for(f"http://127.0.0.1:{server.port}"), BODY, BODY)

    assert first.accepted
    assert second.outcome is Outcome.TIMEOUT
    assert (len(server.requests), server.connections) == (2, 1)


def test_a_redirect_is_not_followed(serve):
    # Following a 307 would post the body again, elsewhere: the answer is recorded instead.
    server = serve(keep_answering(answer(b"", "307 Temporary Redirect", "Location: /elsewhere")))

    (result,) = send_all(config_for(f"http://127.0.0.1:{server.port}"), BODY)

    assert (result.outcome, result.http_status) == (Outcome.UNEXPECTED, 307)
    assert len(server.requests) == 1


def test_on_write_runs_once_just_before_a_request_leaves_and_never_for_a_refused_one(serve):
    server = serve(keep_answering(answer()))
    closed_port = free_port()  # nothing listens there
    writes = []

    async def main():
        client = KaleyraClient(config_for(f"http://127.0.0.1:{server.port}"))
        refused = KaleyraClient(config_for(f"http://127.0.0.1:{closed_port}"))
        try:
            sent = [
                await client.send(BODY, on_write=lambda: writes.append(len(server.requests)))
                for _ in range(2)  # a new connection, then the reused one
            ]
            never = await refused.send(BODY, on_write=lambda: writes.append("refused"))
        finally:
            await client.close()
            await refused.close()
        return sent, never

    sent, never = run(main())
    assert all(r.accepted for r in sent) and never.outcome is Outcome.CONNECTION
    assert writes == [0, 1]  # once each, before the server had it; not for the refused one


def test_the_host_is_looked_up_once_for_many_connections(serve):
    server = serve(keep_answering(answer()))
    lookups = []

    async def main():
        client = KaleyraClient(config_for(f"http://localhost:{server.port}"))
        resolve = client.connector._resolver.resolve

        async def counted(*args, **kwargs):
            lookups.append(args[0])
            return await resolve(*args, **kwargs)

        client.connector._resolver.resolve = counted
        try:
            first = await asyncio.gather(*(client.send(BODY) for _ in range(6)))
            return [*first, await client.send(BODY)]
        finally:
            await client.close()

    results = run(main())

    assert all(r.accepted for r in results) and server.connections == 6
    assert lookups == ["localhost"]


def test_after_a_refused_address_the_next_address_of_the_host_is_tried(serve):
    server = serve(keep_answering(answer()))
    closed_port = free_port()  # nothing listens there

    async def two_addresses(host, port=0, family=socket.AF_INET):
        return [
            {"hostname": host, "host": "127.0.0.1", "port": p, "family": socket.AF_INET}
            | {"proto": 0, "flags": 0}
            for p in (closed_port, server.port)
        ]

    async def main():
        client = KaleyraClient(config_for(f"http://kaleyra.test:{server.port}"))
        client.connector._resolver.resolve = two_addresses  # as if kaleyra.test had two
        try:
            return await client.send(BODY)
        finally:
            await client.close()

    assert run(main()).accepted
    assert len(server.requests) == 1


def test_an_interim_answer_is_skipped_and_each_request_gets_its_own_answer(serve):
    def early_hints_first(conn, server):
        buffer, n = bytearray(), 0
        while (request := read_request(conn, buffer)) is not None:
            server.requests.append(request)
            n += 1
            body = json.dumps({"code": "WA202", "data": {"message_id": f"id-{n}"}}).encode()
            conn.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" + answer(body))

    server = serve(early_hints_first)

    results = send_all(config_for(f"http://127.0.0.1:{server.port}"), BODY, BODY, BODY)

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

    (result,) = send_all(config_for(f"http://127.0.0.1:{server.port}"), BODY)

    assert (result.outcome, result.http_status) == (Outcome.UNEXPECTED, 502)
    assert result.response_body == "<html>proxy</html>"


# --- TLS ----------------------------------------------------------------------------------------


def test_tls_is_verified_against_the_bundle_requests_uses(monkeypatch):
    bundles = []
    where = requests.certs.where
    monkeypatch.setattr(requests.certs, "where", lambda: bundles.append(1) or where())

    context = tls_context()

    assert bundles == [1] and context.get_ca_certs()
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname


@pytest.fixture
def tls_server(serve, tmp_path, monkeypatch):
    """A TLS server for "localhost" signed by a test CA, which the client trusts because it is
    the bundle `requests` points at."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    trusted = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(trusted))
    monkeypatch.setattr(requests.certs, "where", lambda: str(trusted))
    return serve(keep_answering(answer()), tls=server_context)


def test_https_checks_the_certificate_and_sends_over_tls(tls_server):
    results = send_all(config_for(f"https://localhost:{tls_server.port}"), BODY, BODY)

    assert all(r.accepted for r in results)
    assert tls_server.connections == 1
    assert parts(tls_server.requests[0])[2] == BODY
    assert parts(tls_server.requests[0])[1]["Host"] == f"localhost:{tls_server.port}"


def test_a_certificate_that_does_not_match_the_host_is_refused_before_sending(tls_server):
    # The certificate names "localhost", not 127.0.0.1: the handshake fails, nothing is sent.
    writes = []

    async def main():
        client = KaleyraClient(config_for(f"https://127.0.0.1:{tls_server.port}"))
        try:
            return await client.send(BODY, on_write=lambda: writes.append(1))
        finally:
            await client.close()

    result = run(main())

    assert result.outcome is Outcome.CONNECTION and not result.may_have_been_sent
    assert tls_server.requests == [] and writes == []


def test_a_certificate_from_an_unknown_ca_is_refused_before_sending(
    tls_server, tmp_path, monkeypatch
):
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setattr(requests.certs, "where", lambda: str(other))

    (result,) = send_all(config_for(f"https://localhost:{tls_server.port}"), BODY)

    assert result.outcome is Outcome.CONNECTION
    assert tls_server.requests == []


# --- settings no request could go out with ------------------------------------------------------


def test_a_key_with_a_line_break_is_refused_at_the_start():
    config = KaleyraConfig("http://127.0.0.1:1", "HXSID", "key\r\nX-Evil: 1", "+919000000001")
    with pytest.raises(ImproperlyConfigured, match="line break"):
        KaleyraClient(config)


def test_an_api_key_that_is_not_plain_ascii_is_refused_at_the_start():
    config = KaleyraConfig("http://127.0.0.1:1", "HXSID", "clé", "+919000000001")
    with pytest.raises(ImproperlyConfigured, match="ASCII"):
        KaleyraClient(config)


def test_a_url_that_is_not_http_is_refused_at_the_start():
    with pytest.raises(ImproperlyConfigured, match="http"):
        KaleyraClient(config_for("ftp://kaleyra.test"))


@pytest.mark.parametrize(
    "base_url",
    [
        "https://api.kaleyra.io:abc",
        "https://api.kaleyra.io:70000",
        "https://" + "a" * 64 + ".kaleyra.io",
        "https://a..b",
        "https://",
    ],
)
def test_a_host_or_port_that_cannot_be_used_is_refused_at_the_start(base_url):
    with pytest.raises(ImproperlyConfigured, match="must be http"):
        KaleyraClient(config_for(base_url))
