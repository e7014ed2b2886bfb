"""``GET /metrics`` (picloud/server/metrics.py), read with prometheus_client's parser."""

from __future__ import annotations

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from picloud.server.metrics import CONTENT_TYPE
from tests.support.hub import KEY, post, read_json, send_json, subscribed


def samples(text: str) -> dict:
    """``{(sample name, ((label, value), ...)): value}`` of a scrape."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


async def scrape(http_client, base_url, **headers) -> dict:
    response = await http_client.fetch(base_url + "/metrics", headers=headers)
    assert response.headers["Content-Type"] == CONTENT_TYPE
    return samples(response.body.decode())


@pytest.mark.gen_test
async def test_counters_match_what_happened(ws, http_client, base_url, app):
    before = await scrape(http_client, base_url, **{"X-API-Key": KEY})
    assert before["picloud_messages_published_total", ()] == 0
    assert before["picloud_broker_reconnects_total", ()] == 0

    subs = [await ws("/subscribe", clientName=f"s{i}") for i in range(3)]
    for sub in subs:
        await subscribed(sub, "t")  # each sends one bad frame: 3 protocol errors
    await subscribed(subs[0], "u")
    pub = await ws("/publish", clientName="p")
    await send_json(pub, {"event": "t", "data": "x"})
    for sub in subs:
        await read_json(sub)
    response = await post(http_client, base_url, {"event": "u", "data": 1})
    assert response.code == 201
    assert (await read_json(subs[0]))["data"] == 1
    await post(http_client, base_url, {"event": "u"}, key="wrong")  # auth error
    await post(http_client, base_url, "not json")  # protocol error
    await post(http_client, base_url, {"event": "u"}, name=None)  # no client name

    got = await scrape(http_client, base_url, Authorization=f"Bearer {KEY}")
    assert got["picloud_messages_published_total", ()] == 2
    assert got["picloud_messages_delivered_total", ()] == 4  # 3 for t, 1 for u
    stamp = len(f',"seq":1,"epoch":"{app.state.pubsub.history.epoch}"')
    t_frame = len(b'{"action":"publish","event":"t","data":"x","created_at":"2026-11-25T21:40:13.433493Z"}') + stamp
    u_frame = len(b'{"action":"publish","event":"u","data":1,"created_at":"2026-11-25T21:40:13.433493Z"}') + stamp
    assert got["picloud_published_bytes_total", ()] == t_frame + u_frame
    assert got["picloud_delivered_bytes_total", ()] == 3 * t_frame + u_frame
    assert got["picloud_connections", ()] == 4
    assert got["picloud_subscriptions", ()] == 4
    assert got["picloud_subscribed_events", ()] == 2
    assert got["picloud_errors_total", (("kind", "protocol"),)] == 4 + 1
    assert got["picloud_errors_total", (("kind", "auth"),)] == 1
    assert got["picloud_errors_total", (("kind", "client_name"),)] == 1
    assert got["picloud_slow_consumers_total", ()] == 0
    assert got["picloud_dropped_frames_total", ()] == 0
    assert got["picloud_history_forgotten_events_total", ()] == 0
    assert got["picloud_topics_tracked", ()] == 2  # t and u; presence is $SYS/
    assert got["picloud_topics_forgotten_total", ()] == 0
    assert got["picloud_broker_up", ()] == 1
    assert got["picloud_info", (("version", __import__("picloud").__version__),)] == 1


@pytest.mark.gen_test
async def test_metrics_need_the_key(http_client, base_url):
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
        response = await http_client.fetch(base_url + "/metrics", headers=headers, raise_error=False)
        assert response.code == 401, headers
        assert "api key" in json.loads(response.body)["error"]
    response = await http_client.fetch(f"{base_url}/metrics?apiKey={KEY}")
    assert response.code == 200


@pytest.mark.gen_test
async def test_public_metrics(http_client, base_url, app, config):
    config.public_metrics = True
    response = await http_client.fetch(base_url + "/metrics")
    assert b"picloud_connections 0" in response.body


def test_healthz_and_metrics_of_a_real_hub(hub_process):
    from urllib.request import Request, urlopen

    hub = hub_process("--api-key", KEY, "--public-metrics")
    with urlopen(f"{hub.url}/healthz", timeout=10) as response:
        assert json.loads(response.read())["status"] == "ok"
    with urlopen(Request(f"{hub.url}/metrics"), timeout=10) as response:
        assert samples(response.read().decode())["picloud_connections", ()] == 0
