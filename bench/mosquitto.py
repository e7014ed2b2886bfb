"""Debian's Mosquitto, the broker the MQTT scenarios compare the hub with:
started as a process of its own on a free loopback port, with the limits a
hub has by default, and measured as a Server is; for the scenarios over
websockets or TLS, with a second listener of that kind.

Debian's 2.0.11 carries its own libwebsockets, which takes a websocket
listener's host as the name of an interface: ``listener PORT 127.0.0.1``
with ``protocol websockets`` listens on every address (``*:PORT``), and
``listener PORT lo`` on the loopback only (``[::ffff:127.0.0.1]:PORT``).
Nor does it start with websocket listeners alone ("Unable to start any
listening sockets"): the plain one stays beside them."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from picloud.config import Config

from .procs import TCP, TLS, WS, Server, drain, mqtt_urls

#: Debian's path, for a PATH without /usr/sbin.
DEBIAN_PATH = "/usr/sbin/mosquitto"
#: What it says when a port it was given is taken (the second: of a websocket listener).
PORT_TAKEN = ("Address already in use", "Unable to create websockets listener")


def find() -> Optional[str]:
    """The mosquitto program, or None when it is not installed."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return DEBIAN_PATH if Path(DEBIAN_PATH).is_file() else None


def listener(port: int, host: str = "127.0.0.1", *options: str) -> list[str]:
    """A listener's lines; its connections are limited as the hub's are."""
    return [f"listener {port} {host}", f"max_connections {Config.max_connections.default}", *options]


def websocket_listener(port: int) -> list[str]:
    # "lo": this libwebsockets binds an interface by name (see above).
    return listener(port, "lo", "protocol websockets")


def tls_listener(port: int, certificate: tuple[Path, Path]) -> list[str]:
    return listener(port, "127.0.0.1", f"certfile {certificate[0]}", f"keyfile {certificate[1]}")


def config(port: int, more: Sequence[str] = ()) -> str:
    """A mosquitto.conf with the hub's default limits: the largest message,
    the messages kept per client beyond those in flight, those in flight, the
    connections; no persistence, and it logs its start but no connection.
    ``more``: the lines of further listeners."""
    return "\n".join([
        *listener(port),
        *more,
        "allow_anonymous true",
        "persistence false",
        f"max_packet_size {Config.max_message_bytes.default}",
        f"max_queued_messages {Config.mqtt_session_queue.default}",
        f"max_inflight_messages {Config.mqtt_max_inflight.default}",
        "log_dest stderr",
        "log_type error",
        "log_type information",  # "... running" once it listens
        "",
    ])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Mosquitto(Server):
    """``command`` is the program (``[find()]``); a config file is added.
    ``transport`` (procs.TCP, WS or TLS) is what the scenario uses; TLS
    needs ``certificate``, its file and its key's.

    The ports are picked before mosquitto binds them, so another process may
    take one in between: then mosquitto says so and other ports are tried.
    """

    def __init__(
        self, command: list[str], transport: str = TCP, certificate: Optional[tuple[Path, Path]] = None,
        start_timeout: float = 10.0, attempts: int = 3,
    ) -> None:
        if transport == TLS and certificate is None:
            raise ValueError("mosquitto over TLS needs a certificate")
        self.name = "mosquitto"
        self.command = command
        self.transport = transport
        self.dir = Path(tempfile.mkdtemp(prefix="mosquitto-bench-"))
        for _ in range(attempts):
            self.port = self.mqtt_port = free_port()
            ws = free_port() if transport == WS else 0
            tls = free_port() if transport == TLS else 0
            more = [*(websocket_listener(ws) if ws else []), *(tls_listener(tls, certificate) if tls else [])]
            self.mqtt_urls = mqtt_urls(self.port, ws, tls)
            conf = self.dir / "mosquitto.conf"
            conf.write_text(config(self.port, more))
            # Its log on stderr: on stdout it would wait in a buffer.
            self.proc = subprocess.Popen([*command, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, text=True)
            self.stderr_lines: list[str] = []
            if self._wait_running(start_timeout):
                threading.Thread(target=drain, args=(self.proc.stderr, self.stderr_lines), daemon=True).start()
                return
            self.proc.kill()
            self.proc.wait()
            said = "".join(self.stderr_lines) or f"exit code {self.proc.returncode}"
            if not any(taken in said for taken in PORT_TAKEN):
                break
        shutil.rmtree(self.dir, ignore_errors=True)
        raise RuntimeError(f"mosquitto did not start: {said.strip()[-2000:]}")

    def _wait_running(self, timeout: float) -> bool:
        """True once mosquitto says it runs; what it said is in ``stderr_lines``."""
        timer = threading.Timer(timeout, self.proc.kill)
        timer.start()
        try:
            for line in self.proc.stderr:  # type: ignore[union-attr]
                self.stderr_lines.append(line)
                if line.rstrip().endswith(" running"):
                    return True
        finally:
            timer.cancel()
        return False

    @property
    def ws_url(self) -> str:
        raise RuntimeError("mosquitto speaks MQTT only")

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        shutil.rmtree(self.dir, ignore_errors=True)
