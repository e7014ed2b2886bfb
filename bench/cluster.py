"""Two hubs on one Redis against one hub alone, in the same run.

    python bench/cluster.py [--subs 100] [--messages 2000] [--window 50] [--rounds 2]

Starts its own redis-server on a free port and ``picloud serve`` processes.
One publisher on the first hub; subscribers spread evenly over the hubs
(all on the one hub for the single-hub figure). Closed loop: at most
``--window`` messages in flight, a message being in flight until every
subscriber has it. Rounds alternate single/cluster; the best round of each is
reported, with the ratios the target is about (throughput >= 60% of a single
hub, p99 <= 3x).

The subscribers read with a minimal websocket reader (server frames are
unmasked) so that the measuring side stays cheap on a small machine.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack

from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

KEY = "bench-key-0123456789"  # 16 characters or more: shorter keys get a warning
LISTENING = re.compile(r"listening on \w+://\S*:(\d+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(stack: ExitStack, directory: str) -> int:
    port = free_port()
    proc = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", directory],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    stack.callback(lambda: (proc.terminate(), proc.wait()))
    for line in proc.stdout:
        if "Ready to accept connections" in line:
            return port
    raise SystemExit("redis-server did not start")


def start_hub(stack: ExitStack, broker: str, directory: str) -> int:
    proc = subprocess.Popen(
        [sys.executable, "-m", "picloud", "serve", "--host", "127.0.0.1", "--port", "0",
         "--api-key", KEY, "--broker", broker, "--state-dir", directory, "--log-level", "warning",
         "--shutdown-drain", "0"],
        stdout=subprocess.PIPE, text=True,
    )
    stack.callback(lambda: (proc.terminate(), proc.wait()))
    for line in proc.stdout:
        match = LISTENING.search(line)
        if match:
            return int(match.group(1))
    raise SystemExit("hub did not start")


class Subscriber(asyncio.Protocol):
    """Reads server frames (unmasked text, no fragmentation) and records
    each message's latency from the send time carried in its data."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.buffer = bytearray()
        self.upgraded = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        if not self.upgraded.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(RuntimeError(bytes(buf[:end]).decode()))
                return
            del buf[: end + 4]
            self.upgraded.set_result(None)
        pos, size = 0, len(buf)
        while size - pos >= 2:
            length = buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if size - pos < head + length:
                break
            if buf[pos] & 0x0F == 1:
                self.run.received(self, bytes(buf[pos + head : pos + head + length]))
            pos += head + length
        del buf[:pos]

    async def subscribe(self, event: str) -> None:
        frame = json.dumps({"action": "subscribe", "event": event}).encode()
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(frame))
        self.transport.write(bytes([0x81, 0x80 | len(frame)]) + mask + masked)


class Run:
    def __init__(self, nsubs: int, window: int) -> None:
        self.nsubs = nsubs
        self.remaining: dict[int, int] = {}
        self.sent_at: dict[int, float] = {}
        self.latencies: list[float] = []
        self.slots = asyncio.Semaphore(window)
        self.done = asyncio.Event()
        self.outstanding = 0
        self.deliveries = 0
        self.last = 0.0
        self.warm: set[Subscriber] = set()

    def received(self, sub: Subscriber, payload: bytes) -> None:
        now = time.perf_counter()
        start = payload.index(b'"data":"') + 8
        seq = int(payload[start : payload.index(b'"', start)])
        if seq < 0:  # warm-up
            self.warm.add(sub)
            if len(self.warm) == self.nsubs:
                self.done.set()
            return
        self.latencies.append(now - self.sent_at[seq])
        self.deliveries += 1
        self.last = now
        left = self.remaining[seq] - 1
        if left:
            self.remaining[seq] = left
            return
        del self.remaining[seq]
        self.slots.release()
        self.outstanding -= 1
        if not self.outstanding:
            self.done.set()


async def open_subscriber(port: int, run: Run, event: str) -> Subscriber:
    loop = asyncio.get_running_loop()
    _, sub = await loop.create_connection(lambda: Subscriber(run), "127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    sub.transport.write(
        f"GET /subscribe?clientName=bench HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"X-API-Key: {KEY}\r\n\r\n".encode()
    )
    await sub.upgraded
    await sub.subscribe(event)
    return sub


async def measure(pub_port: int, sub_ports: list[int], nsubs: int, messages: int, window: int) -> dict:
    run = Run(nsubs, window)
    event = f"bench-{time.monotonic_ns()}"
    subs = [await open_subscriber(sub_ports[i % len(sub_ports)], run, event) for i in range(nsubs)]
    pub = await websocket_connect(
        HTTPRequest(f"ws://127.0.0.1:{pub_port}/publish?clientName=bench-pub", headers={"X-API-Key": KEY})
    )
    # Subscriptions travel to the hubs (and Redis) asynchronously: warm up
    # until one message reaches everyone, then measure.
    while True:
        await pub.write_message(json.dumps({"event": event, "data": "-1"}))
        try:
            await asyncio.wait_for(run.done.wait(), 0.5)
            break
        except asyncio.TimeoutError:
            continue
    await asyncio.sleep(0.5)  # let late warm-up copies arrive
    run.done.clear()
    run.outstanding = messages
    started = time.perf_counter()
    for seq in range(messages):
        await run.slots.acquire()
        run.remaining[seq] = nsubs
        run.sent_at[seq] = time.perf_counter()
        await pub.write_message(f'{{"event": "{event}", "data": "{seq}"}}')
    await asyncio.wait_for(run.done.wait(), 60)
    elapsed = run.last - started
    pub.close()
    for sub in subs:
        sub.transport.close()
    latencies = sorted(run.latencies)
    return {
        "deliveries_per_s": round(run.deliveries / elapsed),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 2),
        "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 2),
        "deliveries": run.deliveries,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subs", type=int, default=100)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with ExitStack() as stack:
        directory = stack.enter_context(tempfile.TemporaryDirectory())
        redis_port = start_redis(stack, directory)
        single = start_hub(stack, "memory://", directory)
        broker = f"redis://127.0.0.1:{redis_port}/0"
        pair = [start_hub(stack, broker, directory) for _ in range(2)]
        results: dict[str, list[dict]] = {"single": [], "cluster": []}
        for _ in range(args.rounds):
            for name, pub_port, sub_ports in (("single", single, [single]), ("cluster", pair[0], pair)):
                result = asyncio.run(measure(pub_port, sub_ports, args.subs, args.messages, args.window))
                results[name].append(result)
                print(name, json.dumps(result), flush=True)
    best = {name: max(runs, key=lambda r: r["deliveries_per_s"]) for name, runs in results.items()}
    summary = {
        "single": best["single"],
        "cluster": best["cluster"],
        "throughput_ratio": round(best["cluster"]["deliveries_per_s"] / best["single"]["deliveries_per_s"], 2),
        "p99_ratio": round(best["cluster"]["p99_ms"] / best["single"]["p99_ms"], 2),
        # Each round's pair ran back to back: their ratios show the noise.
        "round_throughput_ratios": [
            round(c["deliveries_per_s"] / s["deliveries_per_s"], 2)
            for s, c in zip(results["single"], results["cluster"])
        ],
        "round_p99_ratios": [
            round(c["p99_ms"] / s["p99_ms"], 2) for s, c in zip(results["single"], results["cluster"])
        ],
    }
    summary["target_met"] = summary["throughput_ratio"] >= 0.6 and summary["p99_ratio"] <= 3
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
