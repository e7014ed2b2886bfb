"""The ``picloud`` command line."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from . import __version__
from .config import MIB, Config, default_state_dir
from .exceptions import ConfigError
from .server.outbox import SLOW_POLICIES


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="picloud")
def main() -> None:
    """PiCloud: a publish/subscribe hub for Raspberry Pi and IoT."""


def _env(name: str) -> dict:
    return {"envvar": name, "show_envvar": True}


@main.command()
@click.option("--host", default=None, help="Address to listen on [default: every interface].", **_env("PICLOUD_HOST"))
@click.option("--port", type=click.IntRange(0, 65535), default=9000, help="Port; 0 picks a free one.", **_env("PORT"))
@click.option("--api-key", default=None, help="API key clients must present [default: generated once, kept in the state directory].", **_env("API_KEY"))
@click.option("--no-auth", is_flag=True, help="Accept every request without a key (trusted networks only).", **_env("PICLOUD_NO_AUTH"))
@click.option("--tls/--no-tls", default=None, help="Serve wss:// and https:// [env USE_TLS: any non-empty value turns it on].")
@click.option("--key-file", type=click.Path(dir_okay=False), default=None, help="TLS private key (PEM).", **_env("KEY_FILE"))
@click.option("--cert-file", type=click.Path(dir_okay=False), default=None, help="TLS certificate chain (PEM).", **_env("CERT_FILE"))
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=default_state_dir, show_default="~/.local/share/picloud", help="Where the generated key (and later state) is kept.", **_env("PICLOUD_STATE_DIR"))
@click.option("--info-interval", type=click.FloatRange(min=0.05), default=5.0, help="Seconds between /info snapshots.", **_env("PICLOUD_INFO_INTERVAL"))
@click.option("--broker", default="memory://", help="memory:// (one hub) or redis://host:port/db.", **_env("PICLOUD_BROKER"))
@click.option("--broker-prefix", default="picloud", help="Namespace of Redis keys and channels; hub clusters sharing a Redis need different ones.", **_env("PICLOUD_BROKER_PREFIX"))
@click.option("--broker-outbox", type=click.IntRange(min=1), default=10000, help="Messages kept for other hubs while Redis is unreachable (oldest dropped past this).", **_env("PICLOUD_BROKER_OUTBOX"))
@click.option("--max-queue-bytes", type=click.IntRange(min=1024), default=MIB, help="Outgoing bytes a connection may have queued.", **_env("PICLOUD_MAX_QUEUE_BYTES"))
@click.option("--max-total-queue-bytes", type=click.IntRange(min=1024), default=64 * MIB, help="Outgoing bytes queued across all connections.", **_env("PICLOUD_MAX_TOTAL_QUEUE_BYTES"))
@click.option("--slow-consumer", type=click.Choice(SLOW_POLICIES), default="disconnect", help="What to do with a subscriber over its queue limit.", **_env("PICLOUD_SLOW_CONSUMER"))
@click.option("--max-message-bytes", type=click.IntRange(min=1024), default=MIB, help="Largest incoming websocket message or HTTP body.", **_env("PICLOUD_MAX_MESSAGE_BYTES"))
@click.option("--shutdown-drain", type=click.FloatRange(min=0), default=5.0, help="Seconds to write out queued messages on shutdown.", **_env("PICLOUD_SHUTDOWN_DRAIN"))
@click.option("--xheaders", is_flag=True, help="Trust X-Forwarded-For / X-Real-IP from a reverse proxy.", **_env("PICLOUD_XHEADERS"))
@click.option("--public-metrics", is_flag=True, help="Serve /metrics without the API key.",
              **_env("PICLOUD_PUBLIC_METRICS"))
@click.option("--history-size", type=click.IntRange(min=0), default=100, help="Messages kept per event for catch-up; 0 keeps none.", **_env("PICLOUD_HISTORY_SIZE"))
@click.option("--history-events", type=click.IntRange(min=1), default=1000, help="Events whose seq and messages are kept; the least recently published are forgotten past this.", **_env("PICLOUD_HISTORY_EVENTS"))
@click.option("--history-ttl", type=click.FloatRange(min=0), default=0.0, help="Seconds a kept message stays; 0 for no limit.", **_env("PICLOUD_HISTORY_TTL"))
@click.option("--retain-interval", type=click.FloatRange(min=0), default=1.0, help="At most one write of retained values per this many seconds.", **_env("PICLOUD_RETAIN_INTERVAL"))
@click.option("--keys-file", type=click.Path(dir_okay=False), default=None, help="File of 'KEY ROLE' lines (roles: publish, subscribe, admin); SIGHUP reloads it.", **_env("PICLOUD_KEYS_FILE"))
@click.option("--api-key-file", type=click.Path(dir_okay=False), default=None, help="File holding the admin key (keeps it out of ps and unit files).", **_env("PICLOUD_API_KEY_FILE"))
@click.option("--max-connections", type=click.IntRange(min=1), default=10000, help="Open websockets; more are refused with 503 (capped below the open-files limit).", **_env("PICLOUD_MAX_CONNECTIONS"))
@click.option("--max-subscriptions", type=click.IntRange(min=1), default=1000, help="Events one connection may subscribe to.", **_env("PICLOUD_MAX_SUBSCRIPTIONS"))
@click.option("--max-batch", type=click.IntRange(min=1), default=1000, help="Messages in one batch publish.", **_env("PICLOUD_MAX_BATCH"))
@click.option("--allowed-origin", multiple=True, help="Browser origin allowed besides the hub's own (repeatable; env: space-separated) [default: any origin].", **_env("PICLOUD_ALLOWED_ORIGIN"))
@click.option("--ping-interval", type=click.FloatRange(min=0), default=20.0, help="Seconds between websocket pings; 0 turns them off.", **_env("PICLOUD_PING_INTERVAL"))
@click.option("--handshake-timeout", type=click.FloatRange(min=0.1), default=10.0, help="Seconds a client has to send its request headers.", **_env("PICLOUD_HANDSHAKE_TIMEOUT"))
@click.option("--publish-rate", type=click.FloatRange(min=0), default=0.0, help="Messages per second one publish socket may send; 0: unlimited.", **_env("PICLOUD_PUBLISH_RATE"))
@click.option("--publish-burst", type=click.IntRange(min=1), default=50, help="Messages a publish socket may send at once under --publish-rate.", **_env("PICLOUD_PUBLISH_BURST"))
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False), default="info", **_env("PICLOUD_LOG_LEVEL"))
def serve(tls: bool | None, log_level: str, **options: object) -> None:
    """Run the hub."""
    from .server.serve import run

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if tls is None:
        tls = bool(os.environ.get("USE_TLS"))
    config = Config(tls=tls, **options)  # type: ignore[arg-type]
    try:
        run(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


# The client commands (publish, subscribe, info) live in their own module.
from .client import commands  # noqa: E402

commands.register(main)
