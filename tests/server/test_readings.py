"""``GET /readings`` and ``GET /readings/events`` on an in-process hub
(picloud/server/readings.py), with what the store makes of each message and
the store's metrics."""

from __future__ import annotations

import csv
import io
import time

import pytest

from picloud.config import Config
from picloud.hub.recording import Recorder
from picloud.server.app import make_app
from tests.support.hub import post
from tests.support.readings import counts, fetch, recorded, values

# Each write a twentieth of a second after the first message waits.
pytestmark = pytest.mark.config(store_interval=0.05)


class Clock:
    """The recorder's clock: from the start of the hour before last, each
    recorded message 10 s after the one before, so that raw points (one a
    second per series) and buckets are the test's to say."""

    def __init__(self) -> None:
        self.start = self.now = (time.time() // 3600 - 2) * 3600

    def __call__(self) -> float:
        now, self.now = self.now, self.now + 10
        return now


@pytest.fixture
def clock(app) -> Clock:
    """The in-process hub's recorder, on a Clock."""
    pubsub = app.state.pubsub
    clock = Clock()
    recorder = Recorder(pubsub.recorder.patterns, clock=clock)
    pubsub.retained.store.keep_readings(recorder)
    pubsub.recorder = recorder
    return clock


async def publish(http_client, base_url, *messages: tuple[str, object]) -> None:
    """Publish in this order, one request each (a batch is one request too,
    but one message a request is what a sensor does)."""
    for event, data in messages:
        response = await post(http_client, base_url, {"event": event, "data": data})
        assert response.code == 201, response.body


@pytest.mark.gen_test
async def test_numbers_objects_booleans_and_units_become_series(http_client, base_url, clock):
    await publish(http_client, base_url, ("plain", 21.5), ("plain", 22),
                  ("tasmota/plug", {"ENERGY": {"Power": 12.5, "Voltage": 230}, "Time": "2026-12-01T16:00:00"}),
                  ("door", True), ("door", False),
                  ("meter", {"power": 450, "unit": "W"}))
    assert values(await recorded(base_url, "meter")) == {"power": [450.0]}  # the last one: all are written
    plain = (await fetch(base_url, "/readings?event=plain"))[1]
    start = clock.start
    assert plain == {"event": "plain", "from": plain["from"], "to": plain["to"], "series": [
        {"field": "", "unit": None, "raw": True, "t": [start, start + 10], "value": [21.5, 22.0]}]}
    assert plain["to"] - plain["from"] == pytest.approx(86400)  # the last 24 hours by default
    plug = (await fetch(base_url, "/readings?event=tasmota/plug"))[1]["series"]
    assert [(s["field"], s["unit"], s["value"]) for s in plug] == [
        ("ENERGY.Power", None, [12.5]), ("ENERGY.Voltage", None, [230.0])]  # the time text is no number
    assert values((await fetch(base_url, "/readings?event=door"))[1]) == {"": [1.0, 0.0]}
    meter = (await fetch(base_url, "/readings?event=meter"))[1]["series"]
    assert [(s["field"], s["unit"]) for s in meter] == [("power", "W")]

    status, listing, _ = await fetch(base_url, "/readings/events")
    assert status == 200 and counts(listing) == {"door": 2, "meter": 1, "plain": 2, "tasmota/plug": 1}
    door = next(e for e in listing["events"] if e["event"] == "door")
    assert (door["first"], door["last"], door["unit"]) == (start + 30, start + 40, None)
    assert door["series"] == [{"field": "", "unit": None, "first": start + 30, "last": start + 40, "count": 2,
                               "value": 0.0}]
    assert next(e for e in listing["events"] if e["event"] == "meter")["unit"] == "W"


@pytest.mark.gen_test
async def test_raw_points_or_aggregates_per_step(http_client, base_url, clock):
    # Nine readings 10 s apart from the start of an hour: six in its first
    # minute, three in the second.
    await publish(http_client, base_url, *[("t", value) for value in (5, 1, 3, 2, 6, 4, 10, 30, 20)])
    raw = await recorded(base_url, "t", 9)
    assert values(raw) == {"": [5.0, 1.0, 3.0, 2.0, 6.0, 4.0, 10.0, 30.0, 20.0]}
    start = clock.start
    window = f"from={start:.0f}&to={start + 600:.0f}"
    minutes = (await fetch(base_url, f"/readings?event=t&{window}&step=1m"))[1]
    assert (minutes["from"], minutes["to"]) == (start, start + 600)
    assert minutes["series"] == [{
        "field": "", "unit": None, "raw": False, "step": 60, "t": [start, start + 60],
        "min": [1.0, 10.0], "max": [6.0, 30.0], "mean": [3.5, 20.0], "last": [4.0, 20.0], "count": [6, 3]}]
    # Under a minute, from the raw points.
    halves = (await fetch(base_url, f"/readings?event=t&{window}&step=30"))[1]["series"][0]
    assert (halves["step"], halves["t"], halves["count"]) == (30, [start, start + 30, start + 60], [3, 3, 3])
    assert (halves["min"], halves["max"], halves["last"]) == ([1.0, 2.0, 10.0], [5.0, 6.0, 30.0], [3.0, 4.0, 20.0])
    # An hour (from the hour rollups) holds them all.
    hour = (await fetch(base_url, f"/readings?event=t&{window}&step=1h"))[1]["series"][0]
    assert (hour["t"], hour["count"], hour["min"], hour["max"], hour["mean"]) == (
        [start], [9], [1.0], [30.0], [9.0])
    # A window holding only the last three.
    late = (await fetch(base_url, f"/readings?event=t&from={start + 60:.0f}&to={start + 600:.0f}"))[1]
    assert values(late) == {"": [10.0, 30.0, 20.0]}


@pytest.mark.gen_test
async def test_a_window_from_within_a_minute_is_raw_too(http_client, base_url, clock):
    """Few points, none thinned out: raw, wherever in a minute the window
    starts. (stores/sqlite/query.py's _rolled_up_before takes the minute
    rollup that straddles 'from' for rollups reaching back before the raw
    points, though what it holds from before 'from' is outside the window:
    from 5 s before a minute's end the answer is aggregated instead.)"""
    await publish(http_client, base_url, *[("t", value) for value in range(9)])  # 10 s apart
    await recorded(base_url, "t", 9)
    for offset in (50, 55, 60, 65):
        found = (await fetch(base_url, f"/readings?event=t&from={clock.start + offset:.0f}"))[1]
        assert found["series"][0]["raw"] is True, offset
        assert values(found) == {"": [float(v) for v in range(9) if v * 10 >= offset]}, offset


@pytest.mark.gen_test
async def test_csv_has_a_header_and_a_row_per_point_or_step(http_client, base_url, clock):
    await publish(http_client, base_url, ("sensors/hall", {"temperature": 20.5, "unit": "°C"}),
                  ("sensors/hall", {"temperature": 21.5, "unit": "°C"}))
    await recorded(base_url, "sensors/hall", 2)
    status, text, headers = await fetch(base_url, "/readings?event=sensors/hall&format=csv")
    assert status == 200
    assert headers["Content-Type"] == "text/csv; charset=UTF-8"
    assert headers["Content-Disposition"] == 'attachment; filename="sensors_hall.csv"'
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["time", "event", "field", "unit", "min", "max", "mean", "last", "count"]
    first = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(clock.start))
    assert rows[1:] == [[first, "sensors/hall", "temperature", "°C", "20.5", "20.5", "20.5", "20.5", "1"],
                        [first[:17] + "10.000Z", "sensors/hall", "temperature", "°C", *["21.5"] * 4, "1"]]
    status, text, _ = await fetch(base_url, "/readings?event=sensors/hall&format=csv&step=1m")
    assert list(csv.reader(io.StringIO(text)))[1:] == [
        [first, "sensors/hall", "temperature", "°C", "20.5", "21.5", "21.0", "21.5", "2"]]


