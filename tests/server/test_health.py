"""``GET /healthz`` (picloud/server/health.py): public, says nothing of
messages or clients, degraded without the broker, 503 while stopping."""

from __future__ import annotations

import json

import pytest

from picloud.brokers import MemoryBroker


@pytest.mark.gen_test
async def test_health_is_public_and_reveals_nothing(http_client, base_url):
    response = await http_client.fetch(f"{base_url}/healthz")
    body = json.loads(response.body)
    assert body["status"] == "ok"
    assert "subscriptions" not in body and "all_connections" not in body


class AwayBroker(MemoryBroker):
    """A broker whose other hubs cannot be reached."""

    state = "degraded"


@pytest.mark.gen_test
async def test_healthz(ws, http_client, base_url, app):
    await ws("/subscribe", clientName="a")
    await ws("/info")  # not a client connection
    response = await http_client.fetch(base_url + "/healthz")
    doc = json.loads(response.body)
    assert doc["status"] == "ok"
    assert doc["connections"] == 1
    assert doc["broker"] == "ok"
    assert set(doc) == {"status", "uptime", "connections", "broker"}

    app.state.pubsub.broker = AwayBroker()
    doc = json.loads((await http_client.fetch(base_url + "/healthz")).body)
    assert (doc["status"], doc["broker"]) == ("degraded", "degraded")

    await app.state.shutdown(drain=1)
    response = await http_client.fetch(base_url + "/healthz", raise_error=False)
    assert response.code == 503
    assert json.loads(response.body)["status"] == "stopping"
