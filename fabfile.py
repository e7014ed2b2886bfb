"""Deploy PiCloud to a Raspberry Pi (or any Debian-like host) with Fabric 3.

    fab -H pi@raspberrypi.local build-deploy      # or build_deploy
    DEPLOY_USER=pi DEPLOY_HOST=raspberrypi.local fab build_deploy
    fab -H pi@raspberrypi.local status | logs | rollback

Each deploy installs the sdist into a fresh virtualenv under
``$DEPLOY_PREFIX/releases/``: pip builds it there, with the target's gcc
for the C speedups (picloud/wire/*.c, wire/mqtt/*.c; without gcc or the Python
headers it installs the pure-Python code, and the version line it prints
says so). It points ``current`` at it (``previous`` at the one before, for
``rollback``), installs the service files and the defaults file, restarts
the service and fails unless ``/healthz`` answers. With
DEPLOY_NGINX_SERVER_NAME it also puts nginx in front (etc/nginx/: HTTPS and
websockets, MQTT on 1883 and 8883): it checks nginx, the stream module and the
certificate first, has the hub listen on loopback, and fails unless nginx
takes the files (``nginx -t``) and passes ``/healthz`` on.

Settings, from the environment (DEPLOY_USER and DEPLOY_HOST are the seed's):

    DEPLOY_PREFIX           install prefix [/opt/picloud]
    DEPLOY_SERVICE          service name [picloud]
    DEPLOY_SERVICE_MANAGER  systemd, init.d or none (install only) [systemd]
    DEPLOY_RUN_USER         user the hub runs as, created if missing [picloud]
    DEPLOY_ETC              where default/, init.d/, systemd/system/, nginx/ are [/etc]
    DEPLOY_STATE_DIR        the hub's state directory [/var/lib/SERVICE]
    DEPLOY_PIDFILE, DEPLOY_LOGFILE   for init.d [/run/SERVICE.pid, /var/log/SERVICE.log]
    DEPLOY_PYTHON           Python on the target [python3]
    DEPLOY_PORT             PORT written into a new defaults file; nginx's upstream [9000]
    DEPLOY_API_KEY          written to STATE_DIR/api_key (0600); unset, the hub
                            generates a key on first start and keeps it there
    DEPLOY_WHEELHOUSE       local directory of dependency wheels for the target:
                            uploaded and installed from with --no-index (offline);
                            setuptools and wheel among them, to build the sdist
    DEPLOY_PIP_ARGS         more pip install arguments, e.g. an --index-url
    DEPLOY_EXTRAS           extras to install, e.g. speed (uvloop)
    DEPLOY_KEEP             releases kept [3]
    DEPLOY_HEALTH_TIMEOUT   seconds to wait for /healthz [30]
    DEPLOY_DIST             where `build` puts the sdist and `deploy` takes it [./dist]

nginx in front of the hub (fabfile_nginx.py), only with DEPLOY_NGINX_SERVER_NAME:

    DEPLOY_NGINX_SERVER_NAME  the site's server_name, e.g. picloud.example.org
    DEPLOY_NGINX_CERT       [/etc/letsencrypt/live/SERVER_NAME/fullchain.pem]
    DEPLOY_NGINX_KEY        [/etc/letsencrypt/live/SERVER_NAME/privkey.pem]
    DEPLOY_NGINX_PORTS      nginx's http, https, mqtt, mqtts ports [80 443 1883 8883]
    DEPLOY_NGINX_MQTT_UPSTREAM  the hub's MQTT port, on loopback [1884]
    DEPLOY_NGINX_CONF       nginx's main file [$DEPLOY_ETC/nginx/nginx.conf]
    DEPLOY_NGINX_BIN        the nginx program on the target [nginx]

It installs $DEPLOY_ETC/nginx/sites-available/SERVICE.conf (linked from
sites-enabled/) and $DEPLOY_ETC/nginx/SERVICE-stream.conf, included at the end
of nginx.conf. A new defaults file gets PICLOUD_HOST=127.0.0.1,
PICLOUD_XHEADERS=1 and PICLOUD_MQTT_PORT; an existing one gets those it lacks
appended. nginx is reloaded (systemctl, or nginx -s reload), or started.

The API key never appears on the target's command line: it is uploaded over
SFTP into a 0600 file. A user other than root needs sudo; its password is
asked for when sudo wants one (or give ``--prompt-for-sudo-password``).
"""

