"""fabfile.py against a real sshd on loopback, and the service files it installs.

One module-scoped deployment (a throwaway sshd, host key and user key, a
temporary prefix and /etc) serves the tests in order: deploy, upgrade,
rollback, then the init.d script and the systemd unit as installed. A second
one, behind a real nginx the deploy configures and starts, follows: HTTPS and
MQTT through nginx, a redeploy, and the deploys that nginx's checks stop.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import urllib.request
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.support.certs import self_signed
from tests.support.mqtt import Peer
from tests.support.sourcetree import source_tree

ROOT = Path(__file__).resolve().parent.parent
SSHD = "/usr/sbin/sshd"
KEY = "deploy-test-key-5f3a9c"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("deploy")


@pytest.fixture(scope="module")
def sshd(tmp: Path):
    """A real OpenSSH server on a free loopback port, taking one throwaway key."""
    if os.geteuid() != 0:
        pytest.fail("the deployment tests run sshd and deploy as root (as CI does)")
    ssh = tmp / "ssh"
    ssh.mkdir(mode=0o700)
    for name in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", ssh / name], check=True)
    shutil.copy(ssh / "user_key.pub", ssh / "authorized_keys")
    port = free_port()
    (ssh / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {ssh / 'host_key'}\n"
        f"AuthorizedKeysFile {ssh / 'authorized_keys'}\nPidFile {ssh / 'sshd.pid'}\n"
        "UsePAM no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nStrictModes no\nSubsystem sftp internal-sftp\n"
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # its privilege separation directory
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", ssh / "sshd_config"], stderr=subprocess.PIPE, text=True
    )
    for line in proc.stderr:  # blocks until sshd says it listens
        if "Server listening" in line:
            break
    else:
        proc.wait()
        pytest.fail("sshd did not start")
    yield port, ssh / "user_key"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def wheelhouse(tmp: Path) -> Path:
    """The dependencies' wheels, so the target installs with --no-index, and
    what pip builds the sdist with there."""
    out = tmp / "wheelhouse"
    pins = [f"{name}=={version(name)}" for name in ("tornado", "ujson", "click", "cloup", "setuptools", "wheel")]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "-d", out, *pins],
        check=True,
    )
    return out


class Target:
    """The deployment under test: where it goes, and how to run fab at it."""

    def __init__(self, tmp: Path, sshd, wheelhouse: Path) -> None:
        self.ssh_port, self.user_key = sshd
        self.port = free_port()
        self.prefix = tmp / "opt/picloud"
        self.etc = tmp / "etc"
        self.state = tmp / "var/lib/picloud"
        self.pidfile = tmp / "run/picloud.pid"
        self.logfile = tmp / "var/log/picloud.log"
        self.pidfile.parent.mkdir(parents=True)
        self.logfile.parent.mkdir(parents=True)
        home = tmp / "home"  # no known_hosts or ssh config of the user running the tests
        home.mkdir()
        self.env = {
            "PATH": os.environ["PATH"], "HOME": str(home),
            "DEPLOY_PREFIX": str(self.prefix), "DEPLOY_ETC": str(self.etc),
            "DEPLOY_STATE_DIR": str(self.state), "DEPLOY_PIDFILE": str(self.pidfile),
            "DEPLOY_LOGFILE": str(self.logfile), "DEPLOY_SERVICE_MANAGER": "init.d",
            "DEPLOY_RUN_USER": "root", "DEPLOY_PORT": str(self.port), "DEPLOY_API_KEY": KEY,
            "DEPLOY_PYTHON": sys._base_executable, "DEPLOY_WHEELHOUSE": str(wheelhouse),
            "DEPLOY_DIST": str(tmp / "dist"), "DEPLOY_HEALTH_TIMEOUT": "20",
        }

    def fab(self, src: Path, *args: str, check: bool = True, via_env: bool = False,
            settings: dict[str, str] | None = None):
        """``fab -H root@127.0.0.1:PORT ARGS``, or the target in DEPLOY_USER/DEPLOY_HOST."""
        env, target = {**self.env, **(settings or {})}, ["-H", f"root@127.0.0.1:{self.ssh_port}"]
        if via_env:
            env.update(DEPLOY_USER="root", DEPLOY_HOST=f"127.0.0.1:{self.ssh_port}")
            target = []
        result = subprocess.run(
            [sys.executable, "-m", "fabric", *target, "-i", str(self.user_key), *args],
            cwd=src, env=env, capture_output=True, text=True, timeout=120,
        )
        if check and result.returncode != 0:
            pytest.fail(f"fab {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def healthz(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as resp:
            return json.load(resp)

    def running_version(self) -> str:
        """The version the last started hub announced in its log."""
        versions = re.findall(r"picloud (\S+) listening on", self.logfile.read_text())
        return versions[-1]

    def release(self, link: str) -> str:
        return os.readlink(self.prefix / link)

    def init_script(self, action: str) -> subprocess.CompletedProcess:
        script = self.etc / "init.d/picloud"
        return subprocess.run([script, action], capture_output=True, text=True, timeout=60)

    def hub_processes(self) -> list[int]:
        """Pids of any process running a release under the prefix."""
        pids = []
        for proc in Path("/proc").iterdir():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except (OSError, ValueError):
                continue
            if str(self.prefix).encode() in cmdline:
                pids.append(int(proc.name))
        return pids


@pytest.fixture(scope="module")
def target(tmp: Path, sshd, wheelhouse: Path):
    t = Target(tmp, sshd, wheelhouse)
    yield t
    if t.pidfile.exists():
        t.init_script("stop")
    for pid in t.hub_processes():
        os.kill(pid, 9)


def test_build_deploy_installs_a_running_hub(target, tmp):
    src = source_tree(tmp, "src-1")
    result = target.fab(src, "build_deploy")
    assert "is running on 127.0.0.1" in result.stdout
    # Built there from the sdist, with the target's gcc, and said so.
    assert f"picloud {version('picloud')}, C speedups: frames, messages, packets, publish" in result.stdout
    assert "on C speedups: frames, messages, packets, publish" in target.logfile.read_text()
    assert target.healthz()["status"] == "ok"
    assert target.running_version() == version("picloud")
    # The key went into the state dir's key file, never onto a command line.
    key_file = target.state / "api_key"
    assert key_file.read_text().strip() == KEY
    assert key_file.stat().st_mode & 0o777 == 0o600
    defaults = target.etc / "default/picloud"
    assert defaults.stat().st_mode & 0o777 == 0o600
    assert f"PORT={target.port}" in defaults.read_text().splitlines()
    for pid in target.hub_processes():
        assert KEY.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
    # The hub uses the deployed key.
    req = urllib.request.Request(
        f"http://127.0.0.1:{target.port}/publish", data=b'{"event": "e"}',
        headers={"X-API-Key": KEY, "X-API-Client-Name": "test"}, method="POST",
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 201


def test_second_deploy_upgrades_in_place(target, tmp):
    first = target.release("current")
    defaults = target.etc / "default/picloud"
    defaults.write_text(defaults.read_text() + "# edited by the operator\n")
    src = source_tree(tmp, "src-2", ".post1")
    target.fab(src, "build-deploy")  # the Fabric 3 spelling works too
    assert target.release("previous") == first
    assert target.release("current") != first
    assert target.release("current").startswith(f"releases/{version('picloud')}.post1-")
    assert target.running_version() == f"{version('picloud')}.post1"
    assert target.healthz()["status"] == "ok"
    assert len(target.hub_processes()) == 1
    assert defaults.read_text().endswith("# edited by the operator\n")  # a deploy keeps it
    status = target.fab(src, "status").stdout
    assert f"picloud {version('picloud')}.post1, C speedups: frames, messages, packets, publish" in status
    assert "picloud is running" in status


def test_rollback_brings_the_previous_version_back(target, tmp):
    current, previous = target.release("current"), target.release("previous")
    target.fab(tmp / "src-2", "rollback")
    assert target.release("current") == previous
    assert target.release("previous") == current
    assert target.running_version() == version("picloud")
    assert target.healthz()["status"] == "ok"
    assert "listening on" in target.fab(tmp / "src-2", "logs", via_env=True).stdout


def test_a_hub_that_does_not_come_up_fails_the_deploy_loudly(target, tmp):
    assert target.init_script("stop").returncode == 0
    defaults = target.etc / "default/picloud"
    defaults.write_text(defaults.read_text() + "START_TIMEOUT=3\n")
    with socket.socket() as squatter:  # the hub's port, taken
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
        squatter.bind(("127.0.0.1", target.port))
        squatter.listen()
        failed = target.fab(tmp / "src-2", "rollback", check=False)
    assert failed.returncode != 0
    assert "does not answer /healthz" in failed.stderr
    assert "/healthz does not answer" not in failed.stderr  # no probe after a failed start
    assert f"port {target.port} is already in use" in failed.stdout  # the log's tail is shown
    assert target.fab(tmp / "src-2", "rollback").returncode == 0
    assert target.running_version() == version("picloud")


def test_init_script_starts_stops_and_reports(target):
    script = target.etc / "init.d/picloud"
    assert target.init_script("status").returncode == 0
    assert target.init_script("stop").returncode == 0
    assert target.init_script("status").returncode == 3
    assert not target.pidfile.exists()
    assert target.hub_processes() == []
    started = target.init_script("start")
    assert started.returncode == 0, started.stdout + started.stderr
    # start returns once the hub has sent READY=1, so it answers at once.
    assert target.healthz()["status"] == "ok"
    assert target.init_script("status").returncode == 0
    assert target.init_script("reload").returncode == 0
    assert target.healthz()["status"] == "ok"
    assert target.init_script("stop").returncode == 0
    assert target.init_script("status").returncode == 3
    assert target.hub_processes() == []
    assert target.init_script("bogus").returncode == 3
    assert f"DAEMON={target.prefix}/current/bin/picloud" in script.read_text()


def test_init_script_passes_shellcheck(target):
    for script in (ROOT / "etc/init.d/picloud", target.etc / "init.d/picloud"):
        result = subprocess.run(["shellcheck", script], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout


def test_installed_unit_passes_systemd_analyze_verify(target):
    unit = target.etc / "systemd/system/picloud.service"
    text = unit.read_text()
    assert f"ExecStart={target.prefix}/current/bin/picloud serve" in text
    assert f"EnvironmentFile=-{target.etc}/default/picloud" in text
    result = subprocess.run(
        ["systemd-analyze", "verify", unit], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "picloud.service" not in result.stderr, result.stderr


def test_defaults_file_shows_every_setting_commented():
    from picloud.cli import serve

    # A list names the setting's variable first, then its former names (not shown).
    names = {"USE_TLS", "START_TIMEOUT"} | {
        param.envvar[0] if isinstance(param.envvar, list) else param.envvar for param in serve.params if param.envvar}
    text = (ROOT / "etc/default/picloud").read_text()
    shown = set(re.findall(r"^#([A-Z_]+)=", text, flags=re.M))
    assert names - shown == set(), "settings missing from etc/default/picloud"
    assert shown - names == set(), "etc/default/picloud shows settings the hub does not read"
    assert all(line.startswith("#") for line in text.splitlines() if line.strip())


# --- behind nginx ---

STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"  # libnginx-mod-stream
DEVICE_IP = "127.0.0.2"  # another loopback address, told apart from nginx's


def free_port_everywhere() -> int:
    """A port free on every address, IPv4 and IPv6: nginx listens on both."""
    with socket.socket(socket.AF_INET6) as sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", 0))
        return sock.getsockname()[1]


class NginxTarget(Target):
    """A deployment with DEPLOY_NGINX_SERVER_NAME, into an /etc whose nginx.conf
    keeps its pid file, logs and temporary files in the test's directory."""

    def __init__(self, tmp: Path, sshd, wheelhouse: Path) -> None:
        super().__init__(tmp, sshd, wheelhouse)
        self.tmp = tmp
        self.ports = {name: free_port_everywhere() for name in ("http", "https", "mqtt", "mqtts")}
        self.hub_mqtt = free_port()
        (tmp / "tls").mkdir()
        self.cert, self.key = tmp / "tls/fullchain.pem", tmp / "tls/privkey.pem"
        cert, key = self_signed("picloud.test")
        self.cert.write_bytes(cert)
        self.key.write_bytes(key)
        self.conf = self.etc / "nginx/nginx.conf"
        self.conf.parent.mkdir(parents=True)
        self.nginx_pidfile = tmp / "run/nginx.pid"
        (tmp / "nginx-temp").mkdir()
        temps = "".join(f"{name}_temp_path {tmp / 'nginx-temp' / name};\n"
                        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        self.conf.write_text(
            f"user root;\nworker_processes 1;\npid {self.nginx_pidfile};\nerror_log {tmp / 'nginx-error.log'};\n"
            f"load_module {STREAM_MODULE};\nevents {{}}\n"
            f"http {{\naccess_log off;\n{temps}include {self.etc}/nginx/sites-enabled/*;\n}}\n"
        )
        self.site = self.etc / "nginx/sites-available/picloud.conf"
        self.stream = self.etc / "nginx/picloud-stream.conf"
        self.env.update(
            DEPLOY_NGINX_SERVER_NAME="picloud.test", DEPLOY_NGINX_CERT=str(self.cert),
            DEPLOY_NGINX_KEY=str(self.key), DEPLOY_NGINX_MQTT_UPSTREAM=str(self.hub_mqtt),
            DEPLOY_NGINX_PORTS=" ".join(str(self.ports[name]) for name in ("http", "https", "mqtt", "mqtts")),
        )

    def healthz_through_nginx(self) -> dict:
        context = ssl.create_default_context(cafile=self.cert)
        url = f"https://127.0.0.1:{self.ports['https']}/healthz"
        with urllib.request.urlopen(url, timeout=5, context=context) as resp:
            return json.load(resp)

    def nginx_pid(self) -> int | None:
        """The running nginx's master, as its pid file says."""
        try:
            pid = int(self.nginx_pidfile.read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def stop_nginx(self) -> None:
        pid = self.nginx_pid()
        if pid is None:
            return
        pidfd = os.pidfd_open(pid)  # not our child: its exit is awaited through a pidfd
        try:
            os.kill(pid, signal.SIGTERM)
            assert select.select([pidfd], [], [], 10)[0], "nginx did not stop"
        finally:
            os.close(pidfd)

    def etc_files(self) -> dict[str, bytes | str]:
        """Every file under the deployment's /etc: its bytes, or a link's target."""
        files: dict[str, bytes | str] = {}
        for path in sorted(self.etc.rglob("*")):
            if path.is_symlink():
                files[str(path)] = os.readlink(path)
            elif path.is_file():
                files[str(path)] = path.read_bytes()
        return files


@pytest.fixture(scope="module")
def behind_nginx(tmp: Path, sshd, wheelhouse: Path):
    t = NginxTarget(tmp / "nginx", sshd, wheelhouse)
    yield t
    t.stop_nginx()
    if t.pidfile.exists():
        t.init_script("stop")
    for pid in t.hub_processes():
        os.kill(pid, 9)


def test_deploy_behind_nginx_serves_https_and_mqtt_through_it(behind_nginx, tmp):
    t = behind_nginx
    assert t.nginx_pid() is None
    result = t.fab(source_tree(tmp, "src-nginx"), "build_deploy")
    assert "is running on 127.0.0.1" in result.stdout
    assert f"https://127.0.0.1:{t.ports['https']}/healthz 200" in result.stdout  # checked through nginx
    assert t.nginx_pid() is not None  # started by the deploy
    assert t.healthz_through_nginx()["status"] == "ok"
    plain = http.client.HTTPConnection("127.0.0.1", t.ports["http"], timeout=5)
    plain.request("GET", "/healthz")
    redirect = plain.getresponse()
    assert redirect.status == 301
    assert redirect.getheader("Location") == f"https://127.0.0.1:{t.ports['https']}/healthz"
    plain.close()

    # Plain MQTT and MQTT over TLS through nginx's stream module, to the hub on loopback.
    watcher = Peer(t.ports["mqtt"], "nginx-watcher", key=KEY, connect=False, source=DEVICE_IP)
    assert str(watcher.start()[1]) == "Success"
    assert watcher.subscribe(("t/#", 1)) == [1]
    device = Peer(t.ports["mqtts"], "nginx-device", key=KEY, ca_file=str(t.cert))
    device.publish("t/porch", "through nginx", qos=1)
    assert watcher.receive().payload == b"through nginx"
    for peer in (watcher, device):
        peer.close()
    # proxy_protocol on, PICLOUD_XHEADERS=1: the hub sees the device, not nginx.
    assert f"'nginx-watcher' from {DEVICE_IP}:" in t.logfile.read_text()

    lines = (t.etc / "default/picloud").read_text().splitlines()
    for line in ("PICLOUD_HOST=127.0.0.1", "PICLOUD_XHEADERS=1", f"PICLOUD_MQTT_PORT={t.hub_mqtt}"):
        assert lines.count(line) == 1, line
    assert not any("Added by the nginx deploy" in line for line in lines)  # a new file has them in place
    assert (t.etc / "nginx/sites-enabled/picloud.conf").resolve() == t.site
    assert "    server_name picloud.test;" in t.site.read_text().splitlines()
    assert t.conf.read_text().splitlines()[-1] == f"include {t.stream};"  # at the top level


def test_a_second_deploy_behind_nginx_changes_nothing_more(behind_nginx, tmp):
    t = behind_nginx
    before, pid = t.etc_files(), t.nginx_pid()
    t.fab(tmp / "src-nginx", "deploy")
    assert t.etc_files() == before
    assert t.nginx_pid() == pid  # reloaded, not restarted
    assert t.healthz_through_nginx()["status"] == "ok"

    # A defaults file from before nginx (the operator's: never overwritten)
    # gets what it lacks, once, and says where it came from.
    defaults = t.etc / "default/picloud"
    defaults.write_text(defaults.read_text().replace("\nPICLOUD_XHEADERS=1\n", "\n#PICLOUD_XHEADERS=\n"))
    t.fab(tmp / "src-nginx", "deploy")
    lines = defaults.read_text().splitlines()
    assert lines[-2:] == [
        "# Added by the nginx deploy (fab deploy, DEPLOY_NGINX_SERVER_NAME): the devices' addresses "
        "from nginx (headers, PROXY protocol).",
        "PICLOUD_XHEADERS=1",
    ]
    for line in ("PICLOUD_HOST=127.0.0.1", "PICLOUD_XHEADERS=1", f"PICLOUD_MQTT_PORT={t.hub_mqtt}"):
        assert lines.count(line) == 1, line
    assert t.conf.read_text() == before[str(t.conf)].decode()
    assert t.healthz_through_nginx()["status"] == "ok"


def fake_nginx_without_stream(tmp: Path) -> str:
    """An nginx whose -V names no stream module, and a modules directory without it."""
    program = tmp / "nginx-without-stream"
    program.write_text(
        "#!/bin/sh\necho 'nginx version: nginx/1.22.1' >&2\n"
        f"echo 'configure arguments: --prefix=/usr/share/nginx --modules-path={tmp}/no-modules' >&2\n"
    )
    program.chmod(0o755)
    return str(program)


def conf_without_stream_module(tmp: Path) -> str:
    conf = tmp / "unloaded.conf"
    conf.write_text(f"pid {tmp / 'unloaded.pid'};\nevents {{}}\nhttp {{}}\n")
    return str(conf)


@pytest.mark.parametrize("setting, value, said", [
    ("DEPLOY_NGINX_CERT", lambda tmp: f"{tmp}/none/fullchain.pem",
     "the certificate {value} is missing on 127.0.0.1 (set DEPLOY_NGINX_CERT)"),
    ("DEPLOY_NGINX_KEY", lambda tmp: f"{tmp}/none/privkey.pem",
     "the key {value} is missing on 127.0.0.1 (set DEPLOY_NGINX_KEY)"),
    ("DEPLOY_NGINX_BIN", lambda tmp: f"{tmp}/none/nginx",
     "nginx is not installed on 127.0.0.1: apt install nginx libnginx-mod-stream"),
    ("DEPLOY_NGINX_BIN", fake_nginx_without_stream,
     "nginx on 127.0.0.1 has no stream module (for MQTT): apt install libnginx-mod-stream"),
    ("DEPLOY_NGINX_CONF", conf_without_stream_module,
     "nginx on 127.0.0.1 does not load its stream module: {value} needs load_module modules/ngx_stream_module.so;"),
    ("DEPLOY_NGINX_CONF", lambda tmp: f"{tmp}/none/nginx.conf",
     "{value} is missing on 127.0.0.1 (set DEPLOY_NGINX_CONF)"),
])
def test_what_nginx_lacks_stops_the_deploy_before_any_change(behind_nginx, tmp, setting, value, said):
    t = behind_nginx
    value = value(t.tmp)
    before, current = t.etc_files(), t.release("current")
    failed = t.fab(tmp / "src-nginx", "deploy", check=False, settings={setting: value})
    assert failed.returncode != 0
    assert failed.stderr.strip().splitlines() == [said.format(value=value)]
    assert "deploying" not in failed.stdout
    assert t.etc_files() == before
    assert t.release("current") == current


def test_files_nginx_rejects_fail_the_deploy_and_are_put_back(behind_nginx, tmp):
    t = behind_nginx
    garbage = t.tmp / "tls/garbage.pem"
    garbage.write_text("not a certificate\n")
    before, current = t.etc_files(), t.release("current")
    failed = t.fab(tmp / "src-nginx", "deploy", check=False, settings={"DEPLOY_NGINX_CERT": str(garbage)})
    assert failed.returncode != 0
    assert f"cannot load certificate \"{garbage}\"" in failed.stderr  # nginx -t's own words
    assert f"deploy failed: `nginx -t -c {t.conf}` rejects the files" in failed.stderr
    assert t.etc_files() == before  # nginx's files as they were, the defaults file untouched
    assert t.release("current") == current
    assert t.healthz_through_nginx()["status"] == "ok"
