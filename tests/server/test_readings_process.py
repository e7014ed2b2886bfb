"""Readings recorded by real ``picloud serve`` processes: across a restart and
a kill -9, within --record-max-series and --record, from MQTT publishers, and
by a hub of a Redis cluster that records what another hub's clients publish."""

from __future__ import annotations

import signal
import sqlite3

from tests.support.hub import KEY
from tests.support.mqtt import Peer
from tests.support.process import http_publish, metrics
from tests.support.readings import counts, get, values, wait_recorded
from tests.support.redisserver import wait_until

QUICK = ("--api-key", KEY, "--store-interval", "0.05")


def publish(hub, event: str, data) -> None:
    assert http_publish(hub, KEY, {"event": event, "data": data}) == 201


def test_readings_outlive_a_clean_restart(hub_process):
    # The default interval: the reading is still waiting when SIGTERM comes,
    # and the shutdown writes it.
    hub = hub_process("--api-key", KEY)
    publish(hub, "sensors/hall/temp", 21.5)
    assert hub.stop() == 0
    again = hub_process(*QUICK)
    assert values(wait_recorded(again.url, "sensors/hall/temp")) == {"": [21.5]}
    publish(again, "sensors/hall/temp", 22.5)  # and the series goes on
    found = wait_recorded(again.url, "sensors/hall/temp", 2)
    assert found["series"][0]["value"][0] == 21.5  # (22.5 raw too if a second after it)
    (event,) = get(again.url, "/readings/events")[1]["events"]
    assert [(s["count"], s["value"]) for s in event["series"]] == [(2, 22.5)]


def test_readings_written_before_a_kill_survive_it(hub_process, tmp_path):
    hub = hub_process(*QUICK)
    publish(hub, "sensors/hall/temp", 21.5)
    publish(hub, "sensors/hall/power", {"ENERGY": {"Power": 40}})
    wait_recorded(hub.url, "sensors/hall/power")  # a store interval has passed: committed
    assert hub.stop(signal.SIGKILL) == -signal.SIGKILL
    database = tmp_path / "state" / "picloud.db"
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("SELECT name FROM events ORDER BY name").fetchall() == [
            ("sensors/hall/power",), ("sensors/hall/temp",)]
    conn.close()
    again = hub_process(*QUICK)
    assert values(wait_recorded(again.url, "sensors/hall/temp")) == {"": [21.5]}
    assert values(wait_recorded(again.url, "sensors/hall/power")) == {"ENERGY.Power": [40.0]}


def test_new_series_stop_at_record_max_series(hub_process):
    hub = hub_process(*QUICK, "--record-max-series", "2")
    publish(hub, "a", 1)
    publish(hub, "b", 2)
    publish(hub, "c", 3)  # the third series (and event): not recorded
    publish(hub, "a", 10)  # the first two go on
    wait_recorded(hub.url, "a", 2)  # written with c's refusal, in order
    dropped = 'picloud_store_dropped_total{reason="series_limit"}'
    assert metrics(hub)[dropped] == 1
    assert values(get(hub.url, "/readings?event=c")[1]) == {}
    publish(hub, "d", {"x": 4, "y": 5})  # another new one, dropped too
    publish(hub, "b", 20)
    wait_recorded(hub.url, "b", 2)
    assert metrics(hub)[dropped] == 2
    assert metrics(hub)["picloud_store_series"] == 2
    listing = {e["event"]: e["series"] for e in get(hub.url, "/readings/events")[1]["events"]}
    assert sorted(listing) == ["a", "b"]
    assert [(s["count"], s["value"]) for s in listing["a"]] == [(2, 10.0)]  # its last value
    warned = [line for line in hub.stderr_lines if "--record-max-series" in line]
    assert len(warned) == 1, warned  # once, however many are dropped
    assert ("2 series and 2 events recorded (--record-max-series): 'c' field '' and later new ones are not "
            "recorded") in warned[0]


def test_record_keeps_only_the_matching_events(hub_process):
    hub = hub_process(*QUICK, "--record", "sensors/#", "--record", "door")
    for event in ("sensors/hall/temp", "lights/hall", "door", "doorbell", "sensors/loft/temp"):
        publish(hub, event, 1)
    wait_recorded(hub.url, "sensors/loft/temp")  # the last: those before it are written too
    assert counts(get(hub.url, "/readings/events")[1]) == {"door": 1, "sensors/hall/temp": 1, "sensors/loft/temp": 1}
    status, body = get(hub.url, "/readings?event=lights/hall")
    assert (status, body["series"]) == (200, [])


def test_a_bad_pattern_to_record_is_one_line(run_serve):
    done = run_serve("--api-key", KEY, "--port", "0", "--no-mqtt", "--record", "sensors/#/temp")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "Error: --record 'sensors/#/temp': '#' must be the last level in 'sensors/#/temp'"]


def test_mqtt_publishes_are_recorded_like_websocket_ones(hub_process):
    hub = hub_process(*QUICK)
    peer = Peer(hub.mqtt_port, "plug")
    peer.publish("mqtt/temp", b"21.5", qos=0)
    peer.publish("mqtt/plug", b'{"ENERGY": {"Power": 12.5}, "unit": "W"}', qos=1)
    peer.close()
    publish(hub, "http/temp", 21.5)
    publish(hub, "http/plug", {"ENERGY": {"Power": 12.5}, "unit": "W"})

    def shape(event: str):
        return [(s["field"], s["unit"], s["raw"], s["value"]) for s in wait_recorded(hub.url, event)["series"]]

    assert shape("mqtt/temp") == shape("http/temp") == [("", None, True, [21.5])]
    assert shape("mqtt/plug") == shape("http/plug") == [("ENERGY.Power", "W", True, [12.5])]


def test_a_redis_hub_records_what_the_other_hubs_clients_publish(hubs, redis_server, tmp_path):
    server = redis_server()
    (plain,) = hubs(server, 1)
    assert server.pattern_count() == 0
    recorder = hubs(server, 1, "--record", "house/#", "--store-interval", "0.05",
                    "--state-dir", str(tmp_path / "recorder"))[0]
    # The recording hub listens for house/# with no client of its own.
    wait_until(lambda: server.pattern_count() == 1, "the recording hub's pattern")
    publish(plain, "garden/temp", 12.0)
    publish(plain, "house/temp", 21.5)
    assert values(wait_recorded(recorder.url, "house/temp")) == {"": [21.5]}
    assert counts(get(recorder.url, "/readings/events")[1]) == {"house/temp": 1}
    status, body = get(plain.url, "/readings?event=house/temp")
    assert (status, body) == (404, {"error": "this hub records no readings (see --record)"})
