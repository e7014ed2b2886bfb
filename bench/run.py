"""Runs the scenarios against picloud and the naive hub (or Mosquitto, or
the hub of another revision), in alternation, and prints and writes the
comparison.

    python -m bench                       # everything, 2 rounds
    python -m bench --quick               # a short run
    python -m bench --scenarios fanout100,latency --rounds 3 --out /tmp/results
    python -m bench --scenarios mqtt --rounds 5   # MQTT against Mosquitto
    python -m bench --baseline HEAD~1     # this tree against its parent commit, 5 rounds
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import secrets
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from . import baseline, certs, gotools, mosquitto, mqttbench, pcbench
from .context import Context, Scenario
from .procs import (
    BENCH_DIR,
    MOSQUITTO,
    TLS,
    Server,
    raise_nofile,
    server_commands,
    state_dir_of,
    with_fresh_state_dir,
)
from .report import SERVERS, Measurement, Row
from .results import make_row, print_tables, rewrite_report, write_results
from .scenarios import SCENARIOS, select


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark picloud against a naive Tornado hub (its MQTT against Mosquitto), "
                    "or against another revision of itself.",
    )
    parser.add_argument("--quick", action="store_true", help="short runs, fewer connections, 1 round")
    parser.add_argument("--scenarios", help="comma-separated names, or mqtt for the MQTT ones (default: all); "
                                            "see --list")
    parser.add_argument("--rounds", type=int,
                        help=f"rounds per scenario (default 2, 1 with --quick; {MIN_BASELINE_ROUNDS} and "
                             "no fewer with --baseline)")
    parser.add_argument("--out", type=Path, help="results folder (default bench/results/<date>)")
    parser.add_argument("--pcbench", help="a pcbench binary to use instead of building one")
    parser.add_argument("--pcbench-src", help="pcbench's source folder (default ../shared/tools/pcbench)")
    parser.add_argument("--mqttbench", help="an mqttbench binary to use instead of building one")
    parser.add_argument("--mqttbench-src", help="mqttbench's source folder (default ../shared/tools/mqttbench)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--report", type=Path, metavar="DIR",
                        help="rebuild the table and plot from DIR/results.json, measuring nothing")
    parser.add_argument("--baseline", metavar="REV",
                        help="measure this tree against git revision REV, alternating round by round; "
                             "REV's hub runs from a worktree and venv of its own; no naive server")
    parser.add_argument("--naive", action="store_true",
                        help="with --baseline, measure the naive server (Mosquitto for MQTT) too")
    parser.add_argument("--rights", action="store_true",
                        help="the current tree's hub holds the key to topic rights covering every event, so "
                             "that the rights check runs on every message (against --baseline HEAD: its cost)")
    parser.add_argument("--baseline-cache", type=Path, metavar="DIR",
                        help="where --baseline keeps worktrees and venvs (default ~/.cache/picloud-bench)")
    return parser.parse_args(argv)


# Medians and spreads of fewer rounds say too little to quote a 5% difference.
MIN_BASELINE_ROUNDS = 5


def choose_rounds(rounds: Optional[int], quick: bool, against_baseline: bool) -> int:
    """Rounds per scenario: the one asked for, or the default; ValueError for too few."""
    if against_baseline:
        if rounds is None:
            return MIN_BASELINE_ROUNDS
        if rounds < MIN_BASELINE_ROUNDS:
            raise ValueError(f"--baseline needs at least {MIN_BASELINE_ROUNDS} rounds, not {rounds}")
        return rounds
    if rounds is None:
        return 1 if quick else 2
    if rounds < 1:
        raise ValueError(f"--rounds must be at least 1, not {rounds}")
    return rounds


def compared_servers(against_baseline: bool, naive: bool) -> tuple[str, ...]:
    """Against a baseline the naive hub is only measured when asked for.

    "naive" stands for each scenario's references (scenario_order)."""
    if not against_baseline:
        return SERVERS
    return ("picloud", "baseline", *(["naive"] if naive else []))


