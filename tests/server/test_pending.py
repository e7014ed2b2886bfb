"""--max-pending and --max-pending-per-ip: connections that have not shown a
key are capped, so a keyless flood cannot take the descriptors of devices
that have one, and have the handshake timeout to show one
(server/pending.py), on a real hub process."""

from __future__ import annotations

import http.client
import inspect
import json
import select
import socket
import time

import pytest
from tornado.http1connection import HTTP1Connection
from tornado.httputil import HTTPHeaders

from tests.support.hub import KEY
from tests.support.rawws import OP_TEXT, RawWS, encode_client_frame, upgrade_request

HALF_SENT = b"GET /subscribe?clientName=flood HTTP/1.1\r\nHost: x\r\n"


def flood(port: int, count: int, source: str = "127.0.0.1") -> list[socket.socket]:
    """``count`` connections that each send half a request and wait."""
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
        sock.sendall(HALF_SENT)
        socks.append(sock)
    return socks


def hung_up(socks: list[socket.socket], expected: int, within: float = 5.0) -> int:
    """How many of ``socks`` the hub closed, waiting until ``expected`` have (or ``within``)."""
    closed: set[socket.socket] = set()
    deadline = time.monotonic() + within
    while len(closed) < expected and time.monotonic() < deadline:
        readable, _, _ = select.select([s for s in socks if s not in closed], [], [], 0.2)
        for sock in readable:
            try:
                if sock.recv(1) == b"":
                    closed.add(sock)
            except ConnectionResetError:
                closed.add(sock)
    return len(closed)


def subscriber(port: int, event: str, source: str) -> RawWS:
    sub = RawWS(port, "/subscribe?clientName=steady", key=KEY, source=source)
    assert sub.status == 101
    sub.send_text(json.dumps({"action": "subscribe", "event": event}))
    sub.send_text("barrier")  # its error frame says the subscription is in
    assert json.loads(sub.recv_frame()[1])["action"] == "error"
    return sub


