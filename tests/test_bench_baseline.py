"""``python -m bench --baseline REV``: the baseline hub's command."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.procs import Server, server_commands

KEY = "bench-key"


def test_baseline_hub_has_the_current_hubs_flags():
    commands = server_commands(KEY, Path("/cache/venv/bin/python"))
    current, other = commands["picloud"], commands["baseline"]
    assert current[0] == sys.executable
    assert other[:2] == ["/cache/venv/bin/python", "-I"]
    state = current.index("--state-dir") + 1
    assert other[2:] == [*current[1:state], other[state + 1]]
    assert other[state + 1] != current[state]  # a state directory each
    assert "baseline" not in server_commands(KEY)


def test_baseline_hub_command_starts_a_hub():
    # This interpreter as the "venv": the tests run with picloud installed.
    server = Server("baseline", server_commands(KEY, Path(sys.executable))["baseline"])
    try:
        assert server.port > 0 and server.proc.poll() is None
    finally:
        server.stop()