def round_orders(servers: Sequence[str], rounds: int) -> list[tuple[str, ...]]:
    """The order the servers are measured in, round by round.

    Against naive it turns round every other round, so that neither always
    goes first. Against a baseline every round is the same, A B, A B, ...:
    each baseline figure is taken right after the current tree's.
    """
    forward = tuple(servers)
    swap = "baseline" not in forward
    return [forward[::-1] if swap and r % 2 else forward for r in range(rounds)]


def scenario_order(order: Sequence[str], scenario: Scenario) -> tuple[str, ...]:
    """A round's order for ``scenario``: its references where naive stands."""
    return tuple(one for name in order for one in (scenario.references if name == "naive" else (name,)))


def start_server(
    name: str, command: list[str], scenario: Scenario, certificate: Optional[tuple[Path, Path]] = None,
) -> Server:
    """A server for ``scenario``: listening for MQTT when it is an MQTT one,
    over TLS (with ``certificate``) when it is over TLS, in an empty state
    directory of its own when the scenario wants one (the caller removes it)."""
    tls = certificate if scenario.transport == TLS else None
    if name == MOSQUITTO:
        return mosquitto.Mosquitto(command, scenario.transport, tls)
    fresh = with_fresh_state_dir(command) if scenario.fresh_state else command
    try:
        return Server(name, fresh, mqtt=scenario.mqtt, transport=scenario.transport, certificate=tls)
    except BaseException:
        remove_fresh_state(scenario, fresh)
        raise


def remove_fresh_state(scenario: Scenario, command: list[str]) -> None:
    """The state directory start_server made for a server of ``scenario``, removed."""
    folder = state_dir_of(command)
    if scenario.fresh_state and folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def machine() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    import tornado

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{platform.node()}: {os.cpu_count()} cpus ({model or platform.machine()}), "
            f"Linux {platform.release()}, Python {platform.python_version()}, "
            f"Tornado {tornado.version}, picloud on {loop}, load average {load} at start")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def measure_round(
    ctx: Context, scenario: Scenario, order: Sequence[str], commands: dict[str, list[str]]
) -> dict[str, Measurement]:
    """Fresh servers, then each measured in turn and stopped before the next
    (then the scenario's ``after_stop`` looks at what it left)."""
    started: dict[str, Server] = {}
    results: dict[str, Measurement] = {}
    try:
        for name in order:
            started[name] = start_server(name, commands[name], scenario, ctx.certificate)
        for name in order:
            server = started[name]
            try:
                m = scenario.measure(ctx, server)
            except (gotools.ToolError, OSError) as exc:
                m = Measurement(errors=[str(exc)])
            m.peak_rss_mib = server.status_kib("VmHWM") / 1024 if server.proc.poll() is None else None
            if server.proc.poll() is not None:
                m.errors.append(f"server exited with code {server.proc.returncode}")
            server.stop()
            if scenario.after_stop is not None:
                scenario.after_stop(server, m)
            results[name] = m
            log(f"  {scenario.name} {name}: {summary(m)}")
    finally:
        for server in started.values():
            server.stop()
            remove_fresh_state(scenario, server.command)
    return results


def summary(m: Measurement) -> str:
    parts = []
    if m.deliveries_per_s is not None:
        parts.append(f"{m.deliveries_per_s:,.0f} deliveries/s")
    if m.p50_ms is not None:
        parts.append(f"p50 {m.p50_ms:.2f} ms p99 {m.p99_ms or 0:.2f} ms")
    if m.kib_per_conn is not None:
        parts.append(f"{m.kib_per_conn:.1f} KiB/conn")
    if m.kept is not None:
        parts.append(f"kept {m.kept:.0%}")
    if m.generator_cores is not None:
        parts.append(f"generator {m.generator_cores:.2f} cores{' (SATURATED)' if m.saturated else ''}")
    if m.lost:
        parts.append(f"lost {m.lost}")
    parts += m.errors
    return ", ".join(parts) or "no result"


def run_scenarios(
    ctx: Context, scenarios: Sequence[Scenario], orders: Sequence[Sequence[str]], commands: dict[str, list[str]]
) -> tuple[list[Row], dict[str, Any]]:
    """Each scenario for ``len(orders)`` rounds, the servers of a round measured in that round's order."""
    rows: list[Row] = []
    raw: dict[str, Any] = {}
    for scenario in scenarios:
        per_server: dict[str, list[Measurement]] = {s: [] for s in scenario_order(orders[0], scenario)}
        for r, order in enumerate(orders):
            log(f"{scenario.name} round {r + 1}/{len(orders)}")
            for name, m in measure_round(ctx, scenario, scenario_order(order, scenario), commands).items():
                per_server[name].append(m)
        rows.append(make_row(scenario, per_server))
        raw[scenario.name] = {s: [dataclasses.asdict(m) for m in ms] for s, ms in per_server.items()}
    return rows, raw


