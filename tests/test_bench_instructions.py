"""``python -m bench.instructions`` (bench/instructions.py): a hub under
callgrind, its counters zeroed after the warm-up and dumped after the
connections, one short run end to end."""

from __future__ import annotations

import pytest

from bench import instructions
from bench.procs import server_commands

KEY = "bench-key-0123456789"


def test_a_websocket_connection_is_counted_in_hundreds_of_thousands_of_instructions():
    command = server_commands(KEY)["picloud"]
    counted = instructions.instructions_per_connection("picloud", command, "connect", KEY, 20)
    # A connection of the hub takes some 0.7 million (2026-12); the start of
    # a hub, were the counters not zeroed, some 600 million.
    assert 100_000 < counted < 5_000_000


def test_totals_are_read_from_a_dump(tmp_path):
    dump = tmp_path / "callgrind.out.1"
    dump.write_text("version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nfl=(1) a.c\nfn=(1) f\n3 12\n"
                    "summary: 123456\ntotals: 123456\n")
    assert instructions.totals(dump) == 123456
    dump.write_text("version: 1\nevents: Ir\n")
    with pytest.raises(instructions.CallgrindError, match="no totals"):
        instructions.totals(dump)


@pytest.mark.parametrize("argv, error", [
    (["--baseline", "HEAD", "--scenarios", "connect,fanin"], "unknown scenario 'fanin'"),
    (["--baseline", "HEAD", "--count", "0"], "--count must be at least 1, not 0"),
])
def test_bad_arguments_are_named(capsys, argv, error):
    with pytest.raises(SystemExit):
        instructions.parse_args(argv)
    assert error in capsys.readouterr().err
