"""``python -m bench``'s MQTT scenarios: mqttbench's line read and when a
round is the generator's, Mosquitto started with the hub's limits (and
listening for websockets or TLS), the rows and the MQTT table; then the
scenarios end to end, over TCP, websockets and TLS, tiny and one round,
against real hubs and a real Mosquitto (skipped without mosquitto, or
without an mqttbench or the Go toolchain to build one)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from bench import certs, clients, compare, mosquitto, mqtt_report, mqttbench, procs, results, run, scenarios
from bench.mqtt_scenarios import MQTT_SCENARIOS
from bench.report import Measurement

KEY = "bench-key-0123456789"

LINE = {
    "broker_cpu_s": 0.6, "broker_cpu_s_per_100k": 0.3, "client_cpu_s": 0.9, "connect_s": 0.014,
    "deliveries_per_s": 187838.9, "duplicates": 0, "errors": [], "events": 1, "expected": 200000, "lost": 0,
    "max_ms": 53.3, "n": 2000, "p50_ms": 16.9, "p99_ms": 39.9, "publishes_per_s": 1878.4, "pubs": 1, "qos": 0,
    "received": 200000, "seconds": 1.0, "sent": 2000, "size": 64, "subs": 100, "url": "tcp://127.0.0.1:1",
    "window": 50,
}

needs_mosquitto = pytest.mark.skipif(mosquitto.find() is None, reason="mosquitto is not installed")
UNBUILDABLE = mqttbench.unbuildable()
needs_mqttbench = pytest.mark.skipif(UNBUILDABLE is not None, reason=UNBUILDABLE or "")


def test_measurement_of_an_mqttbench_line():
    m = mqttbench.measurement(LINE, machine=2)
    assert (m.deliveries_per_s, m.p50_ms, m.p99_ms, m.subs, m.lost) == (187838.9, 16.9, 39.9, 100, 0)
    assert m.cpu_per_100k == 0.3  # the broker's, as -broker-pid read it
    assert m.pcbench_cpu_per_100k == pytest.approx(0.9 / 200000 * 100_000)
    assert m.generator_cores == pytest.approx(0.9)  # of the 1.4 the broker left: 64%
    assert not m.saturated and m.errors == [] and m.notes == []


def test_losses_repeats_and_no_deliveries():
    m = mqttbench.measurement({**LINE, "received": 199000, "duplicates": 3, "errors": ["1000 missing"]}, 2)
    assert m.lost == 1000 and m.errors == ["1000 missing", "3 deliveries repeated"]
    m = mqttbench.measurement({**LINE, "received": 0, "deliveries_per_s": 0, "p50_ms": -1, "p99_ms": -1}, 2)
    assert (m.cpu_per_100k, m.pcbench_cpu_per_100k, m.p50_ms, m.p99_ms) == (None, None, None, None)


def test_a_generator_that_took_what_the_broker_left_saturated():
    # Two cores, the broker busy 0.4 of one: 1.6 left, 80% of it is 1.28.
    assert mqttbench.saturated(1.3, 0.4, 2) and not mqttbench.saturated(1.2, 0.4, 2)
    # A broker at its one core set the rate itself.
    assert not mqttbench.saturated(1.05, 0.95, 2)
    m = mqttbench.measurement({**LINE, "client_cpu_s": 1.3, "broker_cpu_s": 0.4}, machine=2)
    assert m.saturated == 1
    assert m.notes == ["generator saturated: 1.30 cores of the 1.60 the broker left (0.40 busy)"]


def test_parse_output_takes_the_result_line_only():
    assert mqttbench.parse_output("connecting\n" + json.dumps(LINE) + "\n")["subs"] == 100
    for text in ["", "mqttbench: connect: connection refused", '{"other": 1}']:
        with pytest.raises(mqttbench.MqttbenchError, match="no result line"):
            mqttbench.parse_output(text)


def test_command_names_the_broker_and_the_key():
    args = mqttbench.command("/x/mqttbench", "ws://127.0.0.1:8080/mqtt", "k", 42, {"subs": 100, "qos": 1})
    assert args == ["/x/mqttbench", "-url", "ws://127.0.0.1:8080/mqtt", "-username", "bench", "-password", "k",
                    "-broker-pid", "42", "-subs", "100", "-qos", "1"]


def test_mqtt_urls_name_the_listeners_there_are():
    assert procs.mqtt_urls(1883) == {"tcp": "tcp://127.0.0.1:1883"}
    assert procs.mqtt_urls(1883, 8080, 8883) == {
        "tcp": "tcp://127.0.0.1:1883", "ws": "ws://127.0.0.1:8080/mqtt", "tls": "ssl://127.0.0.1:8883"}
    assert procs.mqtt_urls(0, tls=8883) == {"tls": "ssl://127.0.0.1:8883"}


def test_mosquitto_gets_the_hubs_default_limits():
    lines = mosquitto.config(18831).splitlines()
    assert lines[0] == "listener 18831 127.0.0.1"
    for line in ["max_packet_size 1048576", "max_queued_messages 1000", "max_inflight_messages 20",
                 "max_connections 10000", "persistence false", "log_dest stderr"]:
        assert line in lines


def test_mosquittos_websocket_and_tls_listeners_have_the_same_limits():
    more = [*mosquitto.websocket_listener(18832), *mosquitto.tls_listener(18833, (Path("c.crt"), Path("c.key")))]
    lines = mosquitto.config(18831, more).splitlines()
    # Its libwebsockets binds the interface named, not an address.
    assert lines[:9] == [
        "listener 18831 127.0.0.1", "max_connections 10000",
        "listener 18832 lo", "max_connections 10000", "protocol websockets",
        "listener 18833 127.0.0.1", "max_connections 10000", "certfile c.crt", "keyfile c.key",
    ]


@needs_mosquitto
def test_mosquitto_runs_on_a_free_port_until_stopped():
    broker = mosquitto.Mosquitto([mosquitto.find()])
    try:
        assert broker.mqtt_port == broker.port > 0 and broker.proc.poll() is None
        clients.mqtt_subscriber(broker.mqtt_port, KEY, "probe", "probe/topic").close()
        assert broker.status_kib() > 0
    finally:
        broker.stop()
    assert broker.proc.returncode == 0 and not broker.dir.exists()


@needs_mosquitto
@pytest.mark.parametrize("transport", [procs.WS, procs.TLS])
def test_mosquitto_listens_on_the_loopback_for_websockets_and_tls(transport):
    with certs.temporary() as certificate:
        broker = mosquitto.Mosquitto([mosquitto.find()], transport, certificate)
        try:
            assert sorted(broker.mqtt_urls) == sorted(["tcp", transport])
            port = int(broker.mqtt_urls[transport].split(":")[-1].split("/")[0])
            (address,) = listening_addresses(port)
            # The websocket listener is an IPv6 socket bound to ::ffff:127.0.0.1.
            assert (getattr(address, "ipv4_mapped", None) or address).is_loopback, address
        finally:
            broker.stop()
    assert broker.proc.returncode == 0


def listening_addresses(port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The local addresses of the sockets listening on ``port``, from /proc/net."""
    found = []
    for name in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                raw = bytes.fromhex(address)
                # Each 32-bit word is in host (little-endian) order.
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                found.append(ipaddress.ip_address(words))
    return found