def find_tools(args: argparse.Namespace, scenarios: Sequence[Scenario], references: bool) -> dict[str, Path]:
    """The load generators the scenarios need, built if need be, and
    Mosquitto when it is measured; ToolError says what is missing and which
    scenarios run without it."""
    tools: dict[str, Path] = {}
    for name, module in (("pcbench", pcbench), ("mqttbench", mqttbench)):
        needs = f"needs_{name}"
        if not any(getattr(s, needs) for s in scenarios):
            continue
        try:
            tools[name] = module.ensure_binary(getattr(args, name), getattr(args, f"{name}_src"))
        except gotools.ToolError as exc:
            raise type(exc)(f"{exc}\nscenarios that run without {name}: "
                            + ", ".join(s.name for s in SCENARIOS if not getattr(s, needs))) from None
    if references and any(MOSQUITTO in s.references for s in scenarios):
        found = mosquitto.find()
        if found is None:
            raise gotools.ToolError("mosquitto is not installed (Debian: apt install mosquitto); scenarios "
                                    "without it: "
                                    + ", ".join(s.name for s in SCENARIOS if MOSQUITTO not in s.references))
        tools[MOSQUITTO] = Path(found)
    return tools


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.list:
        for s in SCENARIOS:
            print(f"{s.name:21} {s.title}{'  [target ' + s.target + ']' if s.target else ''}")
        return 0
    if args.report:
        return rewrite_report(args.report)
    try:
        scenarios = select(args.scenarios)
        rounds = choose_rounds(args.rounds, args.quick, args.baseline is not None)
    except ValueError as exc:
        log(f"error: {exc}")
        return 2
    other: Optional[baseline.Baseline] = None
    against: Optional[dict[str, Any]] = None
    if args.baseline is not None:
        log(f"preparing the baseline tree of {args.baseline}")
        try:
            other = baseline.prepare(args.baseline, cache=args.baseline_cache)
            against = {**other.describe(), "current": baseline.tree_state()}
        except baseline.BaselineError as exc:
            log(f"error: {exc}")
            return 2
        log(f"baseline {other.sha} in {other.tree}")
        if not Path(against["current"]["picloud"]).is_relative_to(baseline.REPO):
            log(f"warning: the current hub imports picloud from {against['current']['picloud']}, "
                f"not from {baseline.REPO}")
    servers = compared_servers(other is not None, args.naive)
    try:
        tools = find_tools(args, scenarios, "naive" in servers)
    except gotools.ToolError as exc:
        log(f"error: {exc}")
        return 2
    raise_nofile()
    started = datetime.now(timezone.utc)
    when = started.strftime("%Y-%m-%d %H:%M UTC")
    out = args.out or BENCH_DIR / "results" / started.strftime("%Y-%m-%d")
    machine_text = machine()
    command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    ctx = Context(key=secrets.token_hex(8), quick=args.quick, pcbench=tools.get("pcbench"),
                  mqttbench=tools.get("mqttbench"))
    commands = server_commands(ctx.key, other.python if other else None, args.rights)
    if MOSQUITTO in tools:
        commands[MOSQUITTO] = [str(tools[MOSQUITTO])]
    t0 = time.monotonic()
    try:
        with certs.temporary(any(s.transport == TLS for s in scenarios)) as ctx.certificate:
            rows, raw = run_scenarios(ctx, scenarios, round_orders(servers, rounds), commands)
    except certs.CertificateError as exc:
        log(f"error: {exc}")
        return 2
    print(f"{machine_text}\n{when}, {rounds} round(s), {time.monotonic() - t0:.0f} s\n")
    print_tables(rows, against)
    for path in write_results(out, rows, raw, machine_text, command.strip(), when, against):
        print(f"wrote {path}")
    return 0
