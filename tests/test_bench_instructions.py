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


def test_the_publish_reads_arrive_whole_read_by_read():
    """bench/reads.py against a hub not under callgrind: every message sent is delivered."""
    from bench.procs import Server
    from bench.reads import PER_READ, PUBLISHERS, Reads

    with Server("picloud", server_commands(KEY)["picloud"]) as server:
        reads = Reads(server.port, KEY, timeout=10)
        try:
            assert reads.run(3) == 3 * PUBLISHERS * PER_READ
        finally:
            reads.close()


def test_server_frames_are_counted_whole():
    from bench.reads import _frames_in

    short, medium = b"\x81\x02hi", b"\x81\x7e\x00\x80" + b"x" * 128
    assert _frames_in(short + medium + short[:3]) == (2, short[:3])
    assert _frames_in(b"\x81") == (0, b"\x81")
    assert _frames_in(b"\x81\x7f" + (70000).to_bytes(8, "big") + b"y" * 70000) == (1, b"")


def test_publish_is_a_scenario_of_its_own():
    assert instructions.parse_args(["--baseline", "HEAD", "--scenarios", "publish"]).scenarios == "publish"