def test_a_certificate_for_the_tls_scenarios_is_made_and_removed():
    with certs.temporary() as (cert, key):
        assert cert.read_text().startswith("-----BEGIN CERTIFICATE-----") and "PRIVATE KEY" in key.read_text()
        assert cert.parent.stat().st_mode & 0o005 == 0o005  # Mosquitto reads it as a user of its own
    assert not cert.parent.exists()
    with certs.temporary(False) as none:
        assert none is None


def test_mqtt_scenarios_put_their_references_where_naive_stands():
    idle = scenarios.BY_NAME["mqtt-idle"]
    assert run.scenario_order(("naive", "picloud"), idle) == ("mosquitto", "picloud-ws", "picloud")
    assert run.scenario_order(("picloud", "baseline"), idle) == ("picloud", "baseline")
    assert run.scenario_order(("picloud", "naive"), scenarios.BY_NAME["fanin"]) == ("picloud", "naive")
    assert [s.name for s in scenarios.select("mqtt")] == [s.name for s in MQTT_SCENARIOS]
    assert [s.name for s in scenarios.select("mqtt-idle,fanin")] == ["fanin", "mqtt-idle"]


def fanout_rounds() -> dict[str, list[Measurement]]:
    return {
        "picloud": [Measurement(deliveries_per_s=v, cpu_per_100k=c, saturated=s)
                    for v, c, s in [(900.0, 0.9, 1), (300.0, 0.1, 0), (330.0, 0.12, 0)]],
        "mosquitto": [Measurement(deliveries_per_s=v, cpu_per_100k=0.4, saturated=1) for v in (100.0, 200.0)],
    }


def test_saturated_rounds_are_left_out_and_said():
    row = results.make_row(scenarios.BY_NAME["mqtt-fanout-qos0"], fanout_rounds())
    assert row.results["picloud"].deliveries_per_s == 315.0 and row.results["picloud"].saturated == 0
    # Every round of mosquitto saturated: its figures are of them all, and say so.
    assert row.results["mosquitto"].deliveries_per_s == 150.0 and row.results["mosquitto"].saturated == 2
    assert row.met is None
    assert row.ratio == pytest.approx(2.1)
    assert [compare.rounds_text(ms) for ms in row.rounds.values()] == ["2 of 3", "2, all saturated"]
    assert mqtt_report.saturation_lines([row]) == [
        "generator saturated: MQTT fan-out 1->100, QoS 0, window 50, picloud: round 1 of 3, left out of the figures",
        "generator saturated: MQTT fan-out 1->100, QoS 0, window 50, mosquitto: every round: the figures are "
        "the generator's, the target is not judged",
    ]
    # A round left out still counts for what it lost.
    lossy = fanout_rounds()
    lossy["picloud"][0].lost, lossy["picloud"][0].errors = 5, ["5 of 200000 deliveries missing"]
    picloud = results.make_row(scenarios.BY_NAME["mqtt-fanout-qos0"], lossy).results["picloud"]
    assert picloud.deliveries_per_s == 315.0 and picloud.lost == 5 and picloud.errors
    first = mqtt_report.cells([row])[0]
    assert first[:5] == ["MQTT fan-out 1->100, QoS 0, window 50", "picloud", "2 of 3", "315 (300-330)",
                         "0.110 (0.100-0.120)"]


