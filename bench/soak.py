"""Soak: a mixed workload with churn and faults against a hub this starts.

    python bench/soak.py --minutes 5 --plot soak.png

Steady subscribers stay connected the whole time while steady publishers
send numbered messages (websocket and HTTP); around them, churn clients
connect, subscribe, publish and vanish in every way a flaky network or a
buggy script can manage (clean close, TCP reset after a pause or right behind
its data, half-close, silence, bad JSON, oversized frames). At the end it
reports messages sent, delivered and lost for the steady subscribers (must be
0), churn connections the hub still lists after they are gone (must be 0),
errors, and the hub's resident memory over time (a PNG with the optional
``bench`` extra: matplotlib). Exit status 1 if anything was lost or left
behind, or the hub logged a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import re
import secrets
import socket
import struct
import subprocess
import sys
import threading
import time

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

EVENTS = [f"soak-{i}" for i in range(4)]
FAULTS = ("clean", "reset", "reset-now", "half-close", "silent", "bad-json", "oversized", "garbage-frame")


class Hub:
    def __init__(self, extra: list[str]) -> None:
        self.key = secrets.token_urlsafe(16)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "picloud", "serve", "--port", "0", "--host", "127.0.0.1",
             "--api-key", self.key, "--log-level", "warning", "--ping-interval", "2",
             "--max-message-bytes", "65536", "--max-pending", "100000", "--max-pending-per-ip", "100000", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for line in self.proc.stdout:
            match = re.search(r"listening on http://\S*:(\d+)", line)
            if match:
                self.port = int(match.group(1))
                break
        else:
            raise SystemExit(f"hub did not start: {self.proc.stderr.read()}")
        self.stderr: list[str] = []
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()

    def rss_mib(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def request(self, path: str) -> HTTPRequest:
        return HTTPRequest(f"ws://127.0.0.1:{self.port}{path}", headers={"X-API-Key": self.key})


def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A masked client frame, built by hand so that faults can be sent too."""
    head = bytes([(0x80 if fin else 0) | opcode])
    length = len(payload)
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", length)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class Soak:
    def __init__(self, hub: Hub, args: argparse.Namespace) -> None:
        self.hub = hub
        self.args = args
        self.sent: dict[str, int] = dict.fromkeys(EVENTS, 0)
        self.received: list[dict[str, int]] = []
        self.errors: dict[str, int] = {}
        self.churned: dict[str, int] = dict.fromkeys(FAULTS, 0)
        self.rss: list[tuple[float, float]] = []
        self.running = True
        self.churn_left = 0
        self.rng = random.Random(args.seed)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    async def subscriber(self, index: int, ready: asyncio.Event) -> None:
        counts = dict.fromkeys(EVENTS, 0)
        self.received.append(counts)
        conn = await websocket_connect(self.hub.request(f"/subscribe?clientName=steady-sub-{index}"))
        for event in EVENTS:
            await conn.write_message(json.dumps({"action": "subscribe", "event": event}))
        await conn.write_message("barrier")
        while True:
            text = await conn.read_message()
            if text is None:
                self.error("steady subscriber disconnected")
                return
            message = json.loads(text)
            if message.get("action") == "error":
                ready.set()
            elif message.get("event") in counts:
                counts[message["event"]] += 1

    async def publisher(self, index: int) -> None:
        conn = await websocket_connect(self.hub.request(f"/publish?clientName=steady-pub-{index}"))
        http = AsyncHTTPClient()
        interval = 1.0 / self.args.rate
        n = 0
        while self.running:
            event = EVENTS[n % len(EVENTS)]
            body = json.dumps({"event": event, "data": {"pub": index, "n": n}})
            if n % 10 == 0:  # every tenth over HTTP, which says when it was accepted
                response = await http.fetch(
                    f"http://127.0.0.1:{self.hub.port}/publish", method="POST", body=body,
                    headers={"X-API-Key": self.hub.key, "X-API-Client-Name": f"steady-http-{index}"},
                    raise_error=False,
                )
                if response.code != 201:
                    self.error(f"http publish {response.code}")
                    continue
            else:
                await conn.write_message(body)
            self.sent[event] += 1
            n += 1
            await asyncio.sleep(interval)
        conn.close()

    async def churner(self, n: int) -> None:
        fault = FAULTS[n % len(FAULTS)]
        kind = "subscribe" if n % 2 else "publish"
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.hub.port)
            key = base64_key()
            writer.write(
                f"GET /{kind}?clientName=churn-{n}{'&protocol=2' if fault == 'silent' else ''} HTTP/1.1\r\n"
                f"Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nX-API-Key: {self.hub.key}\r\n\r\n".encode()
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                self.error(f"churn upgrade {head.split(b' ', 2)[1].decode()}")
                writer.close()
                return
            event = f"churn-{self.rng.randrange(50)}"
            if kind == "subscribe":
                for name in (event, self.rng.choice(EVENTS)):
                    writer.write(frame(0x1, json.dumps({"action": "subscribe", "event": name}).encode()))
            else:
                writer.write(frame(0x1, json.dumps({"event": event, "data": n}).encode()))
            if fault == "bad-json":
                writer.write(frame(0x1, b"{not json"))
            elif fault == "oversized":
                writer.write(frame(0x1, b"x" * 70000))
            elif fault == "garbage-frame":
                writer.write(frame(0x1, b"\xff\xfe") + frame(0x3, b"?", fin=False))
            if fault != "reset-now":  # that one's RST arrives with its data
                await asyncio.sleep(self.rng.random() * 0.5)
            if fault.startswith("reset"):
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                self.churned[fault] += 1
                return
            if fault == "clean":
                writer.write(frame(0x8, struct.pack("!H", 1000)))
            elif fault == "half-close":
                writer.write_eof()
            elif fault == "bad-json":
                writer.write(frame(0x8, struct.pack("!H", 1000)))
            # Read until the hub hangs up (silent ones: until it drops them for missed pongs).
            await asyncio.wait_for(drain(reader), 30)
            writer.close()
            self.churned[fault] += 1
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
            self.error(f"churn {fault}: {type(exc).__name__}")

    async def churn(self) -> None:
        tasks: set[asyncio.Task] = set()
        n = 0
        while self.running:
            task = asyncio.ensure_future(self.churner(n))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
            await asyncio.sleep(1.0 / self.args.churn)
        await asyncio.gather(*tasks)

    async def sample(self) -> None:
        start = time.monotonic()
        while self.running:
            self.rss.append((time.monotonic() - start, self.hub.rss_mib()))
            await asyncio.sleep(1.0)

    async def run(self) -> None:
        readies = [asyncio.Event() for _ in range(self.args.subscribers)]
        subscribers = [asyncio.ensure_future(self.subscriber(i, e)) for i, e in enumerate(readies)]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in readies)), 10)
        workers = [asyncio.ensure_future(self.publisher(i)) for i in range(self.args.publishers)]
        workers += [asyncio.ensure_future(self.churn()), asyncio.ensure_future(self.sample())]
        await asyncio.sleep(self.args.minutes * 60)
        self.running = False
        await asyncio.gather(*workers)
        # Let the last messages arrive: wait until every count is complete or stops moving.
        expected = sum(self.sent.values())
        for _ in range(100):
            if all(sum(c.values()) >= expected for c in self.received):
                break
            await asyncio.sleep(0.1)
        for task in subscribers:
            task.cancel()
        self.churn_left = await self.leftover_churn()

    async def leftover_churn(self) -> int:
        """Churn connections the hub still lists once every churner is gone."""
        info = await websocket_connect(self.hub.request("/info"))
        deadline = time.monotonic() + 10  # silent ones go after two missed pongs
        try:
            while True:
                snapshot = json.loads(await asyncio.wait_for(info.read_message(), 10))
                names = [c["client_name"] for c in snapshot["all_connections"]]
                left = sum(name.startswith("churn-") for name in names)
                if not left or time.monotonic() > deadline:
                    return left
        finally:
            info.close()

    def report(self) -> dict:
        expected = sum(self.sent.values())
        delivered = sum(sum(c.values()) for c in self.received)
        lost = sum(max(0, self.sent[e] - c[e]) for c in self.received for e in EVENTS)
        tracebacks = sum("Traceback" in line for line in self.hub.stderr)
        return {
            "minutes": self.args.minutes,
            "sent": expected,
            "delivered": delivered,
            "lost": lost,
            "churn_connections_left": self.churn_left,
            "churn_clients": self.churned,
            "errors": self.errors,
            "hub_tracebacks": tracebacks,
            "rss_mib": {"first": self.rss[0][1] if self.rss else None,
                        "max": max(r for _, r in self.rss) if self.rss else None,
                        "last": self.rss[-1][1] if self.rss else None},
        }


