"""PiCloud's MQTT front end against Debian's Mosquitto, with the same load
generator (../shared/tools/mqttbench), alternating round by round.

    python bench/mqtt.py --rounds 5                       # every scenario
    python bench/mqtt.py --scenarios fanout-qos0 --rounds 3

Each round starts both brokers afresh on free loopback ports (Mosquitto with
the limits PiCloud has by default: a 1 MiB message, 1000 queued, 20 in
flight) and runs the scenario against each, PiCloud first. It prints, per
scenario, the median deliveries/s and broker CPU seconds per 100k deliveries
of each, their ratios, and the generator's own CPU: a generator near a full
core means a round measured the generator, not the broker (said so).
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.procs import Server

KEY = "bench-key-0123456789"
SCENARIOS = {
    "fanout-qos0": ["-subs", "100", "-pubs", "1", "-n", "2000", "-window", "50"],
    "fanout-qos1": ["-subs", "100", "-pubs", "1", "-n", "1000", "-window", "20", "-qos", "1"],
    "fanin-qos0": ["-subs", "1", "-pubs", "50", "-n", "400", "-window", "20"],
    # Mosquitto's queue of 1000 for one subscriber would drop part of 50 x 20
    # in flight: a window of 10 keeps both brokers lossless.
    "fanin-qos1": ["-subs", "1", "-pubs", "50", "-n", "200", "-window", "10", "-qos", "1"],
    "connections": ["-subs", "2000", "-pubs", "1", "-n", "20", "-window", "5"],
}
COMMON = ["-size", "64", "-timeout", "120s"]


def picloud() -> Server:
    state = tempfile.mkdtemp(prefix="picloud-mqttbench-")
    return Server("picloud", [sys.executable, "-m", "picloud", "serve", "--port", "0", "--host", "127.0.0.1",
                              "--api-key", KEY, "--mqtt-port", "0", "--log-level", "warning", "--state-dir", state,
                              "--max-pending", "100000", "--max-pending-per-ip", "100000"], mqtt=True)


class Mosquitto:
    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="mosquitto-bench-"))
        conf = self.dir / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                        "message_size_limit 1048576\nmax_queued_messages 1000\nmax_inflight_messages 20\n"
                        "log_type error\n")
        self.proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    said = self.proc.stderr.read() if self.proc.stderr else ""
                    raise RuntimeError(f"mosquitto did not start: {said}") from None
                time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run(binary: str, port: int, pid: int, args: list[str]) -> dict:
    done = subprocess.run([binary, "-url", f"tcp://127.0.0.1:{port}", "-username", "u", "-password", KEY,
                           "-broker-pid", str(pid), *COMMON, *args], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip())
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--mqttbench", default="/tmp/mqttbench", help="a built mqttbench (see its README)")
    args = parser.parse_args()
    results: dict[str, dict[str, list[dict]]] = {}
    for name in args.scenarios.split(","):
        for round_ in range(args.rounds):
            for broker in ("picloud", "mosquitto"):
                server = picloud() if broker == "picloud" else Mosquitto()
                try:
                    port = server.mqtt_port if broker == "picloud" else server.port
                    result = run(args.mqttbench, port, server.pid, SCENARIOS[name])
                finally:
                    server.stop()
                results.setdefault(name, {}).setdefault(broker, []).append(result)
                ok = result["received"] == result["expected"] and not result["duplicates"]
                print(f"{name} round {round_ + 1} {broker}: {result['deliveries_per_s']:,.0f}/s, "
                      f"{result['broker_cpu_s_per_100k']:.3f} s/100k, generator {result['client_cpu_s']:.1f} s "
                      f"over {result['seconds']:.1f} s{'' if ok else ', LOST OR REPEATED'}", flush=True)
    print("\nscenario       picloud/s   mosquitto/s  rate ratio  CPU s/100k picloud  mosquitto  CPU ratio")
    for name, by in results.items():
        rate = {b: statistics.median(r["deliveries_per_s"] for r in rs) for b, rs in by.items()}
        cpu = {b: statistics.median(r["broker_cpu_s_per_100k"] for r in rs) for b, rs in by.items()}
        print(f"{name:14} {rate['picloud']:>10,.0f}  {rate['mosquitto']:>11,.0f}  "
              f"{rate['picloud'] / rate['mosquitto']:>9.2f}x  {cpu['picloud']:>18.3f}  {cpu['mosquitto']:>9.3f}  "
              f"{cpu['picloud'] / cpu['mosquitto']:>8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
