"""Running the hub (picloud/server/serve.py), as real ``picloud serve``
processes: the key it serves with, where it listens and what stops it from
starting, signals and a graceful shutdown, slow handshakes, and what
outlives a restart."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError, websocket_connect

from picloud.config import Config
from picloud.server.addresses import lan_address
from picloud.server.keyfiles import load_or_create_key
from picloud.server.serve import defer_accept, listen
from tests.support.hub import KEY, MANY_AT_ONCE, read_json, send_json
from tests.support.process import HubProcess, http_publish, metrics
from tests.support.rawws import OP_CLOSE, OP_TEXT, RawWS, read_head, upgrade_request
from tests.support.redisserver import wait_until
from tests.support.statedb import DATABASE, copy_as_left, integrity, query, retained_data

# -- the key the hub serves with ---------------------------------------------------------

def generated_key(hub: HubProcess) -> str:
    line = next(line for line in hub.stdout_lines if "api key" in line)
    return line.split("api key ")[1].split()[0]


def test_serve_without_configuration_generates_a_key_and_reuses_it(hub_process, tmp_path):
    hub = hub_process()
    key = generated_key(hub)
    assert (tmp_path / "state" / "api_key").read_text().strip() == key
    assert http_publish(hub, key, {"event": "t", "data": 1}) == 201
    assert http_publish(hub, "wrong", {"event": "t"}) == 401
    assert hub.stop() == 0

    # Once generated, a start names where the key is, not the key: a
    # service's log would have it at every boot. `picloud key` prints it.
    again = hub_process()
    assert not any(key in line for line in again.stdout_lines)
    assert any(f"using the api key kept in {tmp_path / 'state' / 'api_key'} (picloud key prints it)" in line
               for line in again.stdout_lines)
    shown = subprocess.run([sys.executable, "-m", "picloud", "key", "--state-dir", str(tmp_path / "state")],
                           capture_output=True, text=True, timeout=30)
    assert (shown.returncode, shown.stdout) == (0, key + "\n")
    assert http_publish(again, key, {"event": "t"}) == 201
    missing = subprocess.run([sys.executable, "-m", "picloud", "key", "--state-dir", str(tmp_path / "none")],
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode == 1 and "no api key in" in missing.stderr


def test_api_key_from_environment(hub_process):
    hub = hub_process(env={"API_KEY": "from-env"})
    assert not any("api key" in line for line in hub.stdout_lines)
    assert http_publish(hub, "from-env", {"event": "t"}) == 201


def test_no_auth_is_explicit_and_logged(hub_process):
    hub = hub_process("--no-auth")
    assert http_publish(hub, "anything", {"event": "t"}) == 201
    hub.stop()
    assert "authentication is off" in hub.stderr


def test_api_key_file_and_bad_keys_file_at_start(hub_process, tmp_path):
    key_file = tmp_path / "api_key"
    key_file.write_text("from-file-0123456789\n")
    hub = hub_process("--api-key-file", str(key_file))
    assert http_publish(hub, "from-file-0123456789", {"event": "t"}) == 201
    hub.stop()
    bad = tmp_path / "keys"
    bad.write_text("ok admin\nbroken\n")
    with pytest.raises(RuntimeError) as info:
        hub_process(env={"PICLOUD_KEYS_FILE": str(bad)})
    expected = "expected 'KEY ROLE [PATTERN ...] [name=PATTERN]', got 1 field"
    assert f"Error: keys file {str(bad)!r} line 2: {expected}" in str(info.value)


def test_keys_file_without_keys_is_one_clear_line(hub_process, tmp_path):
    empty = tmp_path / "keys"
    empty.write_text("# nobody yet\n\n")
    with pytest.raises(RuntimeError) as info:
        hub_process("--keys-file", str(empty))
    assert "Error: no api key: the keys file names none" in str(info.value)
    assert "Traceback" not in str(info.value)


# -- where it listens, and what stops it from starting -----------------------------------

def test_listening_line_names_the_real_port(hub_process):
    hub = hub_process("--api-key", KEY, "--host", "127.0.0.1")
    assert hub.port > 0
    assert any(line.endswith(f"listening on http://127.0.0.1:{hub.port}/\n") for line in hub.stdout_lines)


def test_on_every_interface_it_names_urls_that_can_be_opened(hub_process):
    """Not http://[::]:9000: the host name and the LAN address, and where the dashboard is."""
    hub = hub_process("--api-key", KEY)
    hub.stop()  # its lines are all out once it has exited
    listening = next(line for line in hub.stdout_lines if "listening on" in line)
    assert f"listening on http://{socket.gethostname()}:{hub.port}/ (every interface" in listening
    assert "[::]" not in listening and "0.0.0.0" not in listening
    lan = lan_address()
    if lan is not None:  # a machine with a network: its address too
        assert f"also http://{lan}:{hub.port}/" in listening
    dashboard = next(line for line in hub.stdout_lines if "dashboard" in line)
    assert dashboard.startswith(f"picloud: the dashboard is at http://{lan or socket.gethostname()}:{hub.port}/")