def test_the_fanout_target_wants_the_rate_and_the_cpu():
    def rounds(pc_rate: float, pc_cpu: float) -> dict[str, list[Measurement]]:
        return {"picloud": [Measurement(deliveries_per_s=pc_rate, cpu_per_100k=pc_cpu)],
                "mosquitto": [Measurement(deliveries_per_s=100.0, cpu_per_100k=0.4)]}

    fanout = scenarios.BY_NAME["mqtt-fanout-qos0"]
    assert results.make_row(fanout, rounds(150.0, 0.2)).met is True
    assert results.make_row(fanout, rounds(149.0, 0.2)).met is False
    assert results.make_row(fanout, rounds(200.0, 0.21)).met is False


def test_an_idle_mqtt_connection_is_judged_against_an_idle_websocket():
    idle = scenarios.BY_NAME["mqtt-idle"]

    def row(websocket: float):
        return results.make_row(idle, {"picloud": [Measurement(kib_per_conn=6.0)],
                                       "mosquitto": [Measurement(kib_per_conn=1.5)],
                                       "picloud-ws": [Measurement(kib_per_conn=websocket)]})

    assert row(8.0).met is True and row(5.9).met is False
    cells = mqtt_report.cells([row(8.0)])
    assert [c[1] for c in cells] == ["picloud", "picloud-ws", "mosquitto"]
    assert cells[0][10] == "4.000x KiB/conn; 0.750x vs picloud-ws"
    # Without the websocket figure (a --baseline run, say) nothing is judged.
    assert results.make_row(idle, {"picloud": [Measurement(kib_per_conn=6.0)],
                                   "mosquitto": [Measurement(kib_per_conn=1.5)]}).met is None


@needs_mosquitto
def test_idle_mqtt_memory_end_to_end(tmp_path, capsys):
    assert run.main(["--quick", "--scenarios", "mqtt-idle", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "MQTT against Mosquitto" in out and "picloud-ws" in out
    raw = json.loads((tmp_path / "results.json").read_text())["rounds"]["mqtt-idle"]
    assert sorted(raw) == ["mosquitto", "picloud", "picloud-ws"]
    for server, (m,) in raw.items():
        assert m["errors"] == [], server
        assert m["subs"] == 200
        # Some KiB for the hub's connections; Mosquitto's cost less, but not nothing.
        assert (1 if server != "mosquitto" else 0.1) < m["kib_per_conn"] < 200, server
    assert "| idle MQTT connections | picloud | 1 |" in (tmp_path / "results.md").read_text()


@needs_mosquitto
@needs_mqttbench
def test_mqtt_load_scenarios_end_to_end(tmp_path, capsys):
    names = [s.name for s in MQTT_SCENARIOS if s.needs_mqttbench]
    assert run.main(["--quick", "--scenarios", ",".join(names), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "MQTT fan-in 50->1, QoS 1, window 5" in out and "MQTT/ws fan-out" in out and "MQTT/TLS fan-in" in out
    raw = json.loads((tmp_path / "results.json").read_text())["rounds"]
    assert sorted(raw) == sorted(names)
    # Over TCP and, QoS 0 fan-out and fan-in, over websockets and TLS too.
    over = {"ws": "over ws://", "tls": "over ssl://"}
    assert {s.transport for s in MQTT_SCENARIOS if s.needs_mqttbench} == {"tcp", "ws", "tls"}
    for name in names:
        assert sorted(raw[name]) == ["mosquitto", "picloud"]
        transport = scenarios.BY_NAME[name].transport
        for server, (m,) in raw[name].items():
            where = f"{name} {server}"
            assert [n for n in m["notes"] if n.startswith("over ")] == [over[t] for t in [transport] if t in over]
            assert m["errors"] == [] and m["lost"] == 0, where
            assert m["deliveries_per_s"] > 100 and m["p50_ms"] > 0, where
            # 10 ms ticks: a short run may show none of the broker's CPU.
            assert m["cpu_per_100k"] >= 0 and m["pcbench_cpu_per_100k"] > 0, where
            assert 0 < m["generator_cores"] <= mqttbench.cores() and m["other_cores"] >= 0, where
            assert m["peak_rss_mib"] > 1, where
