"""Server processes under test, and what /proc says about them."""

from __future__ import annotations

import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Callable, Optional

LISTENING = re.compile(r"listening on (\w+)://\S*:(\d+)")
MQTT_LINE = re.compile(r"mqtt on port (\d+)")
MQTT_TLS_LINE = re.compile(r"mqtt over tls on port (\d+)")
BENCH_DIR = Path(__file__).resolve().parent
#: --max-pending and --max-pending-per-ip for the hubs under load.
MANY = "1000000"
#: The servers the MQTT scenarios compare picloud with: Debian's broker, and
#: the current tree's hub again, measured over websockets.
MOSQUITTO, PICLOUD_WS = "mosquitto", "picloud-ws"
#: The current tree's hub recording nothing (--no-record), what the recording
#: scenarios compare the default hub (recording every event) with.
NO_RECORD = "picloud-no-record"
#: What MQTT is carried over: TCP, websockets (the hub's /mqtt) or TLS.
TCP, WS, TLS = "tcp", "ws", "tls"


def raise_nofile(wanted: int = 65536) -> int:
    """Raise this process's open-file limit (children inherit it); return it.

    5000 subscribers need 5000 descriptors in the server and as many in the
    client, more than the usual soft limit of 1024.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def server_commands(
    key: str, baseline_python: Optional[Path] = None, rights: bool = False
) -> dict[str, list[str]]:
    """How each compared server is started, on a free port (each hub with a
    state directory of its own, never the user's).

    With ``baseline_python`` (a venv's interpreter) there is a "baseline"
    hub too, with the same flags as "picloud"; "picloud-ws" is the current
    tree's hub as well, and so is "picloud-no-record", with ``--no-record``.
    With ``rights`` the current tree's hub holds the key
    to topics that cover every event (``#``), so every publish and
    subscription goes through the rights check. Mosquitto is not here: the
    runner adds it once it has found it.
    """
    def hub(python: list[str], with_rights: bool = False) -> list[str]:
        state_dir = tempfile.mkdtemp(prefix="picloud-bench-")
        keys: list[str] = ["--api-key", key]
        if with_rights:
            keys_file = Path(state_dir) / "keys"
            keys_file.write_text(f"{key} admin #\n")
            keys = ["--keys-file", str(keys_file)]
        return [*python, "-m", "picloud", "serve", "--port", "0",
                *keys, "--log-level", "warning", "--state-dir", state_dir]

    commands = {
        "picloud": hub([sys.executable], rights),
        PICLOUD_WS: hub([sys.executable], rights),
        NO_RECORD: [*hub([sys.executable], rights), "--no-record"],
        "naive": [sys.executable, str(BENCH_DIR / "naive.py"), "--port", "0", "--api-key", key],
    }
    if baseline_python is not None:
        # -I: neither the working directory nor PYTHONPATH may put another
        # tree's picloud before the one installed in that venv.
        commands["baseline"] = hub([str(baseline_python), "-I"])
    return commands


class Server:
    """A server process started on a free port; waits for its "listening on" line."""

    def __init__(
        self, name: str, command: list[str], start_timeout: float = 20.0, mqtt: bool = False,
        transport: str = TCP, certificate: Optional[tuple[Path, Path]] = None,
    ) -> None:
        """``mqtt``: the hub listens for MQTT too, on a free port (``mqtt_port``), and
        over websockets at /mqtt; else not at all. With ``certificate`` (its
        file and its key's) it serves HTTPS, and MQTT over TLS on a free port
        too (``mqtt_tls_port``). ``transport`` is what the scenario uses:
        ``mqtt_urls[transport]``, where the hub listens for it."""
        self.name = name
        self.command = command
        self.transport = transport
        env = {k: v for k, v in os.environ.items() if k not in ("PORT", "API_KEY", "USE_TLS")}
        # The load generators open thousands of connections from one address
        # at once; as variables, not flags, so that a baseline from before
        # these settings starts too.
        env.update(PICLOUD_MAX_PENDING=MANY, PICLOUD_MAX_PENDING_PER_IP=MANY)
        if mqtt:
            env["PICLOUD_MQTT_PORT"] = "0"
        else:
            env["PICLOUD_NO_MQTT"] = "1"
        if certificate is not None:
            command = [*command, "--tls", "--cert-file", str(certificate[0]), "--key-file", str(certificate[1])]
            if mqtt:
                env["PICLOUD_MQTT_TLS_PORT"] = "0"
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        self.stderr_lines: list[str] = []
        threading.Thread(target=drain, args=(self.proc.stderr, self.stderr_lines), daemon=True).start()
        self.port = self.mqtt_port = self.mqtt_tls_port = 0
        timer = threading.Timer(start_timeout, self.proc.kill)
        timer.start()
        try:
            for line in self.proc.stdout:  # type: ignore[union-attr]
                for pattern, field in ((MQTT_LINE, "mqtt_port"), (MQTT_TLS_LINE, "mqtt_tls_port")):
                    found = pattern.search(line)
                    if found:
                        setattr(self, field, int(found.group(1)))
                match = LISTENING.search(line)
                if match:
                    self.port = int(match.group(2))
                    break
        finally:
            timer.cancel()
        if not self.port:
            self.proc.wait(timeout=5)
            raise RuntimeError(f"{name} did not start: {''.join(self.stderr_lines)[-2000:]}")
        threading.Thread(target=drain, args=(self.proc.stdout, []), daemon=True).start()
        self.mqtt_urls = mqtt_urls(self.mqtt_port, self.port if mqtt and certificate is None else 0,
                                   self.mqtt_tls_port)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def state_dir(self) -> Optional[Path]:
        """The hub's ``--state-dir`` (None for a server without one)."""
        return state_dir_of(self.command)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def status_kib(self, field: str = "VmRSS") -> int:
        return status_kib(self.pid, field)

    def log_count(self, text: str) -> int:
        return sum(text in line for line in self.stderr_lines)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def state_dir_of(command: list[str]) -> Optional[Path]:
    """The value of ``--state-dir`` in a hub's command line, or None."""
    for option, value in zip(command, command[1:]):
        if option == "--state-dir":
            return Path(value)
    return None


def with_fresh_state_dir(command: list[str]) -> list[str]:
    """A hub's command line with a new, empty ``--state-dir`` (unchanged
    without one); the caller removes the folder."""
    if state_dir_of(command) is None:
        return command
    fresh = tempfile.mkdtemp(prefix="picloud-bench-")
    return [fresh if previous == "--state-dir" else part for previous, part in zip(["", *command], command)]


def mqtt_urls(tcp: int = 0, ws: int = 0, tls: int = 0) -> dict[str, str]:
    """mqttbench's -url for each transport a broker listens for (a port of 0: not at all)."""
    urls = {TCP: f"tcp://127.0.0.1:{tcp}", WS: f"ws://127.0.0.1:{ws}/mqtt", TLS: f"ssl://127.0.0.1:{tls}"}
    return {transport: url for (transport, url), port in zip(urls.items(), (tcp, ws, tls)) if port}


def drain(stream: IO[str], into: list[str]) -> None:
    for line in stream:
        into.append(line)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used, all its threads.

    Read from the process's CPU clock (nanoseconds): /proc/PID/stat counts
    10 ms ticks, 7% of what a fan-out round costs, too coarse to tell two
    trees within 5% apart.
    """
    return time.clock_gettime(_process_cpu_clock(pid))


def thread_cpu_seconds(pid: int, tid: Optional[int] = None) -> Optional[float]:
    """CPU time one thread of a process has used (its main thread, the hub's
    event loop, by default), from /proc/PID/task/TID/schedstat in ns; None
    where the kernel does not keep it."""
    try:
        with open(f"/proc/{pid}/task/{tid or pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def _process_cpu_clock(pid: int) -> int:
    # Linux's clockid for another process's CPU time, what clock_getcpuclockid(3)
    # returns: the kernel's MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED).
    return ((~pid) << 3) | 2


def children_cpu_seconds() -> float:
    """User plus system CPU time of this process's children that have ended."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent on anything, all cores, from
    /proc/stat (what neither idle nor waiting for I/O; steal counts: a
    neighbouring VM had the core)."""
    with open("/proc/stat") as f:
        ticks = [int(t) for t in f.readline().split()[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    # guest time is already counted in user time
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def status_kib(pid: int, field: str = "VmRSS") -> int:
    """A kB field of /proc/PID/status: VmRSS (resident now) or VmHWM (peak)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise ValueError(f"no {field} in /proc/{pid}/status")


def settled_rss(pid: int, quiet: float = 0.5, deadline: float = 15.0) -> int:
    """RSS once it has stopped changing for ``quiet`` seconds (or at the deadline).

    Nothing can be awaited here: old-protocol subscribers get no confirmation,
    so the server's memory is watched until it is still.
    """
    end = time.monotonic() + deadline
    last = status_kib(pid)
    still_since = time.monotonic()
    while time.monotonic() < end:
        time.sleep(0.05)
        now = status_kib(pid)
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= quiet:
            break
    return last


def rss_growth(pid: int, open_some: Callable[[int], list[socket.socket]], count: int, warm: int = 20) -> float:
    """KiB of resident memory per connection that ``open_some(n)`` opens
    (and leaves idle) in process ``pid``: ``warm`` are opened and closed
    first, for the state the first ones set up lazily; then settled RSS
    before and after ``count``."""
    for sock in open_some(warm):
        sock.close()
    before = settled_rss(pid)
    socks = open_some(count)
    try:
        after = settled_rss(pid)
    finally:
        for sock in socks:
            sock.close()
    return (after - before) / count