from __future__ import annotations

import getpass
import io
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from fabric import Connection, task
from invoke import Collection
from invoke.exceptions import Exit, UnexpectedExit

from fabfile_nginx import TEST_FAILED, Nginx

HERE = Path(__file__).resolve().parent

# The seed's command is `fab build_deploy`; Fabric 3 style is `build-deploy`.
# Invoke rewrites every task name and alias to one spelling ("_" to "-", or
# the reverse with tasks.auto_dash_names off), which leaves no way to offer
# both, so this one name is exempt from the rewriting.
_BOTH_SPELLINGS = {"build_deploy", "build-deploy"}
_transform = Collection.transform
Collection.transform = lambda self, name: name if name in _BOTH_SPELLINGS else _transform(self, name)
MANAGERS = ("systemd", "init.d", "none")


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name) or default


@dataclass
class Settings:
    prefix: str = field(default_factory=lambda: _env("DEPLOY_PREFIX", "/opt/picloud").rstrip("/"))
    service: str = field(default_factory=lambda: _env("DEPLOY_SERVICE", "picloud"))
    manager: str = field(default_factory=lambda: _env("DEPLOY_SERVICE_MANAGER", "systemd"))
    run_user: str = field(default_factory=lambda: _env("DEPLOY_RUN_USER", "picloud"))
    etc: str = field(default_factory=lambda: _env("DEPLOY_ETC", "/etc").rstrip("/"))
    python: str = field(default_factory=lambda: _env("DEPLOY_PYTHON", "python3"))
    port: str = field(default_factory=lambda: _env("DEPLOY_PORT"))
    wheelhouse: str = field(default_factory=lambda: _env("DEPLOY_WHEELHOUSE"))
    pip_args: str = field(default_factory=lambda: _env("DEPLOY_PIP_ARGS"))
    extras: str = field(default_factory=lambda: _env("DEPLOY_EXTRAS"))
    keep: int = field(default_factory=lambda: int(_env("DEPLOY_KEEP", "3")))
    health_timeout: float = field(default_factory=lambda: float(_env("DEPLOY_HEALTH_TIMEOUT", "30")))
    dist: Path = field(default_factory=lambda: Path(_env("DEPLOY_DIST", str(HERE / "dist"))))

    def __post_init__(self) -> None:
        if self.manager not in MANAGERS:
            raise Exit(f"DEPLOY_SERVICE_MANAGER must be one of {', '.join(MANAGERS)}, not {self.manager!r}")
        if not re.fullmatch(r"[A-Za-z0-9_.@-]+", self.service):
            raise Exit(f"bad service name {self.service!r}")
        self.state_dir = _env("DEPLOY_STATE_DIR", f"/var/lib/{self.service}")
        self.pidfile = _env("DEPLOY_PIDFILE", f"/run/{self.service}.pid")
        self.logfile = _env("DEPLOY_LOGFILE", f"/var/log/{self.service}.log")
        self.defaults = f"{self.etc}/default/{self.service}"
        self.init_script = f"{self.etc}/init.d/{self.service}"
        self.unit = f"{self.etc}/systemd/system/{self.service}.service"
        self.nginx: Nginx | None = None
        if _env("DEPLOY_NGINX_SERVER_NAME"):
            self.nginx = Nginx(self.etc, self.service, int(self.port or 9000))


def _hosts() -> list[str] | None:
    """DEPLOY_USER/DEPLOY_HOST, for runs without -H (which wins over them)."""
    host = _env("DEPLOY_HOST")
    if not host:
        return None
    user = _env("DEPLOY_USER")
    return [f"{user}@{host}" if user else host]


