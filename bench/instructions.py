"""What a connection or a received message costs the hub in instructions,
counted by callgrind: the connection scenarios (bench/connecting.py) and the
reads of bench/reads.py without this machine's noise.

    python -m bench.instructions --baseline 1b313a2
    python -m bench.instructions --baseline HEAD --scenarios connect --count 500
    python -m bench.instructions --baseline HEAD --scenarios publish

CPU seconds on a shared VM move by 10-30% from one round to the next, which
is the size of most changes worth making to the connection path. Valgrind's
callgrind counts the instructions the hub's process runs (the interpreter,
the C twins, uvloop), the same to within a few per mille from run to run,
whatever else the machine is doing. The kernel's work (accept, send, close)
is not counted, and neither are cache misses: a ratio of counts is not a
ratio of CPU seconds, and is usually the lower of the two. It says what a
change did to the hub's own code; ``python -m bench`` says what it saved.

Each hub starts under callgrind (a minute or so: everything runs about fifty
times slower), takes WARM connections, has its counters zeroed, takes
``--count`` more and the store's write after them (STORE_OUT), and dumps
the counters.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Callable, Optional

from . import baseline
from .connecting import STORE_OUT, Cycle, churn, mqtt_cycle, retain_over_http, retain_over_mqtt, websocket_cycle
from .procs import Server, server_commands, state_dir_of
from .reads import Reads

#: Connections before the counters are zeroed: imports, caches and the
#: first presence values are the hub's start, not a connection's cost.
WARM = 40
#: What each scenario needs: its retained value set, then the cycle.
Prepare = Callable[[Server, str], Cycle]


def _websocket(server: Server, key: str) -> Cycle:
    retain_over_http(server.port, key)
    return websocket_cycle(server.port, key)


def _mqtt(server: Server, key: str) -> Cycle:
    asyncio.run(retain_over_mqtt(server.mqtt_port, key))
    return mqtt_cycle(server.mqtt_port, key)


SCENARIOS: dict[str, Prepare] = {"connect": _websocket, "mqtt-connect": _mqtt}
#: Counted per received message, not per connection (bench/reads.py); its
#: --count is of reads of each publisher, each of reads.PER_READ messages.
PUBLISH = "publish"


class CallgrindError(RuntimeError):
    """Valgrind is missing, or a run under it did not give its counts."""


def totals(dump: Path) -> int:
    """The instructions a callgrind dump file counts."""
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise CallgrindError(f"no totals in {dump}")


def callgrind_control(option: str, pid: int) -> None:
    done = subprocess.run(["callgrind_control", option, str(pid)], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise CallgrindError(f"callgrind_control {option} {pid} failed: {done.stderr.strip() or done.stdout.strip()}")


#: Given the hub under callgrind: warms it up, and returns what runs the
#: counted load and says how many it ran (connections, messages).
Load = Callable[[Server], Callable[[], int]]


def instructions_per(name: str, command: list[str], load: Load, mqtt: bool = False) -> float:
    """Instructions the hub started by ``command`` runs per unit of ``load``,
    its counters zeroed after the warm-up and dumped after the load."""
    out = Path(tempfile.mkdtemp(prefix="picloud-callgrind-"))
    valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/callgrind.out"]
    try:
        with Server(name, [*valgrind, *command], start_timeout=300, mqtt=mqtt) as server:
            counted = load(server)
            callgrind_control("--zero", server.pid)
            units = counted()
            callgrind_control("--dump", server.pid)
            dumps = sorted(out.glob("callgrind.out.*"))
            if not dumps:
                raise CallgrindError(f"{name}: callgrind wrote no dump in {out}")
            return totals(dumps[0]) / units
    finally:
        shutil.rmtree(out, ignore_errors=True)
        state = state_dir_of(command)
        if state is not None:
            shutil.rmtree(state, ignore_errors=True)


def instructions_per_connection(name: str, command: list[str], scenario: str, key: str, count: int) -> float:
    """Instructions the hub started by ``command`` runs per connection of ``scenario``."""
    def load(server: Server) -> Callable[[], int]:
        cycle = SCENARIOS[scenario](server, key)
        asyncio.run(churn(cycle, WARM))

        def counted() -> int:
            done = asyncio.run(churn(cycle, count))
            if done.failed:
                raise CallgrindError(f"{name}: {done.failed} of {count} connections failed: {done.errors[:1]}")
            time.sleep(STORE_OUT)
            return count
        return counted

    return instructions_per(name, command, load, mqtt=scenario.startswith("mqtt"))


def instructions_per_message(name: str, command: list[str], key: str, rounds: int) -> float:
    """Instructions the hub started by ``command`` runs per message it
    receives, over ``rounds`` reads of each of bench/reads.py's publishers."""
    reads: list[Reads] = []

    def load(server: Server) -> Callable[[], int]:
        reads.append(Reads(server.port, key))
        reads[0].run(WARM // 8)
        return lambda: reads[0].run(rounds)

    try:
        return instructions_per(name, command, load)
    finally:
        for opened in reads:
            opened.close()


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", metavar="REV", required=True, help="the git revision to compare with")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated: connect, mqtt-connect, {PUBLISH} (default: the two connections)")
    parser.add_argument("--count", type=int, default=300,
                        help=f"connections counted per hub, or for {PUBLISH} reads of each publisher (default 300)")
    parser.add_argument("--log-level", choices=("debug", "info", "warning"), default="warning",
                        help="the hubs' (default warning, as python -m bench runs them; info is a hub's default)")
    parser.add_argument("--baseline-cache", type=Path, metavar="DIR",
                        help="where the baseline's worktree and venv are kept (as python -m bench's)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.scenarios.split(",") if name not in SCENARIOS and name != PUBLISH]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r} (one of {', '.join([*SCENARIOS, PUBLISH])})")
    if args.count < 1:
        parser.error(f"--count must be at least 1, not {args.count}")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind is not installed (apt install valgrind)", file=sys.stderr)
        return 2
    try:
        other = baseline.prepare(args.baseline, cache=args.baseline_cache)
    except baseline.BaselineError as exc:
        print(exc, file=sys.stderr)
        return 2
    key = secrets.token_hex(16)
    print(f"instructions per connection ({args.count} connections) or per received message ({PUBLISH}), "
          f"current tree against {args.baseline} ({other.sha[:12]}), hubs at log level {args.log_level}")
    print(f"{'scenario':<14} {'current':>12} {'baseline':>12} {'ratio':>7}")
    for scenario in args.scenarios.split(","):
        counts = []
        for name in ("picloud", "baseline"):
            # The last --log-level given is the one a hub takes.
            command = [*server_commands(key, other.python)[name], "--log-level", args.log_level]
            try:
                if scenario == PUBLISH:
                    counts.append(instructions_per_message(name, command, key, args.count))
                else:
                    counts.append(instructions_per_connection(name, command, scenario, key, args.count))
            except (RuntimeError, OSError) as exc:  # CallgrindError, or a hub that did not start
                print(f"{scenario}: {exc}", file=sys.stderr)
                return 1
        current, base = counts
        print(f"{scenario:<14} {current:>12,.0f} {base:>12,.0f} {current / base:>6.3f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
