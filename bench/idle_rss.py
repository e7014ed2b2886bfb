"""Resident memory per idle websocket: opens N idle subscribers against a real
``picloud serve`` process and reads its VmRSS before and after.

    python bench/idle_rss.py --connections 5000 [--subscribe EVENT]

Prints one JSON line. The hub is started with ``sys.executable -m picloud``,
so PYTHONPATH picks which checkout is measured. The open-file limit is raised
to its hard limit for this process and the hub.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

LISTENING = re.compile(r"listening on \w+://\S*:(\d+)")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def masked_text(payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body  # payloads < 126 bytes


async def open_idle(port: int, count: int, subscribe: str | None, batch: int = 250) -> list:
    writers = []

    async def one(i: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /subscribe?clientName=idle-{i} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"upgrade refused: {head[:40]!r}")
        if subscribe:
            writer.write(masked_text(json.dumps({"action": "subscribe", "event": subscribe}).encode()))
        writers.append((reader, writer))

    for start in range(0, count, batch):
        await asyncio.gather(*(one(i) for i in range(start, min(count, start + batch))))
    return writers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--subscribe", metavar="EVENT", help="each connection subscribes to EVENT")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds before reading RSS")
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2 * args.connections + 100
    if hard != resource.RLIM_INFINITY and hard < want:
        sys.exit(f"open-file hard limit {hard} is below {want}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))

    with tempfile.TemporaryDirectory() as state:
        hub = subprocess.Popen(
            [sys.executable, "-m", "picloud", "serve", "--port", "0", "--host", "127.0.0.1",
             "--no-auth", "--state-dir", state, "--log-level", "warning",
             "--max-pending", str(want), "--max-pending-per-ip", str(want)],
            stdout=subprocess.PIPE, text=True,
        )
        try:
            port = None
            for line in hub.stdout:  # type: ignore[union-attr]
                match = LISTENING.search(line)
                if match:
                    port = int(match.group(1))
                    break
            if port is None:
                sys.exit("hub did not start")
            time.sleep(args.settle)
            before = rss_kib(hub.pid)

            async def run() -> int:
                conns = await open_idle(port, args.connections, args.subscribe)
                await asyncio.sleep(args.settle)
                after = rss_kib(hub.pid)
                for _, writer in conns:
                    writer.close()
                return after

            after = asyncio.run(run())
        finally:
            hub.terminate()
            hub.wait(timeout=30)
    print(json.dumps({
        "connections": args.connections,
        "subscribe": args.subscribe,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_connection": round((after - before) / args.connections, 2),
    }))


if __name__ == "__main__":
    main()