def _connection(c) -> Connection:
    if isinstance(c, Connection):
        return c
    raise Exit("no target: give -H user@host, or set DEPLOY_HOST (and DEPLOY_USER)")


def _root(c: Connection, command: str, **kwargs):
    """Run ``command`` (a shell line) as root, through sudo unless root already."""
    if c.user == "root":
        return c.run(command, **kwargs)
    if c.config.sudo.password is None and not getattr(c, "_sudo_checked", False):
        # Fabric would answer sudo's prompt with "None": ask once if sudo wants a password.
        if c.run("sudo -n true", hide=True, warn=True).failed:
            c.config.sudo.password = getpass.getpass(f"[sudo] password for {c.user}@{c.host}: ")
        c._sudo_checked = True
    return c.sudo(f"sh -c {shlex.quote(command)}", **kwargs)


def _q(*words: str) -> str:
    return " ".join(shlex.quote(w) for w in words)


_built: list[Path] = []


@task
def build(c) -> Path:
    """Build the project's sdist into DEPLOY_DIST (./dist)."""
    s = Settings()
    s.dist.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as out:
        # An sdist, not a wheel: a wheel built here with the C speedups would
        # install on this machine's architecture only; the target builds its own.
        subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d", out], cwd=HERE, check=True)
        (sdist,) = Path(out).glob("picloud-*.tar.gz")
        target = s.dist / sdist.name
        sdist.replace(target)
    print(f"built {target}")
    _built.append(target)
    return target


