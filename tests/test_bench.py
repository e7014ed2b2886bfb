"""The benchmark's plumbing: the table it computes, the baseline server and
the runner end to end on the one scenario that needs no pcbench."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from bench import clients, pcbench, report, run, scenarios
from bench.procs import Server, cpu_seconds, server_commands, status_kib
from bench.report import Measurement, Row

KEY = "bench-key-0123456789"

PCBENCH_LINE = (
    '{"deliveries_per_s":228849.1,"errors":[],"events":1,"expected":200000,"max_ms":35.5,'
    '"mode":"ws","p50_ms":13.6,"p99_ms":29.3,"publishes_per_s":2288.4,"pubs":1,'
    '"received":199990,"seconds":0.87,"sent":2000,"size":64,"subs":100}'
)


def test_parse_output_takes_the_result_line():
    result = pcbench.parse_output("settling\n" + PCBENCH_LINE + "\n")
    assert result["deliveries_per_s"] == 228849.1
    assert result["subs"] == 100


@pytest.mark.parametrize("text", ["", "pcbench: dial tcp: connection refused", '{"other": 1}', "{not json"])
def test_parse_output_refuses_anything_else(text):
    with pytest.raises(pcbench.PcbenchError, match="no result line"):
        pcbench.parse_output(text)


def test_command_turns_options_into_flags():
    args = pcbench.command("/x/pcbench", "ws://127.0.0.1:1", "k", subs=5000, n=20, window=5)
    assert args == ["/x/pcbench", "-url", "ws://127.0.0.1:1", "-key", "k",
                    "-subs", "5000", "-n", "20", "-window", "5"]


def test_missing_sources_are_named(tmp_path, monkeypatch):
    monkeypatch.setattr(pcbench, "SOURCE_CANDIDATES", (tmp_path / "shared",))
    monkeypatch.delenv("PCBENCH_SRC", raising=False)
    with pytest.raises(pcbench.PcbenchError, match="pcbench sources not found") as info:
        pcbench.source_dir()
    assert str(tmp_path / "shared") in str(info.value)
    # A folder named on the command line is the only one tried.
    (tmp_path / "shared" / "build.sh").parent.mkdir()
    (tmp_path / "shared" / "build.sh").write_text("")
    assert pcbench.source_dir() == tmp_path / "shared"
    with pytest.raises(pcbench.PcbenchError, match="tried /nonexistent/pcbench\\)"):
        pcbench.source_dir("/nonexistent/pcbench")


def test_run_reports_the_cpu_the_load_generator_used(tmp_path):
    # A stand-in with pcbench's command line and output, burning 0.2 s of CPU.
    stand_in = tmp_path / "pcbench"
    stand_in.write_text(
        f"#!{sys.executable}\n"
        "import time\n"
        "end = time.process_time() + 0.2\n"
        "while time.process_time() < end:\n"
        "    pass\n"
        f"print({PCBENCH_LINE!r})\n"
    )
    stand_in.chmod(0o755)
    result = pcbench.run(stand_in, "ws://127.0.0.1:1", KEY, {"subs": 1})
    assert result["received"] == 199990
    assert 0.2 <= result["pcbench_cpu_s"] < 5


def test_from_pcbench_charges_cpu_per_100k_deliveries():
    m = report.from_pcbench(json.loads(PCBENCH_LINE), cpu_seconds=4.0)
    assert m.cpu_per_100k == pytest.approx(4.0 / 199990 * 100_000)
    assert m.pcbench_cpu_per_100k is None  # not measured
    m = report.from_pcbench({**json.loads(PCBENCH_LINE), "pcbench_cpu_s": 2.0}, cpu_seconds=4.0)
    assert m.pcbench_cpu_per_100k == pytest.approx(2.0 / 199990 * 100_000)
    assert m.lost == 10
    assert (m.p50_ms, m.p99_ms, m.subs) == (13.6, 29.3, 100)


def test_from_pcbench_without_deliveries_has_no_latency_or_cpu():
    result = {"deliveries_per_s": 0, "received": 0, "expected": 100, "p50_ms": -1, "p99_ms": -1,
              "errors": ["http publish status 401"]}
    m = report.from_pcbench(result, cpu_seconds=1.0)
    assert (m.p50_ms, m.p99_ms, m.cpu_per_100k, m.lost) == (None, None, None, 100)
    assert m.errors == ["http publish status 401"]


def test_median_of_rounds():
    rounds = [
        Measurement(deliveries_per_s=100.0, p50_ms=1.0, lost=0, errors=["a"], subs=10),
        Measurement(deliveries_per_s=300.0, p50_ms=None, lost=5, errors=["b", "a"], subs=10),
        Measurement(deliveries_per_s=200.0, p50_ms=3.0, lost=0, subs=10),
    ]
    m = report.median(rounds)
    assert m.deliveries_per_s == 200.0
    assert m.p50_ms == 2.0  # a round without the value does not count
    assert m.lost == 5 and m.errors == ["a", "b"] and m.subs == 10


def test_ratio_is_picloud_over_naive():
    row = Row("fanout100", "fan-out", "deliveries_per_s", ">=10x",
              {"picloud": Measurement(deliveries_per_s=400_000.0),
               "naive": Measurement(deliveries_per_s=32_000.0)})
    assert row.ratio == pytest.approx(12.5)
    assert report.ratio(1.0, 0.0) is None
    assert report.ratio(None, 2.0) is None


def sample_rows() -> list[Row]:
    fan = Row("fanout100", "fan-out 1->100", "deliveries_per_s", ">=10x",
              {"picloud": Measurement(deliveries_per_s=412_345.6, p50_ms=3.0, p99_ms=9.5,
                                      cpu_per_100k=0.42, subs=100),
               "naive": Measurement(deliveries_per_s=35_000.0, p50_ms=70.0, p99_ms=90.0,
                                    cpu_per_100k=4.2, subs=100)},
              met=True)
    idle = Row("idle", "idle subscribers", "kib_per_conn", "<=10 KiB/conn",
               {"picloud": Measurement(kib_per_conn=12.3, notes=["5000 connections"]),
                "naive": Measurement(kib_per_conn=14.0, errors=["server exited with code 1"])},
               met=False)
    return [fan, idle]


def test_markdown_table_has_both_servers_ratio_and_verdict():
    lines = report.markdown_table(sample_rows()).splitlines()
    assert lines[0].startswith("| scenario | server | deliveries/s |")
    assert len(lines) == 2 + 4
    fan_pc = lines[2].split(" | ")
    assert fan_pc[:3] == ["| fan-out 1->100", "picloud", "412,346"]
    assert "11.78x deliveries/s, 0.10x CPU" in fan_pc and "yes |" in lines[2]
    assert lines[3].startswith("|  | naive | 35,000 |")
    assert "0.88x KiB/conn" in lines[4] and "| 12.3 |" in lines[4] and lines[4].endswith("| no |")


def test_markdown_report_lists_machine_notes_and_errors():
    text = report.markdown_report(sample_rows(), "vm: 2 cpus", "python -m bench", "2026-11-25 23:00 UTC")
    assert "# PiCloud benchmark, 2026-11-25 23:00 UTC" in text
    assert "Machine: vm: 2 cpus" in text
    assert "- idle subscribers, picloud: 5000 connections" in text
    assert "- idle subscribers, naive: server exited with code 1" in text


def test_text_table_lines_up():
    lines = report.text_table(sample_rows()).splitlines()
    assert len(lines) == 2 + 4
    assert lines[0].index("server") == lines[2].index("picloud")


def test_plot_points_are_one_publisher_fanouts_by_subscriber_count():
    rows = sample_rows()
    rows.append(Row("sweep10", "1->10", "deliveries_per_s", "",
                    {"picloud": Measurement(deliveries_per_s=60_000.0, subs=10),
                     "naive": Measurement(deliveries_per_s=20_000.0, subs=10)}))
    points = report.plot_points(rows)
    assert points == {"picloud": [(10, 60_000.0), (100, 412_345.6)],
                      "naive": [(10, 20_000.0), (100, 35_000.0)]}


def test_select_keeps_table_order_and_names_unknown():
    assert [s.name for s in scenarios.select("latency,fanout100")] == ["fanout100", "latency"]
    assert len(scenarios.select(None)) == len(scenarios.SCENARIOS)
    with pytest.raises(ValueError, match="unknown scenario 'fanout7'"):
        scenarios.select("fanout100,fanout7")


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_mask_frame_masks_and_sizes(size):
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    frame = clients.mask_frame(payload)
    assert frame[0] == 0x81 and frame[1] & 0x80
    length = frame[1] & 0x7F
    offset = 2
    if length == 126:
        length, offset = int.from_bytes(frame[2:4], "big"), 4
    elif length == 127:
        length, offset = int.from_bytes(frame[2:10], "big"), 10
    mask, body = frame[offset:offset + 4], frame[offset + 4:]
    assert length == size == len(body)
    assert bytes(b ^ mask[i % 4] for i, b in enumerate(body)) == payload


def read_frame(sock: socket.socket) -> bytes:
    """One unmasked, unfragmented server frame's payload."""
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    head = exactly(2)
    length = head[1] & 0x7F
    if length == 126:
        length = int.from_bytes(exactly(2), "big")
    elif length == 127:
        length = int.from_bytes(exactly(8), "big")
    return exactly(length)