def publish_from(port: int, source: str, data: str) -> socket.socket:
    """A keep-alive ``POST /publish`` from ``source``, answered 201; the socket stays open."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    post_on(sock, data)
    return sock


def post_on(sock: socket.socket, data: str) -> None:
    body = json.dumps({"event": "t", "data": data}).encode()
    sock.sendall(
        b"POST /publish HTTP/1.1\r\nHost: x\r\nX-API-Key: " + KEY.encode() + b"\r\n"
        b"X-API-Client-Name: script\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    assert sock.recv(4096).startswith(b"HTTP/1.1 201")


def delivered(hub, sub: RawWS, data: str, source: str = "127.0.0.2") -> bool:
    publish_from(hub.port, source, data).close()
    opcode, payload = sub.recv_frame()
    return opcode == OP_TEXT and json.loads(payload)["data"] == data


def test_a_keyless_flood_from_one_address_is_capped_and_others_are_served(hub_process):
    hub = hub_process("--api-key", KEY)  # the defaults: 32 per address, 256 in all
    steady = subscriber(hub.port, "t", source="127.0.0.2")
    socks = flood(hub.port, 100)
    try:
        # Past 32 they are hung up on at once, long before the handshake timeout.
        assert hung_up(socks, 100 - 32, within=3) == 100 - 32
        assert delivered(hub, steady, "during")
        # Another address is not counted with the flood's.
        late = subscriber(hub.port, "t", source="127.0.0.3")
        assert delivered(hub, late, "late")
        late.close()
        metrics = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=5, source_address=("127.0.0.2", 0))
        metrics.request("GET", "/metrics", headers={"X-API-Key": KEY})
        text = metrics.getresponse().read().decode()
        assert "picloud_pending_refused_total 68" in text
        assert "picloud_pending_connections 32" in text
    finally:
        for sock in socks:
            sock.close()
    steady.close()
    hub.stop()
    # Once per flood in the log, not once per connection.
    assert hub.stderr.count("connections from 127.0.0.1 are waiting to show a key") == 1


def test_the_total_caps_many_addresses_and_frees_up_when_they_go(hub_process):
    hub = hub_process("--api-key", KEY, "--max-pending", "40")
    steady = subscriber(hub.port, "t", source="127.0.0.2")
    publisher = publish_from(hub.port, "127.0.0.2", "before")
    assert json.loads(steady.recv_frame()[1])["data"] == "before"
    socks = [s for n in range(3) for s in flood(hub.port, 20, source=f"127.0.1.{n + 1}")]
    assert hung_up(socks, 20, within=3) == 20
    # The connections already in are served; new ones wait for the flood to go.
    post_on(publisher, "during")
    assert json.loads(steady.recv_frame()[1])["data"] == "during"
    for sock in socks:
        sock.close()
    # Their closes free the slots: a new keyless request is read and answered.
    deadline = time.monotonic() + 5
    while True:
        probe = RawWS(hub.port, "/subscribe?clientName=probe", key=None, source="127.0.1.9")
        if probe.status or time.monotonic() > deadline:
            break
    assert probe.status == 401
    probe.close()
    publisher.close()
    steady.close()
    hub.stop()
    assert hub.stderr.count("40 connections are waiting to show a key") == 1


def test_connections_that_showed_a_key_are_not_pending(hub_process):
    """More authenticated connections from one address than the per-address
    cap: the cap is on those that have not shown a key only."""
    hub = hub_process("--api-key", KEY, "--max-pending-per-ip", "4")
    subs = [subscriber(hub.port, "t", source="127.0.0.4") for _ in range(10)]
    # Keep-alive HTTP connections that published leave the count too.
    posts = [publish_from(hub.port, "127.0.0.4", f"kept {n}") for n in range(10)]
    for sub in subs:
        assert [json.loads(sub.recv_frame()[1])["data"] for _ in posts] == [f"kept {n}" for n in range(10)]
    # Four keyless ones still fit; the fifth is hung up on.
    keyless = flood(hub.port, 5, source="127.0.0.4")
    assert hung_up(keyless, 1, within=3) == 1
    for sock in keyless + posts:
        sock.close()
    for sub in subs:
        sub.close()


def keep_alive_get(sock: socket.socket, path: str, key: str | None = None, version: str = "1.1") -> bytes:
    """One keep-alive GET on ``sock``: its response's head (the body, of its
    Content-Length, read past), or b"" once closed."""
    keep = "Connection: keep-alive\r\n" if version == "1.0" else ""
    sock.sendall(f"GET {path} HTTP/{version}\r\nHost: x\r\n{keep}".encode()
                 + (b"X-API-Key: " + key.encode() + b"\r\n" if key else b"") + b"\r\n")
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(4096)
        if not chunk:
            return response
        response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    length = int(HTTPHeaders.parse(head.decode("latin-1").split("\r\n", 1)[1]).get("Content-Length", "0"))
    while len(body) < length:
        body += sock.recv(4096)
    return head


@pytest.mark.parametrize("path", ["/retained?event=t", "/healthz"])
def test_a_connection_that_never_shows_a_key_is_closed_after_the_handshake_timeout(hub_process, path):
    """401 after 401 (or only keyless routes) on one keep-alive connection
    would hold its place for good; past the timeout the next request is
    answered with Connection: close, the connection closes, and its place
    is free again."""
    hub = hub_process("--api-key", KEY, "--handshake-timeout", "0.5", "--max-pending-per-ip", "1")
    sock = socket.create_connection(("127.0.0.1", hub.port), timeout=5, source_address=("127.0.0.5", 0))
    heads = []
    start = time.monotonic()
    while time.monotonic() - start < 5:
        head = keep_alive_get(sock, path)
        assert head, "closed without a word"
        heads.append(head)
        if b"\r\nConnection: close" in head:
            break
        time.sleep(0.1)  # a client polling, well within the idle timeout
    elapsed = time.monotonic() - start
    assert {head.split(b" ", 2)[1] for head in heads} == ({b"401"} if path.startswith("/retained") else {b"200"})
    assert b"\r\nConnection: close" in heads[-1] and 0.5 <= elapsed < 2, f"{elapsed:.2f}s"
    assert sock.recv(1) == b""
    # The one place of its address is free (once the hub has seen the
    # close through, a loop turn later): a new keyless connection is answered.
    deadline = time.monotonic() + 5
    while True:
        again = socket.create_connection(("127.0.0.1", hub.port), timeout=5, source_address=("127.0.0.5", 0))
        try:
            head = keep_alive_get(again, path)
        except ConnectionResetError:
            head = b""
        again.close()
        if head or time.monotonic() > deadline:
            break
    assert head.split(b" ", 2)[1] in (b"401", b"200")
    sock.close()


def test_tornado_decides_keep_alive_before_the_request_is_handed_on():
    """What KeyDue (server/keepalive.py) overrides is set just before it runs."""
    reader = getattr(HTTP1Connection, "_read_message_inner", None) or HTTP1Connection._read_message  # 6.6, 6.5
    source = inspect.getsource(reader)
    decided = source.index("self._disconnect_on_finish = not self._can_keep_alive(")
    assert decided < source.index("delegate.headers_received(")
    assert "self._disconnect_on_finish" in inspect.getsource(HTTP1Connection._finish_request)


def test_a_connection_that_showed_a_key_stays_past_the_handshake_timeout(hub_process):
    hub = hub_process("--api-key", KEY, "--handshake-timeout", "0.5")
    sock = socket.create_connection(("127.0.0.1", hub.port), timeout=5)
    start = time.monotonic()
    while time.monotonic() - start < 1.5:
        assert keep_alive_get(sock, "/retained?event=t", KEY).startswith(b"HTTP/1.1 200")
        time.sleep(0.1)
    sock.close()


def test_an_upgrade_past_the_time_gets_a_working_socket(hub_process):
    """A browser's upgrade (Tornado's path: it sends Origin) as the first
    request after the time is up: a 101 with Connection: Upgrade, not close."""
    hub = hub_process("--api-key", KEY, "--handshake-timeout", "0.5")
    sock = socket.create_connection(("127.0.0.1", hub.port), timeout=5)
    start = time.monotonic()
    for step in (0.0, 0.3):  # well within the idle timeout, which is 0.5 s too
        time.sleep(max(0.0, start + step - time.monotonic()))
        assert keep_alive_get(sock, "/healthz").startswith(b"HTTP/1.1 200")
    time.sleep(max(0.0, start + 0.6 - time.monotonic()))  # the page opens its socket later
    sock.sendall(upgrade_request("/subscribe?clientName=page", {"X-API-Key": KEY, "Origin": "http://127.0.0.1"}))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, f"closed after {head!r}"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101") and b"Connection: Upgrade" in head, head
    sock.sendall(encode_client_frame(0x9, b"still there?"))
    assert sock.recv(64) == b"\x8a\x0cstill there?"
    sock.close()


def test_http_1_0_keep_alive_past_the_time_is_closed_before_its_next_request(hub_process):
    hub = hub_process("--api-key", KEY, "--handshake-timeout", "0.5")
    sock = socket.create_connection(("127.0.0.1", hub.port), timeout=5)
    start, answered = time.monotonic(), 0
    while time.monotonic() - start < 5 and keep_alive_get(sock, "/healthz", version="1.0"):
        answered += 1
        time.sleep(0.1)
    assert answered and 0.5 <= time.monotonic() - start < 2
    sock.close()