def _latest_sdist(s: Settings) -> Path:
    if _built:
        return _built[-1]
    sdists = sorted(s.dist.glob("picloud-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not sdists:
        raise Exit(f"no sdist in {s.dist}: run `fab build` first")
    return sdists[-1]


def _render_unit(s: Settings) -> str:
    text = (HERE / "etc/systemd/picloud.service").read_text()
    if s.state_dir == f"/var/lib/{s.service}":
        state = f"StateDirectory={s.service}"
    else:  # StateDirectory= only names directories under /var/lib
        state = f"ReadWritePaths={s.state_dir}"
    for old, new in [
        ("StateDirectory=picloud", state),
        ("/etc/default/picloud", s.defaults),
        ("/opt/picloud", s.prefix),
        ("/var/lib/picloud", s.state_dir),
        ("User=picloud", f"User={s.run_user}"),
        ("Group=picloud", f"Group={s.run_user}"),
        ("SyslogIdentifier=picloud", f"SyslogIdentifier={s.service}"),
    ]:
        text = text.replace(old, new)
    return text


def _render_init_script(s: Settings) -> str:
    text = (HERE / "etc/init.d/picloud").read_text()
    values = {
        "NAME": s.service, "DAEMON": f"{s.prefix}/current/bin/picloud", "DEFAULTS": s.defaults,
        "PIDFILE": s.pidfile, "LOGFILE": s.logfile, "RUN_USER": s.run_user, "STATE_DIR": s.state_dir,
    }
    for name, value in values.items():
        text = re.sub(rf"^{name}=.*$", lambda _m, n=name, v=value: f"{n}={shlex.quote(v)}", text, flags=re.M)
    return text.replace("# Provides:          picloud", f"# Provides:          {s.service}")


def _render_defaults(s: Settings) -> str:
    text = (HERE / "etc/default/picloud").read_text()
    text = text.replace("#PICLOUD_STATE_DIR=/var/lib/picloud", f"PICLOUD_STATE_DIR={s.state_dir}")
    if s.port:
        text = text.replace("#PORT=9000", f"PORT={int(s.port)}")
    for name, value, _why in s.nginx.defaults() if s.nginx else []:
        text = re.sub(rf"^#{name}=.*$", f"{name}={value}", text, count=1, flags=re.M)
    return text


def _restart_command(s: Settings) -> str:
    if s.manager == "systemd":
        return (f"systemctl daemon-reload && systemctl enable --quiet {_q(s.service)} && "
                f"systemctl restart {_q(s.service)}")
    if s.manager == "init.d":
        enable = f"if command -v update-rc.d >/dev/null; then update-rc.d {_q(s.service)} defaults; fi; "
        return (enable if s.etc == "/etc" else "") + f"{_q(s.init_script)} restart"
    return "true"


PROBE = """
import os, ssl, sys, time, urllib.request
host = os.environ.get('PICLOUD_HOST') or '127.0.0.1'
host = '127.0.0.1' if host in ('0.0.0.0', '::') else host
host = '[%s]' % host if ':' in host else host
scheme = 'https' if os.environ.get('USE_TLS') else 'http'
url = '%s://%s:%s/healthz' % (scheme, host, os.environ.get('PORT') or 9000)
# Or through nginx: its URL and the site's name (argv 2 and 3).
url, headers = (sys.argv[2], {'Host': sys.argv[3]}) if len(sys.argv) > 3 else (url, {})
deadline = time.monotonic() + float(sys.argv[1])
while True:
    try:
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=5, context=ssl._create_unverified_context()) as r:
            print(url, r.status, r.read().decode())
            break
    except OSError as exc:
        if time.monotonic() > deadline:
            sys.exit('%s does not answer: %s' % (url, exc))
        time.sleep(0.5)
"""


def _probe_command(s: Settings, timeout: float, *through: str) -> str:
    # The defaults file is sourced for PORT and friends; nothing of it is echoed.
    # A subshell, so that it composes with && and its settings stay in it.
    return (f"(set -a; if [ -r {_q(s.defaults)} ]; then . {_q(s.defaults)}; fi; set +a; "
            f"exec {_q(f'{s.prefix}/current/bin/python')} -c {_q(PROBE)} {timeout} {_q(*through)})")


def _restart_and_check(c: Connection, s: Settings) -> None:
    """Restart the service; fail loudly unless the hub then answers /healthz."""
    if s.manager == "none":
        _root(c, f"test -x {_q(s.prefix + '/current/bin/picloud')}")
        print(f"service manager none: start the hub with {s.prefix}/current/bin/picloud serve")
        return
    if _root(c, f"{_restart_command(s)} && {_probe_command(s, s.health_timeout)}", warn=True).failed:
        _root(c, _logs_command(s, 30), warn=True)
        raise Exit(f"deploy failed: {s.service} on {c.host} does not answer /healthz "
                   "(see above; `fab rollback` returns to the previous release)")


def _logs_command(s: Settings, lines: int, follow: bool = False) -> str:
    if s.manager == "systemd":
        return f"journalctl -u {_q(s.service)} -n {int(lines)} --no-pager" + (" -f" if follow else "")
    return f"tail -n {int(lines)} {'-F ' if follow else ''}{_q(s.logfile)}"


def _link_command(s: Settings, link: str, target: str) -> str:
    """Point ``link`` at ``target`` by an atomic rename: never a moment without it."""
    path = f"{s.prefix}/{link}"
    return f"ln -sfn {target} {_q(path + '.new')} && mv -Tf {_q(path + '.new', path)}"


def _readlink(c: Connection, s: Settings, link: str) -> str | None:
    result = _root(c, f"readlink {_q(s.prefix + '/' + link)}", hide=True, warn=True)
    if result.failed:
        return None
    return result.stdout.strip().rsplit("/", 1)[-1] or None


def _install_script(s: Settings, tmp: str, sdist: str, release: str, key: bool) -> str:
    """One root shell script (one round trip): venv, files, then the switch."""
    venv, tools = f"{s.prefix}/releases/{release}", f"{s.prefix}/tools"
    pip_args = f"--find-links {_q(tmp)} {s.pip_args}"
    if s.wheelhouse:
        pip_args = f"--no-index --find-links {_q(tmp + '/wheelhouse')} {pip_args}"
    requirement = f"{tmp}/{sdist}" + (f"[{s.extras}]" if s.extras else "")
    current = f"{s.prefix}/current"
    lines = [
        "set -e",
        f"mkdir -p {_q(s.prefix + '/releases')}",
        # pip lives in a venv of its own and fills each release's venv, made
        # without pip: ensurepip takes tens of seconds on a small Pi.
        f"{_q(tools + '/bin/pip')} --version >/dev/null 2>&1 || {_q(s.python)} -m venv --clear {_q(tools)}",
        f"{_q(s.python)} -m venv --without-pip {_q(venv)}",
        f"{_q(tools + '/bin/pip')} --python {_q(venv + '/bin/python')} install -q "
        f"--disable-pip-version-check {pip_args} {_q(requirement)}",
        # Whether the C speedups were built there, or the pure-Python code runs.
        f"{_q(venv + '/bin/picloud')} --version",
        f"id -u {_q(s.run_user)} >/dev/null 2>&1 || useradd --system --user-group "
        f"--home-dir {_q(s.state_dir)} --shell /usr/sbin/nologin {_q(s.run_user)}",
        f"install -d -m 0700 -o {_q(s.run_user, s.state_dir)}",
        # nginx's files first: if nginx rejects them, nothing else has changed.
        *(s.nginx.install_lines(tmp) if s.nginx else []),
        # Operators edit the defaults file: a deploy creates it, never overwrites it.
        f"[ -e {_q(s.defaults)} ] || install -D -m 0600 -o root -g root {_q(tmp + '/defaults', s.defaults)}",
        *(s.nginx.defaults_lines(s.defaults) if s.nginx else []),
        # Both, as a Debian package does: systemd ignores the init script
        # where its own unit exists.
        f"install -D -m 0644 -o root -g root {_q(tmp + '/unit', s.unit)}",
        f"install -D -m 0755 -o root -g root {_q(tmp + '/init', s.init_script)}",
        f"old=$(readlink {_q(current)} || true)",
        _link_command(s, "current", _q(f"releases/{release}")),
        f'if [ -n "$old" ]; then {_link_command(s, "previous", chr(34) + "$old" + chr(34))}; fi',
    ]
    if key:
        key_file = f"{s.state_dir}/api_key"
        lines.insert(-3, f"install -m 0600 -o {_q(s.run_user, tmp + '/api_key', key_file)}")
    return "\n".join(lines)


def _check_nginx(c: Connection, n: Nginx) -> None:
    """Fail, before anything changes, if nginx cannot take the files on the target."""
    result = _root(c, n.check_script(), hide=True, warn=True)
    if result.failed:
        raise Exit(f"could not check nginx on {c.host}: {result.stderr.strip()}")
    problems = n.problems(result.stdout, c.host)
    if problems:
        raise Exit("\n".join(problems))


def _reload_nginx(c: Connection, s: Settings, n: Nginx) -> None:
    """Reload (or start) nginx; fail loudly unless it passes /healthz on to the hub."""
    if s.manager == "none":
        print(f"service manager none: nginx's files are installed and tested; reload nginx ({n.program} -s reload)")
        return
    url = f"https://127.0.0.1:{n.https}/healthz"
    if _root(c, f"{n.reload_command(s.manager)} && {_probe_command(s, s.health_timeout, url, n.names[0])}",
             warn=True).failed:
        raise Exit(f"deploy failed: nginx on {c.host} does not pass {url} on to {s.service} "
                   "(see above, and nginx's error log)")


@task(hosts=_hosts())
def deploy(c) -> None:
    """Install the latest built sdist on the target, restart, check /healthz."""
    c, s = _connection(c), Settings()
    sdist = _latest_sdist(s)
    version = sdist.name.removeprefix("picloud-").removesuffix(".tar.gz")
    release = f"{version}-{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**9:09d}"
    if s.nginx:
        _check_nginx(c, s.nginx)
    print(f"deploying {sdist.name} to {c.user}@{c.host}:{s.prefix}/releases/{release}")
    # Uploads go to a directory only the login user can read (mktemp: 0700).
    tmp = c.run("d=$(mktemp -d) && mkdir \"$d/wheelhouse\" && echo \"$d\"", hide=True).stdout.strip()
    key = _env("DEPLOY_API_KEY")
    try:
        c.put(str(sdist), f"{tmp}/{sdist.name}")
        for dep in sorted(Path(s.wheelhouse).glob("*.whl")) if s.wheelhouse else []:
            c.put(str(dep), f"{tmp}/wheelhouse/{dep.name}")
        # Over SFTP, so the key is never on a command line.
        files = {"defaults": _render_defaults(s), "unit": _render_unit(s), "init": _render_init_script(s)}
        if s.nginx:
            files.update({"nginx-site": s.nginx.render_site(), "nginx-stream": s.nginx.render_stream()})
        if key:
            files["api_key"] = key + "\n"
        for name, text in files.items():
            c.put(io.BytesIO(text.encode()), f"{tmp}/{name}")
        result = _root(c, _install_script(s, tmp, sdist.name, release, bool(key)), warn=True)
        if result.failed and s.nginx and result.return_code == TEST_FAILED:
            raise Exit(f"deploy failed: `nginx -t -c {s.nginx.conf}` rejects the files (see above); "
                       f"nginx's files on {c.host} are as they were, and {s.service} is not upgraded")
        if result.failed:
            raise UnexpectedExit(result)
    finally:
        _root(c, f"rm -rf {_q(tmp)}", warn=True)
    # The hub first: it leaves the MQTT ports nginx then takes.
    _restart_and_check(c, s)
    if s.nginx:
        _reload_nginx(c, s, s.nginx)
    # Keep the newest DEPLOY_KEEP releases, and always current and previous.
    releases = f"{s.prefix}/releases"
    _root(c, f"cd {_q(releases)} && for r in $(ls -1t | tail -n +{max(s.keep, 1) + 1}); do "
             f'case "$(readlink ../current) $(readlink ../previous) " in *"releases/$r "*) ;; '
             f'*) rm -rf "$r" ;; esac; done')
    print(f"{s.service} {version} is running on {c.host}")


@task(aliases=["build-deploy"], hosts=_hosts())
def build_deploy(c) -> None:
    """build, then deploy."""
    _connection(c)
    build(c)
    deploy(c)


@task(hosts=_hosts())
def rollback(c) -> None:
    """Go back to the previously deployed release (again: forward)."""
    c, s = _connection(c), Settings()
    current, previous = _readlink(c, s, "current"), _readlink(c, s, "previous")
    if not previous:
        raise Exit(f"nothing to roll back to: no {s.prefix}/previous on {c.host}")
    print(f"rolling back {c.host} from {current} to {previous}")
    _root(c, f"{_link_command(s, 'current', _q('releases/' + previous))} && "
             f"{_link_command(s, 'previous', _q('releases/' + str(current)))}")
    _restart_and_check(c, s)


@task(hosts=_hosts())
def status(c) -> None:
    """Show the installed releases, the service's state and /healthz."""
    c, s = _connection(c), Settings()
    print(f"current:  {_readlink(c, s, 'current')}\nprevious: {_readlink(c, s, 'previous')}")
    _root(c, f"{_q(s.prefix + '/current/bin/picloud')} --version", warn=True)
    if s.manager == "systemd":
        _root(c, f"systemctl status --no-pager {_q(s.service)}", warn=True)
    elif s.manager == "init.d":
        _root(c, f"{_q(s.init_script)} status", warn=True)
    if s.manager != "none":
        _root(c, _probe_command(s, 0), warn=True)


@task(hosts=_hosts())
def logs(c, lines: int = 50, follow: bool = False) -> None:
    """Show the hub's log (-l LINES, -f to follow)."""
    c, s = _connection(c), Settings()
    _root(c, _logs_command(s, lines, follow), pty=follow)