@pytest.fixture
def naive():
    server = Server("naive", server_commands(KEY)["naive"])
    yield server
    server.stop()


def post(server: Server, body: bytes, key: str = KEY) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/publish", data=body, method="POST",
        headers={"X-API-Key": key, "X-API-Client-Name": "script"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_naive_refuses_a_wrong_key(naive):
    with pytest.raises(ConnectionError, match="401"):
        clients.open_websocket(naive.port, "wrong", "/subscribe?clientName=x")
    assert post(naive, b'{"event": "e", "data": "1"}', key="wrong") == 401


def test_naive_passes_data_through_unchanged(naive):
    sub = clients.subscriber(naive.port, KEY, "ev-0", "reader")
    sub.settimeout(0.1)
    # The old protocol confirms nothing, so probe until the subscription is live.
    deadline = time.monotonic() + 10
    while True:
        assert post(naive, b'{"event": "ev-0", "data": "probe"}') == 201
        try:
            read_frame(sub)
            break
        except socket.timeout:
            assert time.monotonic() < deadline, "subscription never became live"
    sub.settimeout(5)
    data = "0|17|1764110000000000000|xx/\u00e9"
    assert post(naive, json.dumps({"event": "ev-0", "data": data}).encode()) == 201
    publisher = clients.open_websocket(naive.port, KEY, "/publish?clientName=pub")
    publisher.sendall(clients.mask_frame(json.dumps({"event": "ev-0", "data": [1.5, None]}).encode()))
    received = []
    while len(received) < 2:
        frame = json.loads(read_frame(sub))
        if frame["data"] != "probe":
            received.append(frame)
    assert [f["data"] for f in received] == [data, [1.5, None]]
    assert received[0]["action"] == "publish" and received[0]["event"] == "ev-0"
    assert received[0]["created_at"].endswith("Z") and len(received[0]["created_at"]) == 27
    assert cpu_seconds(naive.pid) > 0 and status_kib(naive.pid, "VmHWM") >= status_kib(naive.pid)
    clients.close_all([sub, publisher])


def test_cpu_seconds_are_finer_than_clock_ticks():
    # A child burns CPU, says how much its own clock counted, then sleeps.
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import signal, time\n"
         "end = time.process_time() + 0.123\n"
         "while time.process_time() < end:\n"
         "    pass\n"
         "print(time.process_time(), flush=True)\n"
         "signal.pause()\n"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        own = float(child.stdout.readline())
        # Whole 10 ms ticks, as /proc/PID/stat has them, come out below ``own``.
        assert own <= cpu_seconds(child.pid) < own + 0.005
    finally:
        child.kill()
        child.wait()


def test_server_that_never_listens_is_reported():
    with pytest.raises(RuntimeError, match="did not start: boom"):
        Server("broken", [sys.executable, "-c", "import sys; sys.exit('boom')"])


def test_runner_end_to_end_on_idle_scenario(tmp_path, capsys):
    code = run.main(["--quick", "--scenarios", "idle", "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "idle subscribers" in out and "KiB/conn" in out
    raw = json.loads((tmp_path / "results.json").read_text())
    for server in ("picloud", "naive"):
        (m,) = raw["rounds"]["idle"][server]
        assert m["errors"] == []
        # A websocket connection costs some KiB, not nothing and not megabytes.
        assert 1 < m["kib_per_conn"] < 200
        assert m["peak_rss_mib"] > 5
    assert "| idle subscribers | picloud |" in (tmp_path / "results.md").read_text()
    assert not (tmp_path / "deliveries.png").exists()  # nothing to plot without fan-out runs

    (tmp_path / "results.md").unlink()
    assert run.main(["--report", str(tmp_path)]) == 0
    assert "| idle subscribers | picloud |" in (tmp_path / "results.md").read_text()