@pytest.mark.gen_test
@pytest.mark.parametrize(("query", "error"), [
    ("", "missing 'event'"),
    ("event=t/%2B", "readings are of one event, not a filter like 't/+'"),
    ("event=t/%23", "readings are of one event, not a filter like 't/#'"),
    ("event=t&from=yesterday", "'from' must be RFC 3339, Unix seconds or like -24h, not 'yesterday'"),
    ("event=t&to=soon", "'to' must be RFC 3339, Unix seconds or like -24h, not 'soon'"),
    ("event=t&from=99999999999999999999", "'from' must be RFC 3339, Unix seconds or like -24h, "
                                          "not '99999999999999999999'"),
    ("event=t&from=-99999999999y", "'from' must be RFC 3339, Unix seconds or like -24h, not '-99999999999y'"),
    ("event=t&step=fast", "'step' must be seconds > 0 or like 5m, not 'fast'"),
    ("event=t&step=-5", "'step' must be seconds > 0 or like 5m, not '-5'"),
    ("event=t&step=0s", "'step' must be seconds > 0 or like 5m, not '0s'"),
    ("event=t&format=xml", "'format' must be json or csv, not 'xml'"),
    ("event=t&from=1796000000&to=1795996400",
     "'to' (2026-11-29T23:53:20.000Z) is before 'from' (2026-11-30T00:53:20.000Z)"),
    ("event=t&from=1796000000&to=1796086400&step=1",
     "step 1s from 2026-11-30T00:53:20.000Z to 2026-12-01T00:53:20.000Z is more than 10000 points: "
     "use a longer step"),
])
async def test_a_bad_query_is_400_naming_what_is_wrong(http_client, base_url, query, error):
    status, body, _ = await fetch(base_url, f"/readings?{query}")
    assert (status, body) == (400, {"error": error})


