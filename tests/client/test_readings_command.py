"""``picloud readings`` as a real process against a real hub (picloud/client/readings.py)."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest

from picloud.wire.times import rfc3339
from tests.client.test_commands import cli_env, picloud
from tests.support.hub import KEY
from tests.support.process import HubProcess, http_publish
from tests.support.readings import wait_recorded


def when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A hub that recorded one temperature, and where to reach it: the hub
    is only read from, so the module's tests share it."""
    state = tmp_path_factory.mktemp("readings") / "state"
    hub = HubProcess(["--state-dir", str(state), "--api-key", KEY, "--store-interval", "0.05"])
    try:
        body = {"event": "sensors/hall", "data": {"temperature": 20.5, "unit": "°C"}}
        assert http_publish(hub, KEY, body) == 201
        found = wait_recorded(hub.url, "sensors/hall")
        yield hub, found
    finally:
        hub.stop()


@pytest.fixture
def env(recorded, tmp_path):
    return cli_env(tmp_path, PICLOUD_URL=recorded[0].url, PICLOUD_API_KEY=KEY)


def test_a_table_by_default(recorded, env):
    t = recorded[1]["series"][0]["t"][0]
    done = picloud("readings", "sensors/hall", "--since", "1h", env=env)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"sensors/hall temperature (°C): 1 point\n  {when(t)}  20.5\n"


def test_steps_of_a_minute(recorded, env):
    t = recorded[1]["series"][0]["t"][0]
    done = picloud("readings", "sensors/hall", "--since", "1h", "--step", "1m", env=env)
    assert done.returncode == 0, done.stderr
    minute = when(t // 60 * 60)
    assert done.stdout == (f"sensors/hall temperature (°C): 1 steps of 60s (min, mean, max)\n"
                           f"  {minute}  20.5  20.5  20.5\n")


def test_csv(recorded, env):
    t = recorded[1]["series"][0]["t"][0]
    done = picloud("readings", "sensors/hall", "--csv", env=env)
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows == [["time", "event", "field", "unit", "min", "max", "mean", "last", "count"],
                    [rfc3339(t), "sensors/hall", "temperature", "°C", "20.5", "20.5", "20.5", "20.5", "1"]]


def test_json_is_the_hubs_answer(recorded, env):
    done = picloud("readings", "sensors/hall", "--since", "2h", "--until", "now", "--json", env=env)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["series"] == recorded[1]["series"]
    assert answer["to"] - answer["from"] == pytest.approx(7200)


@pytest.mark.parametrize(("args", "error"), [
    (["--since", "yesterday"], "Error: '--since' must be RFC 3339, Unix seconds or like -24h, not 'yesterday'"),
    (["--step", "0s"], "Error: '--step' must be seconds > 0 or like 5m, not '0s'"),
    (["--since", "30d", "--step", "1"], "Error: the hub at {url} answered 400: step 1s from"),
])
def test_a_bad_time_is_one_line(recorded, env, args, error):
    done = picloud("readings", "sensors/hall", *args, env=env)
    assert (done.returncode, done.stdout) == (1, "")
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(error.format(url=recorded[0].url)), done.stderr


def test_an_event_never_recorded(env):
    done = picloud("readings", "sensors/attic", env=env)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "nothing recorded of sensors/attic in that time\n"
