"""nginx in front of the hub, for ``fab deploy`` (fabfile.py lists the
DEPLOY_NGINX_ settings): etc/nginx/picloud.conf and picloud-stream.conf
rendered for the target, what is checked there before anything changes, and
the shell that installs, tests and reloads them."""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from invoke.exceptions import Exit

HERE = Path(__file__).resolve().parent
LIVE = "/etc/letsencrypt/live/picloud.example.org"  # the examples' certificate directory
TEST_FAILED = 87  # the install script's exit status when `nginx -t` rejects the files


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name) or default


def _q(*words: str) -> str:
    return " ".join(shlex.quote(w) for w in words)


@dataclass
class Nginx:
    etc: str
    service: str
    upstream: int  # the hub's HTTP port
    server_name: str = field(default_factory=lambda: _env("DEPLOY_NGINX_SERVER_NAME"))
    ports: str = field(default_factory=lambda: _env("DEPLOY_NGINX_PORTS", "80 443 1883 8883"))
    hub_mqtt: str = field(default_factory=lambda: _env("DEPLOY_NGINX_MQTT_UPSTREAM", "1884"))
    program: str = field(default_factory=lambda: _env("DEPLOY_NGINX_BIN", "nginx"))

    def __post_init__(self) -> None:
        names = self.server_name.split()
        if not names or not all(re.fullmatch(r"[A-Za-z0-9*._-]+", name) for name in names):
            raise Exit(f"bad DEPLOY_NGINX_SERVER_NAME {self.server_name!r}")
        self.cert = _env("DEPLOY_NGINX_CERT", f"/etc/letsencrypt/live/{names[0]}/fullchain.pem")
        self.key = _env("DEPLOY_NGINX_KEY", f"/etc/letsencrypt/live/{names[0]}/privkey.pem")
        self.conf = _env("DEPLOY_NGINX_CONF", f"{self.etc}/nginx/nginx.conf")
        for name, path in [("CERT", self.cert), ("KEY", self.key), ("CONF", self.conf)]:
            if not re.fullmatch(r"/[^\s;'\"{}#$\\]+", path):  # written into nginx's files unquoted
                raise Exit(f"DEPLOY_NGINX_{name} must be an absolute path without spaces or quotes, not {path!r}")
        words = self.ports.split()
        if len(words) != 4 or not all(w.isdigit() and 0 < int(w) < 65536 for w in [*words, self.hub_mqtt]):
            raise Exit(f"DEPLOY_NGINX_PORTS must be four ports (http https mqtt mqtts), not {self.ports!r}, "
                       f"and DEPLOY_NGINX_MQTT_UPSTREAM one, not {self.hub_mqtt!r}")
        self.http, self.https, self.mqtt, self.mqtts = map(int, words)
        if len({*words, self.hub_mqtt, str(self.upstream)}) != 6:
            raise Exit("nginx's four ports, the hub's MQTT port behind it and DEPLOY_PORT must all differ")
        self.names = names
        self.site = f"{self.etc}/nginx/sites-available/{self.service}.conf"
        self.link = f"{self.etc}/nginx/sites-enabled/{self.service}.conf"
        self.stream = f"{self.etc}/nginx/{self.service}-stream.conf"

    # --- the files ---

    def _render(self, name: str, pairs: dict[str, str]) -> str:
        text = (HERE / "etc/nginx" / name).read_text()
        for old in pairs:
            if old not in text:
                raise Exit(f"etc/nginx/{name} no longer has {old!r}: update fabfile_nginx.py")
        # In one pass, so that no replacement is replaced again.
        pattern = "|".join(re.escape(old) for old in sorted(pairs, key=len, reverse=True))
        text = re.sub(pattern, lambda m: pairs[m.group()], text)
        return (f"# Made by `fab deploy` from etc/nginx/{name} for {self.server_name}; the next\n"
                f"# deploy overwrites it (its DEPLOY_NGINX_ settings are in fabfile.py).\n\n{text}")

    def _common(self) -> dict[str, str]:
        return {f"{LIVE}/fullchain.pem": self.cert, f"{LIVE}/privkey.pem": self.key}

    def render_site(self) -> str:
        """etc/nginx/picloud.conf: the HTTP and websocket site, TLS ended at nginx."""
        upstream = re.sub(r"\W", "_", self.service)  # one map and upstream per service
        https = "" if self.https == 443 else f":{self.https}"
        return self._render("picloud.conf", {
            **self._common(),
            "$picloud_connection": f"${upstream}_connection",
            "upstream picloud {": f"upstream {upstream} {{",
            "proxy_pass http://picloud;": f"proxy_pass http://{upstream};",
            "server 127.0.0.1:9000;": f"server 127.0.0.1:{self.upstream};",
            "listen 80;": f"listen {self.http};",
            "listen [::]:80;": f"listen [::]:{self.http};",
            "listen 443 ssl;": f"listen {self.https} ssl;",
            "listen [::]:443 ssl;": f"listen [::]:{self.https} ssl;",
            "server_name picloud.example.org;": f"server_name {self.server_name};",
            "return 301 https://$host$request_uri;": f"return 301 https://$host{https}$request_uri;",
        })

    def render_stream(self) -> str:
        """etc/nginx/picloud-stream.conf: MQTT and MQTT over TLS to the hub on loopback."""
        upstream = re.sub(r"\W", "_", self.service) + "_mqtt"
        return self._render("picloud-stream.conf", {
            **self._common(),
            "upstream picloud_mqtt {": f"upstream {upstream} {{",
            "proxy_pass picloud_mqtt;": f"proxy_pass {upstream};",
            "server 127.0.0.1:1884;": f"server 127.0.0.1:{self.hub_mqtt};",
            "PICLOUD_MQTT_PORT=1884": f"PICLOUD_MQTT_PORT={self.hub_mqtt}",
            "listen 1883;": f"listen {self.mqtt};",
            "listen [::]:1883;": f"listen [::]:{self.mqtt};",
            "listen 8883 ssl;": f"listen {self.mqtts} ssl;",
            "listen [::]:8883 ssl;": f"listen [::]:{self.mqtts} ssl;",
        })

    def defaults(self) -> list[tuple[str, str, str]]:
        """The hub's settings behind nginx: (name, value, why)."""
        return [
            ("PICLOUD_HOST", "127.0.0.1", "the hub on loopback only, behind nginx"),
            ("PICLOUD_XHEADERS", "1", "the devices' addresses from nginx (headers, PROXY protocol)"),
            ("PICLOUD_MQTT_PORT", self.hub_mqtt,
             f"nginx holds {self.mqtt} and {self.mqtts}, and passes MQTT on to here"),
        ]

    # --- the shell on the target, as root ---

    def check_script(self) -> str:
        """Prints a word for each thing missing on the target (``problems`` says it)."""
        conf, dump_ok = _q(self.conf), f'dump=$("$ngx" -T -c {_q(self.conf)} 2>/dev/null)'
        return "\n".join([
            f"ngx={_q(self.program)}",
            'if ! command -v "$ngx" >/dev/null 2>&1; then echo no-nginx; exit 0; fi',
            f"[ -f {conf} ] || echo no-conf",
            f"[ -s {_q(self.cert)} ] || echo no-cert",
            f"[ -s {_q(self.key)} ] || echo no-key",
            'v=$("$ngx" -V 2>&1 | tr " " "\\n")',
            # Built in (--with-stream), or a module (--with-stream=dynamic) to be loaded.
            'if ! printf "%s\\n" "$v" | grep -qx -- --with-stream; then',
            '  m=$(printf "%s\\n" "$v" | sed -n "s/^--modules-path=//p")',
            '  p=$(printf "%s\\n" "$v" | sed -n "s/^--prefix=//p")',
            '  if [ ! -f "${m:-${p:-/usr/local/nginx}/modules}/ngx_stream_module.so" ]; then echo no-stream',
            # Only a configuration nginx takes tells; one it does not take, nginx -t shows later.
            f"  elif [ -f {conf} ] && {dump_ok} && ! printf '%s\\n' \"$dump\" | "
            "grep -Eq '^[[:space:]]*load_module[[:space:]].*ngx_stream_module[.]so'; then echo stream-not-loaded",
            "  fi",
            "fi",
        ])

    def problems(self, words: str, host: str) -> list[str]:
        said = {
            "no-nginx": f"nginx is not installed on {host}: apt install nginx libnginx-mod-stream",
            "no-stream": f"nginx on {host} has no stream module (for MQTT): apt install libnginx-mod-stream",
            "stream-not-loaded": f"nginx on {host} does not load its stream module: "
                                 f"{self.conf} needs load_module modules/ngx_stream_module.so;",
            "no-conf": f"{self.conf} is missing on {host} (set DEPLOY_NGINX_CONF)",
            "no-cert": f"the certificate {self.cert} is missing on {host} (set DEPLOY_NGINX_CERT)",
            "no-key": f"the key {self.key} is missing on {host} (set DEPLOY_NGINX_KEY)",
        }
        return [said[word] for word in words.split() if word in said]

    def install_lines(self, tmp: str) -> list[str]:
        """Install the two files, link the site, include the stream file, and
        test; if nginx rejects them, put its files back as they were and exit
        with TEST_FAILED."""
        old = f"{tmp}/nginx-old"
        saved = [("site", self.site), ("link", self.link), ("stream", self.stream)]
        include = f"include {self.stream};"
        # At the top level: the include is present if any line's words are it.
        included = (f"awk -v p={_q(self.stream)} "
                    + _q('$1 == "include" && ($2 == p ";" || ($2 == p && $3 == ";")) { f = 1 } END { exit !f }'))
        restore = "; ".join(
            [f"if [ -e {_q(f'{old}/{n}')} ] || [ -L {_q(f'{old}/{n}')} ]; then mv -f {_q(f'{old}/{n}', path)}; "
             f"else rm -f {_q(path)}; fi" for n, path in saved]
            + [f"cp -p {_q(old + '/conf', self.conf)}"]
        )
        return [
            f"mkdir -p {_q(old)}",
            *[f"if [ -e {_q(path)} ] || [ -L {_q(path)} ]; then cp -pP {_q(path, f'{old}/{n}')}; fi"
              for n, path in saved],
            f"cp -p {_q(self.conf, old + '/conf')}",
            f"install -D -m 0644 -o root -g root {_q(tmp + '/nginx-site', self.site)}",
            f"install -D -m 0644 -o root -g root {_q(tmp + '/nginx-stream', self.stream)}",
            f"mkdir -p {_q(self.link.rsplit('/', 1)[0])} && ln -sfn {_q(self.site, self.link)}",
            f"{included} {_q(self.conf)} || printf '%s\\n' '' "
            f"{_q(f'# MQTT through nginx for {self.service}, added by fab deploy (etc/nginx/picloud-stream.conf).')} "
            f"{_q(include)} >> {_q(self.conf)}",
            f"if ! {_q(self.program)} -t -c {_q(self.conf)} >{_q(old + '/test')} 2>&1; then "
            f"cat {_q(old + '/test')} >&2; {restore}; exit {TEST_FAILED}; fi",
        ]

    def defaults_lines(self, defaults: str) -> list[str]:
        """Append to an existing defaults file each setting it lacks, once."""
        lines = []
        for name, value, why in self.defaults():
            comment = f"# Added by the nginx deploy (fab deploy, DEPLOY_NGINX_SERVER_NAME): {why}."
            lines.append(
                f"if ! grep -q {_q('^' + name + '=')} {_q(defaults)}; then "
                f"printf '%s\\n' '' {_q(comment, f'{name}={value}')} >> {_q(defaults)}; "
                f"elif ! grep -qxF {_q(f'{name}={value}', defaults)}; then "
                f"echo {_q(f'warning: {defaults} sets {name} otherwise; behind nginx the hub wants {name}={value}')}"
                " >&2; fi"
            )
        return lines

    def reload_command(self, manager: str) -> str:
        """systemd's nginx, or one started by hand: reloaded, or started if not running."""
        if manager == "systemd":
            return "systemctl reload-or-restart nginx"
        ngx, conf = _q(self.program), _q(self.conf)
        pid = (f"pid=$(sed -n 's/^[[:space:]]*pid[[:space:]][[:space:]]*\\([^;[:space:]]*\\).*/\\1/p' {conf} | "
               f"tail -n 1); [ -n \"$pid\" ] || pid=$({ngx} -V 2>&1 | tr ' ' '\\n' | sed -n 's/^--pid-path=//p'); ")
        # Started over SSH: its output into a file, or the session would wait for the daemon.
        start = (f"out=$(mktemp) && if {ngx} -c {conf} </dev/null >\"$out\" 2>&1; then rm -f \"$out\"; "
                 "else cat \"$out\" >&2; rm -f \"$out\"; exit 1; fi")
        return (f"({pid}if [ -s \"${{pid:-/run/nginx.pid}}\" ] && kill -0 \"$(cat \"${{pid:-/run/nginx.pid}}\")\" "
                f"2>/dev/null; then {ngx} -s reload -c {conf}; else {start}; fi)")