@pytest.mark.gen_test
async def test_the_key_is_needed(http_client, base_url):
    for path in ("/readings?event=t", "/readings/events"):
        status, body, _ = await fetch(base_url, path, key=None)
        assert (status, body) == (401, {"error": "missing api key"})
    status, body, _ = await fetch(base_url, "/readings?event=never")  # with it: nothing yet
    assert status == 200 and body["series"] == []


TABLET, SENSOR, ADMIN = "Zr4p0Tf2Yq5Kx8Nn", "Ab9Lm3Qw7Ee1Rt6Y", "Hh2Jj5Kk8Ll1Zz4X"


class TestTopicRights:
    """A key held to ``sensors/#`` reads those readings only; a key that may
    only publish reads none."""

    @pytest.fixture
    def app(self, tmp_path):
        keys = tmp_path / "keys"
        keys.write_text(f"{TABLET} subscribe sensors/#\n{SENSOR} publish sensors/#\n{ADMIN} admin\n")
        return make_app(Config(keys_file=str(keys), state_dir=tmp_path / "state", store_interval=0.05))

    @pytest.mark.gen_test
    async def test_a_key_reads_only_its_topics(self, http_client, base_url):
        for event in ("door/state", "sensors/kitchen/temp"):
            assert (await post(http_client, base_url, {"event": event, "data": 1}, key=ADMIN)).code == 201
        await recorded(base_url, "sensors/kitchen/temp", key=ADMIN)
        assert counts((await fetch(base_url, "/readings/events", ADMIN))[1]) == {
            "door/state": 1, "sensors/kitchen/temp": 1}
        assert counts((await fetch(base_url, "/readings/events", TABLET))[1]) == {"sensors/kitchen/temp": 1}
        status, body, _ = await fetch(base_url, "/readings?event=sensors/kitchen/temp", TABLET)
        assert status == 200 and values(body) == {"": [1.0]}
        status, body, _ = await fetch(base_url, "/readings?event=door/state", TABLET)
        assert (status, body) == (403, {"error": "this key may not read 'door/state' (its topics: sensors/#)"})
        for path in ("/readings?event=sensors/kitchen/temp", "/readings/events"):  # reading needs subscribe
            assert (await fetch(base_url, path, SENSOR))[:2] == (403, {"error": "this key may not subscribe"})


