"""Runs the hub: binds sockets, sets up TLS, serves until SIGINT/SIGTERM.

SIGHUP re-reads the key files (rotation.py) and the TLS certificate and key
(tls.py); readiness goes to the service manager through systemd.py."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
import ssl
import sys
from collections.abc import Mapping
from urllib.parse import urlsplit

from tornado.netutil import bind_sockets

from .. import __version__
from ..config import KEY_FILE_NAME, Config
from ..exceptions import ConfigError
from ..wire.speedups import describe
from . import systemd
from .addresses import every_interface, hub_urls
from .app import PiCloudApp, make_app
from .backends import make_pubsub
from .direct import DirectUpgradeServer
from .keyfiles import keys_from_config, load_or_create_key
from .logs import withhold_request_details
from .mqtt.listener import MqttListener
from .mqtt.ports import mqtt_sockets, mqtt_tls_sockets
from .openfiles import fit_connection_cap, raise_open_files_limit
from .rotation import reload_keys
from .tls import reload_tls, tls_context

log = logging.getLogger("picloud.server")

#: Shorter keys get a warning at start (--api-key, API_KEY, the key files).
MIN_KEY_CHARS = 16


def resolve_key(config: Config) -> None:
    """Make sure the hub never runs open by accident (see docs/security.rst)."""
    if config.no_auth:
        log.warning("authentication is off (--no-auth): anyone who can reach the hub may use it")
        return
    if config.keys_file or config.api_key_file:
        # Read them now: a bad or empty file stops the hub before it binds.
        keys = keys_from_config(config)
        if not keys:
            raise ConfigError("no api key: the keys file names none")
        warn_weak_keys(keys)
        return
    if config.api_key:
        warn_weak_keys(keys_from_config(config))
        return
    config.api_key, created = load_or_create_key(config.state_dir)
    where = config.state_dir / KEY_FILE_NAME
    # The key itself only when it is new: a service's log would have it at every boot.
    if created:
        print(f"picloud: generated api key {config.api_key} (stored in {where})", flush=True)
    else:
        print(f"picloud: using the api key kept in {where} (picloud key prints it)", flush=True)


def warn_weak_keys(keys: Mapping[str, object]) -> None:
    """One line for keys an attacker could guess; they keep working, as the
    original accepted any key."""
    weak = sum(1 for key in keys if len(key) < MIN_KEY_CHARS)
    if weak:
        log.warning(
            "%d configured api %s shorter than %d characters and can be guessed; make a strong one with: "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(24))'",
            weak, "key is" if weak == 1 else "keys are", MIN_KEY_CHARS,
        )


#: The HTTP port's listen backlog at least (Tornado's default is 128).
LISTEN_BACKLOG = 1024


def listen(config: Config) -> list[socket.socket]:
    try:
        # A backlog past Tornado's 128: with deferred accept the connections
        # that have sent nothing yet wait in the kernel's queue, not the hub's.
        sockets = bind_sockets(config.port, config.host or None, backlog=max(LISTEN_BACKLOG, config.max_pending))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {config.port} is already in use") from None
        if exc.errno == errno.EACCES:
            raise ConfigError(f"no permission to listen on port {config.port}") from None
        raise ConfigError(f"cannot listen on {config.host or '*'}:{config.port}: {exc.strerror}") from None
    if config.defer_accept and hasattr(socket, "TCP_DEFER_ACCEPT"):
        defer_accept(sockets, config.defer_accept)
    return sockets


def defer_accept(sockets: list[socket.socket], seconds: int) -> None:
    """A connection is taken once its first bytes are there (nginx's and
    HAProxy's deferred accept): one taken with its request is upgraded at
    once, instead of waiting for it (server/direct.py), which costs a
    registration, a timer and a loop turn, about a tenth of what a
    short-lived websocket costs. Where the kernel refuses it, the hub runs
    without."""
    for sock in sockets:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, seconds)
        except OSError as exc:
            log.warning("no deferred accept (TCP_DEFER_ACCEPT refused: %s)", (exc.strerror or str(exc)).lower())
            return


async def serve(config: Config) -> None:
    ssl_options = tls_context(config)
    # The port first: a second hub on the same state directory must stop
    # before its store touches the files of the one running.
    sockets = listen(config)
    pubsub = make_pubsub(config)
    app = make_app(config, pubsub)
    withhold_request_details()
    fit_connection_cap(config, raise_open_files_limit())
    server = DirectUpgradeServer(
        app, ssl_options=ssl_options, xheaders=config.xheaders, pending=app.state.pending,
        max_body_size=config.max_message_bytes,
        # Slowloris: headers must be complete within this, idle connections go
        # (and --max-pending bounds how many may be waiting at once).
        idle_connection_timeout=config.handshake_timeout,
        body_timeout=max(60.0, config.handshake_timeout),
    )
    mqtt = MqttListener(app.state)
    mqtt_tls_listening = mqtt_tls_sockets(config)  # first: it may refuse the configuration
    mqtt_listening = mqtt_sockets(config)
    await pubsub.broker.start()
    app.state.sample_topics()  # GET /topics' rates
    # Accepted only now (until then they wait in the listen backlog): a
    # client resuming with since while Redis was still being reached would be
    # told "not recovered" by a hub that merely had not connected yet.
    server.add_sockets(sockets)
    if not config.no_mqtt:  # /mqtt too, even without a TCP port
        mqtt.restore()  # before the port opens: a client back at once finds its session
        mqtt.start_listening(mqtt_listening, mqtt_tls_listening, ssl_options)

    port = sockets[0].getsockname()[1]
    urls = hub_urls(config.host, port, config.scheme)
    host = urlsplit(urls[-1]).hostname
    if mqtt_listening:
        print(f"picloud: mqtt on port {mqtt.port} (mqtt://{host}:{mqtt.port}, the key as password)", flush=True)
    if mqtt_tls_listening:
        print(f"picloud: mqtt over tls on port {mqtt.tls_port} (mqtts://{host}:{mqtt.tls_port}, the key as "
              "password)", flush=True)
    where = " (every interface" + (f"; also {', '.join(urls[1:])})" if urls[1:] else ")")
    print(f"picloud {__version__} listening on {urls[0]}{where if every_interface(config.host) else ''}",
          flush=True)
    if not config.no_auth:
        print(f"picloud: the dashboard is at {urls[-1]} (it asks for the key once)", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _reload, app, ssl_options, config)
    systemd.notify("READY=1", f"STATUS=listening on port {port}")
    log.info("picloud %s on %s", __version__, describe())  # which C speedups loaded
    await stop.wait()

    log.info("shutting down")
    systemd.notify("STOPPING=1")
    server.stop()
    mqtt.close_all()
    await app.state.shutdown(config.shutdown_drain)
    await pubsub.broker.stop()
    await server.close_all_connections()


def _reload(app: PiCloudApp, context: ssl.SSLContext | None, config: Config) -> None:
    """SIGHUP: re-read the key files and the TLS files; connections stay."""
    systemd.notify("RELOADING=1")
    reload_keys(app.state)
    reload_tls(context, config)
    systemd.notify("READY=1")


def run(config: Config) -> None:
    resolve_key(config)
    tls_context(config)  # fail before binding anything
    try:
        import uvloop  # optional extra: a faster event loop where installed
    except ImportError:
        uvloop = None  # type: ignore[assignment]
    # Outside the except block, so that no later traceback chains the ImportError.
    if uvloop is None:
        asyncio.run(serve(config))
    else:
        if sys.version_info >= (3, 11):
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(serve(config))
        else:
            uvloop.install()
            asyncio.run(serve(config))