async def drain(reader: asyncio.StreamReader) -> None:
    try:
        while await reader.read(65536):
            pass
    except ConnectionResetError:
        pass


def base64_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def plot(samples: list[tuple[float, float]], path: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no plot", file=sys.stderr)
        return False
    fig, ax = plt.subplots(figsize=(5, 2.5), dpi=100)
    ax.plot([t / 60 for t, _ in samples], [r for _, r in samples])
    ax.set_xlabel("minutes")
    ax.set_ylabel("hub RSS (MiB)")
    ax.set_ylim(0, max(r for _, r in samples) * 1.25)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--subscribers", type=int, default=4, help="steady subscribers")
    parser.add_argument("--publishers", type=int, default=2, help="steady publishers")
    parser.add_argument("--rate", type=float, default=50.0, help="messages/s per steady publisher")
    parser.add_argument("--churn", type=float, default=20.0, help="churn clients started per second")
    parser.add_argument("--plot", default="soak-rss.png", help="where to write the RSS plot")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hub-arg", action="append", default=[], help="extra argument for picloud serve")
    args = parser.parse_args(argv)

    hub = Hub(args.hub_arg)
    soak = Soak(hub, args)
    try:
        asyncio.run(soak.run())
    finally:
        hub.proc.terminate()
        hub.proc.wait(timeout=30)
    result = soak.report()
    if soak.rss and plot(soak.rss, args.plot):
        result["plot"] = args.plot
    print(json.dumps(result, indent=2))
    return 1 if result["lost"] or result["hub_tracebacks"] or result["churn_connections_left"] else 0


if __name__ == "__main__":
    sys.exit(main())