def test_port_in_use_is_one_clear_line(run_serve):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_serve("--host", "127.0.0.1", "--port", str(port), "--api-key", "k" * 16)
    assert result.returncode == 1
    assert result.stderr.strip() == f"Error: port {port} is already in use"


def test_state_dir_under_a_file_is_one_clear_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = subprocess.run(
        [sys.executable, "-m", "picloud", "serve", "--port", "0", "--api-key", KEY,
         "--state-dir", str(blocker / "state")],
        capture_output=True, text=True, timeout=20,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("Error: cannot write in the state directory")
    assert "Traceback" not in result.stderr


# -- signals and a graceful shutdown -----------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_closes_websockets_with_1001_and_exits_0(hub_process, sig):
    hub = hub_process("--api-key", KEY)

    async def scenario():
        request = HTTPRequest(f"{hub.ws_url}/subscribe?clientName=s", headers={"X-API-Key": KEY})
        conn = await websocket_connect(request)
        await conn.write_message(json.dumps({"action": "subscribe", "event": "t"}))
        await conn.write_message("barrier")
        assert json.loads(await conn.read_message())["action"] == "error"
        hub.proc.send_signal(sig)
        assert await conn.read_message() is None
        return conn.close_code

    assert asyncio.run(scenario()) == 1001
    assert hub.proc.wait(timeout=5) == 0


def test_an_upgrade_still_on_its_way_when_the_drain_begins_is_refused_with_503(hub_process):
    """Its socket would get no 1001 and be cut at exit, unlike the others."""
    hub = hub_process("--api-key", KEY, "--shutdown-drain", "10")
    holder = RawWS(hub.port, "/subscribe?clientName=holder", key=KEY)  # never answers the 1001: the drain lasts
    assert holder.status == 101
    late = socket.create_connection(("127.0.0.1", hub.port), timeout=10)
    request = upgrade_request("/subscribe?clientName=late", {"X-API-Key": KEY})
    late.sendall(request[:30])
    wait_until(lambda: metrics(hub)["picloud_pending_connections"] == 1, "the late request's start read")
    hub.proc.send_signal(signal.SIGTERM)
    assert holder.recv_until_close() == 1001  # the drain has begun
    late.sendall(request[30:])
    status, _ = read_head(late)
    assert status == 503
    holder.send_frame(OP_CLOSE, struct.pack("!H", 1001))
    assert hub.proc.wait(timeout=10) == 0
    assert "connect /subscribe 'late'" not in hub.stderr


BATCHES = 4


PER_BATCH = 10_000


PAD = "x" * 480  # 4 x 10,000 x ~500 bytes: 20 MB, more than the kernel buffers hold


def test_messages_accepted_before_sigterm_reach_a_subscriber_before_its_1001(hub_process):
    hub = hub_process(
        "--api-key", KEY, "--max-batch", str(PER_BATCH), "--max-message-bytes", str(16 << 20),
        "--max-queue-bytes", str(64 << 20), "--max-total-queue-bytes", str(128 << 20),
    )
    sub = RawWS(hub.port, "/subscribe?clientName=s", key=KEY, timeout=10)
    sub.send_text(json.dumps({"action": "subscribe", "event": "t"}))
    sub.send_text("barrier")
    assert json.loads(sub.recv_frame()[1])["action"] == "error"
    # The subscriber reads nothing until SIGTERM, so most of this waits in the hub.
    for b in range(BATCHES):
        batch = [{"event": "t", "data": {"n": b * PER_BATCH + i, "pad": PAD}} for i in range(PER_BATCH)]
        assert http_publish(hub, KEY, batch) == 201  # accepted: now it must be delivered
    hub.proc.send_signal(signal.SIGTERM)
    received = []
    while True:
        opcode, payload = sub.recv_frame()
        if opcode == OP_CLOSE:
            code = struct.unpack("!H", payload[:2])[0]
            break
        assert opcode == OP_TEXT
        received.append(json.loads(payload)["data"]["n"])
    sub.send_frame(OP_CLOSE, payload[:2])
    assert code == 1001
    assert received == list(range(BATCHES * PER_BATCH))
    assert hub.proc.wait(timeout=10) == 0
    assert "did not close" not in hub.stderr


# -- slow and silent handshakes time out (--handshake-timeout) ---------------------------

TIMEOUT = 1.0


# Deferred, the silent ones wait in the kernel at first; not, in the hub.
@pytest.mark.parametrize("defer", ["1", "0"])
def test_slow_and_silent_handshakes_time_out_without_blocking_others(hub_process, defer):
    hub = hub_process("--api-key", KEY, "--handshake-timeout", str(TIMEOUT), "--defer-accept", defer, *MANY_AT_ONCE)
    request = f"GET /subscribe?clientName=slow HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\n".encode()
    dribblers = [socket.create_connection(("127.0.0.1", hub.port)) for _ in range(30)]
    silent = [socket.create_connection(("127.0.0.1", hub.port)) for _ in range(30)]
    for sock in dribblers + silent:
        sock.setblocking(False)
    started = time.monotonic()

    # Meanwhile a normal subscriber and publisher are served at once.
    sub = RawWS(hub.port, "/subscribe?clientName=normal", key=KEY)
    assert sub.status == 101
    sub.send_text(json.dumps({"action": "subscribe", "event": "t"}))
    sub.send_text("barrier")
    assert json.loads(sub.recv_frame()[1])["action"] == "error"
    assert http_publish(hub, KEY, {"event": "t", "data": "through"}) == 201
    opcode, payload = sub.recv_frame()
    assert opcode == OP_TEXT and json.loads(payload)["data"] == "through"
    assert time.monotonic() - started < TIMEOUT

    open_ = {sock: 0 for sock in dribblers + silent}
    deadline = started + TIMEOUT + 5
    while open_ and time.monotonic() < deadline:
        for sock in list(open_):
            try:
                if sock in dribblers and open_[sock] < len(request):
                    sock.send(request[open_[sock]:open_[sock] + 1])  # one byte at a time
                    open_[sock] += 1
                if sock.recv(100) == b"":
                    del open_[sock]
            except BlockingIOError:
                pass
            except OSError:  # reset: closed too
                del open_[sock]
        time.sleep(0.1)  # the dribble rate: a byte per socket every 0.1 s
    elapsed = time.monotonic() - started
    assert not open_, f"{len(open_)} connections still open after {elapsed:.1f}s"
    assert elapsed >= TIMEOUT
    for sock in dribblers + silent:
        sock.close()
    sub.close()


def silent_until_closed(port: int) -> float:
    """Seconds from connecting, sending nothing, until the hub hangs up."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(15)
        assert sock.recv(100) == b""
    return time.monotonic() - started


@pytest.mark.skipif(not hasattr(socket, "TCP_DEFER_ACCEPT"), reason="Linux's TCP_DEFER_ACCEPT")
def test_a_connection_that_sends_nothing_waits_in_the_kernel_first_then_times_out(hub_process):
    # The kernel hands it over once it has retransmitted its SYN-ACK (after
    # a second), so 1 s passes before the 0.3 s of the handshake start.
    deferred = hub_process("--api-key", KEY, "--handshake-timeout", "0.3")
    assert 1.3 <= silent_until_closed(deferred.port) < 10
    at_once = hub_process("--api-key", KEY, "--handshake-timeout", "0.3", "--defer-accept", "0")
    assert silent_until_closed(at_once.port) < 1.0
    # What sends its request as it connects is served as ever.
    sub = RawWS(deferred.port, "/subscribe?clientName=prompt", key=KEY)
    assert sub.status == 101
    sub.close()


@pytest.mark.skipif(not hasattr(socket, "TCP_DEFER_ACCEPT"), reason="Linux's TCP_DEFER_ACCEPT")
def test_a_socket_that_refuses_deferred_accept_is_served_without(caplog):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        defer_accept([sock], 1)
    assert "no deferred accept (TCP_DEFER_ACCEPT refused: " in caplog.text


@pytest.mark.skipif(not hasattr(socket, "TCP_DEFER_ACCEPT"), reason="Linux's TCP_DEFER_ACCEPT")
@pytest.mark.parametrize("seconds", [0, 1])
def test_the_listening_sockets_defer_accept_as_configured(seconds):
    sockets = listen(Config(port=0, host="127.0.0.1", defer_accept=seconds))
    try:
        assert bool(sockets[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT)) == bool(seconds)
    finally:
        for sock in sockets:
            sock.close()


# -- what outlives a restart, a shutdown, a kill -----------------------------------------

def test_epoch_changes_after_restart(hub_process):
    epochs = []
    for _ in range(2):
        hub = hub_process("--api-key", KEY)
        epochs.append(asyncio.run(_subscribe_epoch(hub)))
        assert hub.stop() == 0
    assert epochs[0] != epochs[1]


async def _subscribe_epoch(hub):
    url = f"{hub.ws_url}/subscribe?clientName=c&protocol=2"
    request = HTTPRequest(url, headers={"X-API-Key": KEY})
    conn = await websocket_connect(request)
    await send_json(conn, {"action": "subscribe", "event": "t", "since": {"seq": 3, "epoch": "gone"}})
    frame = await read_json(conn)
    conn.close()
    assert frame["recovered"] is False
    return frame["epoch"]


async def _http_publish(hub, body):
    client = AsyncHTTPClient()
    return await client.fetch(
        f"{hub.url}/publish", method="POST", body=json.dumps(body),
        headers={"X-API-Key": KEY, "X-API-Client-Name": "script"}, raise_error=False,
    )


async def _retained(hub, query=""):
    url = f"{hub.url}/retained{query}"
    response = await AsyncHTTPClient().fetch(url, headers={"X-API-Key": KEY})
    return json.loads(response.body)["retained"]


async def _first_frame(hub, event):
    request = HTTPRequest(f"{hub.ws_url}/subscribe?clientName=late", headers={"X-API-Key": KEY})
    conn = await websocket_connect(request)
    await send_json(conn, {"action": "subscribe", "event": event})
    frame = await read_json(conn)
    conn.close()
    return frame


def test_retained_survive_a_restart(hub_process, tmp_path):
    hub = hub_process("--api-key", KEY, "--store-interval", "0.2")

    async def before():
        for event, data in [("t", 21.5), ("u", "x")]:
            response = await _http_publish(hub, {"event": event, "data": data, "retain": True})
            assert response.code == 201  # answered once stored
        assert retained_data(hub.state_dir / DATABASE) == {"t": 21.5, "u": "x"}  # committed before the 201

    hub.state_dir = tmp_path / "state"
    asyncio.run(before())
    assert hub.stop(signal.SIGKILL) == -signal.SIGKILL  # no shutdown flush to rely on
    hub = hub_process("--api-key", KEY)
    frame = asyncio.run(_first_frame(hub, "t"))
    assert (frame["event"], frame["data"], frame["retained"]) == ("t", 21.5, True)
    assert [m["event"] for m in asyncio.run(_retained(hub)) if not m["event"].startswith("$")] == ["t", "u"]


def test_shutdown_flushes_pending_retained_writes(hub_process):
    hub = hub_process("--api-key", KEY, "--store-interval", "30")

    async def publish():
        request = HTTPRequest(f"{hub.ws_url}/publish?clientName=sensor", headers={"X-API-Key": KEY})
        conn = await websocket_connect(request)
        for i in range(3):
            await send_json(conn, {"event": "t", "data": i, "retain": True})
        await send_json(conn, {"event": "barrier", "data": 0, "id": 1})
        assert await read_json(conn) == {"action": "ack", "id": 1}
        conn.close()

    asyncio.run(publish())
    assert hub.stop() == 0
    hub = hub_process("--api-key", KEY)
    assert asyncio.run(_first_frame(hub, "t"))["data"] == 2


def test_sigkill_during_a_burst_never_corrupts(hub_process, tmp_path):
    state = tmp_path / "state"
    hub = hub_process("--api-key", KEY, "--store-interval", "0")

    async def burst():
        request = HTTPRequest(f"{hub.ws_url}/publish?clientName=sensor", headers={"X-API-Key": KEY})
        conn = await websocket_connect(request)
        await send_json(conn, {"event": "t", "data": -1, "retain": True, "id": "first"})
        assert await read_json(conn) == {"action": "ack", "id": "first"}  # one value is on disk
        deadline = time.monotonic() + 0.5
        i = 0
        killed = False
        while time.monotonic() < deadline:
            await send_json(conn, {"event": "t", "data": i, "retain": True, "filler": "x" * 2000})
            i += 1
            if i == 200:
                hub.proc.send_signal(signal.SIGKILL)  # while values are still streaming in
                killed = True
            await asyncio.sleep(0)
        if not killed:  # a slow machine: kill it in the middle of the burst all the same
            hub.proc.send_signal(signal.SIGKILL)
        return i

    try:
        asyncio.run(burst())
    except (StreamClosedError, WebSocketClosedError):  # the socket dies with the hub
        pass
    finally:
        if hub.proc.poll() is None:
            hub.proc.send_signal(signal.SIGKILL)
    assert hub.proc.wait(timeout=10) == -signal.SIGKILL
    left = copy_as_left(state, tmp_path / "left")
    assert integrity(left) == "ok"  # what the crash left is a sound database
    value = retained_data(left)["t"]
    assert value >= -1
    hub = hub_process("--api-key", KEY)
    assert "unreadable" not in hub.stderr
    assert asyncio.run(_first_frame(hub, "t"))["data"] == value


def _recorded(path, event):
    """(messages recorded, the last value) of a recorded event."""
    rows = query(path, "SELECT e.count, s.value FROM events e JOIN series s ON s.event = e.id WHERE e.name = ?", event)
    return rows[0] if rows else (0, None)


async def _stream(hub, sent, acked, kill_after, extra):
    """Publish retained values (acknowledged once committed) and readings
    between them until the hub dies: kill -9 once ``kill_after`` values are
    acknowledged and ``extra`` more messages sent, writes under way."""
    request = HTTPRequest(f"{hub.ws_url}/publish?clientName=sensor", headers={"X-API-Key": KEY})
    conn = await websocket_connect(request)
    waiting = {}  # id -> (event, value, readings sent before it)
    room = asyncio.Event()
    room.set()
    round_acks = 0

    async def read():
        nonlocal round_acks
        while (text := await conn.read_message()) is not None:
            reply = json.loads(text)
            assert reply["action"] == "ack", reply  # never an error: the disk is fine
            event, value, readings = waiting.pop(reply["id"])
            acked["values"][event] = max(acked["values"].get(event, -1), value)
            acked["readings"] = max(acked["readings"], readings)
            round_acks += 1
            room.set()

    reader = asyncio.ensure_future(read())
    since_threshold = 0
    try:
        while hub.proc.poll() is None:
            for _ in range(3):
                sent["readings"] += 1
                await send_json(conn, {"event": "sensor/t", "data": sent["readings"]})
            sent["values"] += 1
            event = f"k/{sent['values'] % 20}"
            waiting[sent["values"]] = (event, sent["values"], sent["readings"])
            await send_json(conn, {"event": event, "data": sent["values"], "retain": True, "id": sent["values"],
                                   "filler": "x" * 500})
            if round_acks >= kill_after:
                since_threshold += 1
                if since_threshold > extra:
                    hub.proc.send_signal(signal.SIGKILL)
                    break
            if len(waiting) > 50:  # no further ahead of the disk than that
                room.clear()
                await room.wait()
    except (StreamClosedError, WebSocketClosedError):
        pass
    await reader


def _check_what_the_crash_left(state, into, acked, committed_readings):
    left = copy_as_left(state, into)
    assert integrity(left) == "ok"
    values = retained_data(left)
    for event, value in acked["values"].items():
        assert values[event] >= value, (event, values[event], value)  # every acknowledged value is there
    count, last = _recorded(left, "sensor/t")
    # A retained value's commit holds the readings published before it.
    assert last >= acked["readings"] and count >= committed_readings
    return count


def test_kill_9_while_writing_again_and_again_loses_nothing_acknowledged(hub_process, tmp_path):
    """Retained values and readings streamed in, the hub killed (-9) in the
    middle of its writes, four times: each time the database opens sound,
    holds every retained value acknowledged and the readings its commits
    held; only what came after the last commit is lost."""
    state = tmp_path / "state"
    sent = {"values": 0, "readings": 0}
    acked = {"values": {}, "readings": 0}
    committed = 0
    for n, (kill_after, extra) in enumerate([(30, 0), (60, 3), (90, 11), (150, 40)]):
        hub = hub_process("--api-key", KEY, "--store-interval", "0.02")
        assert "unreadable" not in hub.stderr
        served = {m["event"]: m["data"] for m in asyncio.run(_retained(hub))}
        assert all(served[event] >= value for event, value in acked["values"].items())
        asyncio.run(_stream(hub, sent, acked, kill_after, extra))
        assert hub.proc.wait(timeout=10) == -signal.SIGKILL
        committed = _check_what_the_crash_left(state, tmp_path / f"left-{n}", acked, committed)
    assert len(acked["values"]) == 20
    hub = hub_process("--api-key", KEY)
    assert "unreadable" not in hub.stderr and integrity(state / DATABASE) == "ok"


def test_a_short_key_from_any_source_gets_one_warning_line_and_still_works(hub_process, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("short-sub subscribe\n" + "a" * 16 + " admin\n")
    for args, env, weak in [
        (["--api-key", "hunter2"], None, "1 configured api key is"),
        ([], {"API_KEY": "hunter2"}, "1 configured api key is"),
        (["--keys-file", str(keys)], None, "1 configured api key is"),
        (["--keys-file", str(keys), "--api-key", "tiny"], None, "2 configured api keys are"),
    ]:
        hub = hub_process(*args, env=env)
        hub.stop()
        warnings = [line for line in hub.stderr.splitlines() if "shorter than 16 characters" in line]
        assert len(warnings) == 1 and weak in warnings[0], hub.stderr
        assert "hunter2" not in hub.stderr and "tiny" not in hub.stderr  # the key itself is never logged
        assert "token_urlsafe" in warnings[0]
    strong = hub_process("--api-key", "k" * 16)
    strong.stop()
    assert "shorter than" not in strong.stderr


@pytest.fixture
def read_only(tmp_path):
    """Make a directory read-only for the hub, really: root ignores mode bits,
    so as root it becomes a read-only bind mount of itself."""
    mounted = []

    def make(directory):
        if os.geteuid() == 0:
            subprocess.run(["mount", "--bind", str(directory), str(directory)], check=True)
            mounted.append(directory)
            subprocess.run(["mount", "-o", "remount,ro,bind", str(directory)], check=True)
        else:
            directory.chmod(0o500)
        return directory

    yield make
    for directory in mounted:
        subprocess.run(["umount", str(directory)], check=True)


def test_a_state_directory_it_cannot_write_stops_the_start_in_one_line(run_serve, tmp_path, read_only):
    load_or_create_key(tmp_path / "state")  # a hub ran here before and kept its key
    read_only(tmp_path / "state")
    done = run_serve("--port", "0", "--host", "127.0.0.1")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Error: cannot write in the state directory {str(tmp_path / 'state')!r}: "), last
    assert last.endswith("fix its permissions or choose another with --state-dir)")
    assert "Traceback" not in done.stderr
