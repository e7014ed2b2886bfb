"""Debian's Mosquitto, the broker the MQTT scenarios compare the hub with:
started as a process of its own on a free loopback port, with the limits a
hub has by default, and measured as a Server is."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Optional

from picloud.config import Config

from .procs import Server, drain

#: Debian's path, for a PATH without /usr/sbin.
DEBIAN_PATH = "/usr/sbin/mosquitto"


def find() -> Optional[str]:
    """The mosquitto program, or None when it is not installed."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return DEBIAN_PATH if Path(DEBIAN_PATH).is_file() else None


def config(port: int) -> str:
    """A mosquitto.conf with the hub's default limits: the largest message,
    the messages kept per client beyond those in flight, those in flight, the
    connections; no persistence, and it logs its start but no connection."""
    return "\n".join([
        f"listener {port} 127.0.0.1",
        f"max_connections {Config.max_connections.default}",
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

    The port is picked before mosquitto binds it, so another process may
    take it in between: then mosquitto says so and another port is tried.
    """

    def __init__(self, command: list[str], start_timeout: float = 10.0, attempts: int = 3) -> None:
        self.name = "mosquitto"
        self.dir = Path(tempfile.mkdtemp(prefix="mosquitto-bench-"))
        for _ in range(attempts):
            self.port = self.mqtt_port = free_port()
            conf = self.dir / "mosquitto.conf"
            conf.write_text(config(self.port))
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
            if "Address already in use" not in said:
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