@pytest.mark.gen_test
@pytest.mark.config(no_record=True)
async def test_no_record_answers_404_and_shows_no_store_metrics(http_client, base_url):
    assert (await post(http_client, base_url, {"event": "t", "data": 1})).code == 201
    for path in ("/readings?event=t", "/readings/events"):
        status, body, _ = await fetch(base_url, path)
        assert (status, body) == (404, {"error": "this hub records no readings (see --record)"})
    assert "picloud_store_" not in (await fetch(base_url, "/metrics"))[1]


@pytest.mark.gen_test
@pytest.mark.parametrize("asked", [
    False, pytest.param(True, marks=pytest.mark.config(store_interval=0.05, record=("#", "$SYS/#")))])
async def test_presence_is_recorded_only_when_asked_for(http_client, base_url, ws, asked):
    conn = await ws("/subscribe", clientName="kitchen")  # $SYS/clients/kitchen: online
    await publish(http_client, base_url, ("after", 1))
    await recorded(base_url, "after")
    listing = counts((await fetch(base_url, "/readings/events"))[1])
    conn.close()
    assert listing == ({"$SYS/clients/kitchen": 1, "after": 1} if asked else {"after": 1})


DISCOVERY = "homeassistant/sensor/{0}/temperature/config"


def discovery(node: str) -> dict:
    """A Home Assistant discovery config for ``house/<node>/state``'s temperature."""
    return {"event": DISCOVERY.format(node), "retain": True, "data": {
        "name": "Temperature", "state_topic": f"house/{node}/state", "unit_of_measurement": "°C",
        "value_template": "{{ value_json.temperature }}", "device_class": "temperature"}}


@pytest.mark.gen_test
async def test_a_discovery_config_gives_its_state_topic_a_unit(http_client, base_url):
    # Before the readings (retained, as Zigbee2MQTT and Tasmota publish it).
    assert (await post(http_client, base_url, discovery("hall"))).code == 201
    await publish(http_client, base_url, ("house/hall/state", {"temperature": 19.5, "humidity": 40}))
    found = await recorded(base_url, "house/hall/state")
    assert [(s["field"], s["unit"]) for s in found["series"]] == [("humidity", None), ("temperature", "°C")]

    # After them: the series already recorded takes it.
    await publish(http_client, base_url, ("house/loft/state", {"temperature": 25.0}))
    await recorded(base_url, "house/loft/state")
    assert (await post(http_client, base_url, discovery("loft"))).code == 201
    await recorded(base_url, DISCOVERY.format("loft"))
    found = (await fetch(base_url, "/readings?event=house/loft/state"))[1]
    assert [(s["field"], s["unit"], s["value"]) for s in found["series"]] == [("temperature", "°C", [25.0])]
    listing = (await fetch(base_url, "/readings/events"))[1]["events"]
    assert {e["event"]: e["unit"] for e in listing if e["event"].startswith("house/")} == {
        "house/hall/state": "°C", "house/loft/state": "°C"}  # the one unit its series give


def samples(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


@pytest.mark.gen_test
async def test_metrics_show_the_store(http_client, base_url):
    await publish(http_client, base_url, ("a", 1), ("b", {"x": 1, "y": 2}), ("c", "no number"))
    await recorded(base_url, "c")
    found = samples((await fetch(base_url, "/metrics"))[1])
    assert found["picloud_store_bytes"] > 0
    assert (found["picloud_store_series"], found["picloud_store_events"]) == (3, 3)
    assert found["picloud_store_writes_total"] >= 1
    for reason in ("series_limit", "behind", "write_failed", "unreadable"):
        assert found[f'picloud_store_dropped_total{{reason="{reason}"}}'] == 0
