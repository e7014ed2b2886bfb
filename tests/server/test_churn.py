"""Churn: hundreds of clients come and go, cleanly or not, while a steady
publisher runs. Afterwards nothing is left of them and the steady
subscribers missed nothing."""

from __future__ import annotations

import asyncio
import json
import random
import time

from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from tests.support.aioraw import AioRaw
from tests.support.hub import KEY, MANY_AT_ONCE, subscribed

CHURNERS = 400
CONCURRENCY = 40
STEADY_MESSAGES = 300
MODES = ("clean", "reset", "half-close", "silent")


async def churner(port: int, n: int, rng: random.Random) -> str:
    mode = MODES[n % len(MODES)]
    kind = "subscribe" if n % 3 else "publish"
    protocol = "&protocol=2" if mode == "silent" else ""
    conn = await AioRaw.open(port, f"/{kind}?clientName=churn-{n}{protocol}", KEY)
    if kind == "subscribe":
        for event in ("steady", f"e{rng.randrange(20)}", f"e{rng.randrange(20)}"):
            conn.send_json({"action": "subscribe", "event": event})
    else:
        for i in range(rng.randrange(1, 5)):
            conn.send_json({"event": f"e{rng.randrange(20)}", "data": i})
    if rng.random() < 0.5:
        await conn.barrier()
    if mode == "clean":
        await conn.close_cleanly()
    elif mode == "reset":
        conn.reset()
    elif mode == "half-close":
        await conn.half_close()
    else:  # reads but never answers a ping: the hub must drop it
        await asyncio.wait_for(conn.drain_to_eof(), 10)
    return mode


async def info_until(info, condition, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = await asyncio.wait_for(info.read_message(), timeout)
        assert text is not None, (info.close_code, info.close_reason)
        snapshot = json.loads(text)
        if condition(snapshot):
            return snapshot
    raise AssertionError(f"info never matched: {snapshot}")


def test_churn_leaves_no_trace_and_steady_subscribers_miss_nothing(hub_process):
    hub = hub_process("--api-key", KEY, "--ping-interval", "0.5", "--info-interval", "0.2", *MANY_AT_ONCE)
    ws_url = hub.ws_url

    async def scenario():
        def request(path):
            return HTTPRequest(f"{ws_url}{path}", headers={"X-API-Key": KEY})

        steady = [await websocket_connect(request(f"/subscribe?clientName=steady-{i}")) for i in range(3)]
        for conn in steady:
            await subscribed(conn, "steady")
        publisher = await websocket_connect(request("/publish?clientName=steady-pub"))
        info = await websocket_connect(request("/info"))

        async def collect(conn):
            got = []
            while len(got) < STEADY_MESSAGES:
                message = json.loads(await conn.read_message())
                if message.get("event") == "steady":
                    got.append(message["data"])
            return got

        async def publish():
            for i in range(STEADY_MESSAGES):
                await publisher.write_message(json.dumps({"event": "steady", "data": i}))
                await asyncio.sleep(0.01)  # a steady rate, spread over the churn

        gate = asyncio.Semaphore(CONCURRENCY)
        rng = random.Random(4)

        async def limited(n):
            async with gate:
                return await churner(hub.port, n, rng)

        collectors = [asyncio.ensure_future(collect(conn)) for conn in steady]
        results = await asyncio.gather(publish(), *(limited(n) for n in range(CHURNERS)))
        received = await asyncio.wait_for(asyncio.gather(*collectors), 10)

        snapshot = await info_until(info, lambda s: len(s["all_connections"]) == 4)
        for conn in [*steady, publisher]:
            conn.close()
        empty = await info_until(info, lambda s: not s["all_connections"])
        info.close()
        return results[1:], received, snapshot, empty

    modes, received, snapshot, empty = asyncio.run(scenario())
    assert sorted(set(modes)) == sorted(MODES)
    for got in received:
        assert got == list(range(STEADY_MESSAGES))
    names = sorted(c["client_name"] for c in snapshot["all_connections"])
    assert names == ["steady-0", "steady-1", "steady-2", "steady-pub"]
    assert [s["name"] for s in snapshot["subscriptions"]] == ["steady"]
    assert len(snapshot["subscriptions"][0]["connections"]) == 3
    assert empty["subscriptions"] == []

    hub.stop()
    for bad in ("Traceback", " ERROR ", "uncaught exception"):
        assert bad not in hub.stderr
    assert hub.stderr.count("connect /subscribe 'churn-") >= CHURNERS // 2
