"""FrameParser.feed on a publisher's burst, Python loop against C loop.

A burst as one socket read brings it: 19 masked text frames of about 100
bytes, each a publish request, fed to a parser with a byte budget as the
hub's sockets have. Prints nanoseconds per frame, the best of several runs
(a shared machine only ever adds time).

    python bench/frames_micro.py [--repeat 7] [--number 20000]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import timeit
from collections.abc import Callable

from picloud.hub.limits import ByteBudget
from picloud.wire.frameparser import TEXT, FrameLoop, FrameParser, Unmask, unmask_python
from tests.support.frames import frame

FRAMES = 19


def burst() -> bytes:
    frames = []
    for i in range(FRAMES):
        body = {"action": "publish", "event": f"house/room{i % 5}/temperature", "data": 20.5 + i / 10, "id": i}
        text = json.dumps(body, separators=(",", ":")).encode().ljust(100)
        frames.append(frame(TEXT, text, mask=os.urandom(4)))
    return b"".join(frames)


def ns_per_frame(unmask: Unmask, native: FrameLoop | None, data: bytes, repeat: int, number: int) -> float:
    parser = FrameParser(1 << 20, unmask, ByteBudget(64 << 20), native=native)
    feed: Callable[[bytes], object] = parser.feed
    assert len(parser.feed(data)) == FRAMES
    best = min(timeit.repeat(lambda: feed(data), repeat=repeat, number=number))
    return best / number / FRAMES * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args()
    data = burst()
    c: FrameLoop = importlib.import_module("picloud.wire._frames")  # type: ignore[assignment]
    ways: list[tuple[str, Unmask, FrameLoop | None]] = [("Python loop, unmask_python", unmask_python, None)]
    try:
        from tornado.speedups import websocket_mask

        ways.append(("Python loop, Tornado's websocket_mask (the hub without _frames)", websocket_mask, None))
    except ImportError:
        pass
    ways.append(("Python loop, _frames.unmask", c.unmask, None))
    ways.append(("C loop (_frames.parse_common)", unmask_python, c))
    print(f"{len(data)} bytes, {FRAMES} frames a feed")
    for name, unmask, native in ways:
        print(f"{ns_per_frame(unmask, native, data, args.repeat, args.number):8.0f} ns/frame  {name}")


if __name__ == "__main__":
    main()
