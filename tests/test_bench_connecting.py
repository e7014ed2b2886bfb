"""``python -m bench``'s connection scenarios (bench/connecting.py): the
workers' names, a refusal counted, the tables, and both scenarios end to end
against real servers, one short round (mqtt-connect is skipped without
mosquitto)."""

from __future__ import annotations

import asyncio
import json

import pytest

from bench import compare, connecting, mosquitto, results, run, scenarios
from bench.procs import Server, server_commands
from bench.report import Measurement

KEY = "bench-key-0123456789"

needs_mosquitto = pytest.mark.skipif(mosquitto.find() is None, reason="mosquitto is not installed")


def test_a_name_is_only_ever_one_connections_at_a_time():
    open_now: set[str] = set()
    seen: list[str] = []
    most = 0

    async def cycle(name: str) -> None:
        nonlocal most
        assert name not in open_now
        open_now.add(name)
        most = max(most, len(open_now))
        await asyncio.sleep(0)
        seen.append(name)
        open_now.discard(name)

    done = asyncio.run(connecting.churn(cycle, 100, parallel=4, names=8))
    assert (done.done, done.failed, done.errors) == (100, 0, [])
    assert most == 4
    assert sorted(set(seen)) == sorted(f"dev-{i}" for i in range(8))


@pytest.fixture
def naive():
    server = Server("naive", server_commands(KEY)["naive"])
    yield server
    server.stop()


def test_refused_connections_are_counted_and_named(naive):
    connecting.retain_over_http(naive.port, KEY)
    done = asyncio.run(connecting.churn(connecting.websocket_cycle(naive.port, "wrong"), 10, parallel=2))
    assert (done.done, done.failed) == (0, 10)
    assert len(done.errors) == 3 and "upgrade refused" in done.errors[0] and "401" in done.errors[0]


def test_each_connection_gets_the_retained_value(naive):
    connecting.retain_over_http(naive.port, KEY)
    m = connecting.measure_churn(naive, connecting.websocket_cycle(naive.port, KEY), 40)
    assert m.errors == [] and m.lost == 0 and m.subs == 40
    assert m.cpu_ms_per_conn > 0 and m.deliveries_per_s > 0
    assert m.cpu_per_100k == pytest.approx(m.cpu_ms_per_conn * 100)


def test_the_baseline_table_shows_cpu_per_connection():
    rounds = {"picloud": [Measurement(cpu_ms_per_conn=v, cpu_per_100k=v * 100) for v in (0.2, 0.25, 0.3, 0.2, 0.2)],
              "baseline": [Measurement(cpu_ms_per_conn=v, cpu_per_100k=v * 100) for v in (0.4, 0.5, 0.4, 0.4, 0.6)]}
    row = results.make_row(scenarios.BY_NAME["connect"], rounds)
    text = compare.text_table([row])
    assert "0.200 ms/conn (0.200-0.300)" in text and "0.400 ms/conn (0.400-0.600)" in text
    assert "0.500x CPU/conn" in text


def test_runner_end_to_end_on_the_websocket_connections(tmp_path, capsys):
    assert run.main(["--quick", "--scenarios", "connect", "--out", str(tmp_path)]) == 0
    assert "connect, subscribe, 1 message, close" in capsys.readouterr().out
    raw = json.loads((tmp_path / "results.json").read_text())["rounds"]["connect"]
    assert sorted(raw) == ["naive", "picloud"]
    for server, (m,) in raw.items():
        assert m["errors"] == [] and m["lost"] == 0, server
        assert m["subs"] == 200 and m["deliveries_per_s"] > 10, server
        assert 0 < m["cpu_ms_per_conn"] < 100, server


@needs_mosquitto
def test_runner_end_to_end_on_the_mqtt_connections(tmp_path, capsys):
    assert run.main(["--quick", "--scenarios", "mqtt-connect", "--out", str(tmp_path)]) == 0
    assert "MQTT connect, subscribe, 1 message, disconnect" in capsys.readouterr().out
    raw = json.loads((tmp_path / "results.json").read_text())["rounds"]["mqtt-connect"]
    assert sorted(raw) == ["mosquitto", "picloud"]
    for server, (m,) in raw.items():
        assert m["errors"] == [] and m["lost"] == 0, server
        assert m["subs"] == 200 and 0 < m["cpu_ms_per_conn"] < 100, server
