"""What the topic tracker (picloud/hub/topics.py) costs per message.

Drives the hub directly (no sockets): the tracker called alone on messages
made beforehand, then ``Subscriptions.deliver`` and the whole publish path
(validate, encode, stamp, keep, deliver to one subscriber) with the tracker
and without it. Best of ``--rounds``, in nanoseconds per message.

    python bench/topics.py [--events 200] [--messages 200000] [--rounds 9]
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable

from picloud.brokers.memory import MemoryBroker
from picloud.hub.message import Message
from picloud.hub.pubsub import PubSub
from picloud.hub.topics import Topics
from picloud.wire.codec import encode_publish


class Sink:
    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def deliver(self, message: Message) -> None:
        self.count += 1


def best(rounds: int, messages: int, runs: dict[str, Callable[[], None]]) -> dict[str, float]:
    """Nanoseconds per message of each run's fastest round; the runs take
    turns, so that a busy machine slows them alike."""
    times: dict[str, list[int]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            gc.collect()
            gc.disable()
            start = time.perf_counter_ns()
            run()
            times[name].append(time.perf_counter_ns() - start)
            gc.enable()
    return {name: min(taken) / messages for name, taken in times.items()}


def hub(tracked: bool, events: list[str]) -> PubSub:
    pubsub = PubSub(MemoryBroker())
    pubsub.recorder = None
    if not tracked:
        pubsub.tracker = None
    for event in events:
        pubsub.subscribe(Sink(), event)
    return pubsub


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    events = [f"tele/plug{i}/SENSOR" for i in range(args.events)]
    made = [Message(events[i % len(events)], encode_publish(events[i % len(events)], {"Power": i}))
            for i in range(args.messages)]
    track = Topics().track
    off, on = hub(False, events), hub(True, events)
    pairs = [(m.event, i) for i, m in enumerate(made)]

    def each(call: Callable[[Message], object]) -> Callable[[], None]:
        return lambda: [call(m) for m in made] and None

    def publishing(pubsub: PubSub) -> Callable[[], None]:
        publish = pubsub.publish
        return lambda: [publish(e, d) for e, d in pairs] and None

    cost = best(args.rounds, len(made), {
        "loop": each(lambda m: None), "tracker": each(track),
        "deliver, tracker off": each(off.deliver), "deliver, tracker on": each(on.deliver),
        "publish, tracker off": publishing(off), "publish, tracker on": publishing(on),
    })
    print(f"tracker alone: {cost['tracker'] - cost['loop']:.0f} ns/message (the loop's {cost['loop']:.0f} taken off)")
    for path in ("deliver", "publish"):
        without, with_ = cost[f"{path}, tracker off"], cost[f"{path}, tracker on"]
        print(f"{path} to one subscriber: {without:.0f} ns without the tracker, {with_:.0f} with "
              f"(+{with_ - without:.0f} ns, {with_ / without:.3f}x)")

if __name__ == "__main__":
    main()
