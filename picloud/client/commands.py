"""``picloud publish``, ``picloud subscribe`` and ``picloud info``: the client
on the command line. Output is made for pipes (one JSON line per message,
flushed); errors are one line, never a traceback."""

from __future__ import annotations

import functools
import logging
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import click

from ..config import KEY_FILE_NAME, default_state_dir
from ..exceptions import ClientError, ProtocolError
from ..wire.codec import dumps
from .lines import Progress, read_lines, value_of
from .sync import DEFAULT_QUEUE, Client
from .wire import DEFAULT_URL, NO_KEY, NO_KEY_CLI


def read_key(state_dir: Path) -> str | None:
    """The key a hub generated in ``state_dir``, if it did; never creates one.

    Lets the command-line tools on the hub's own machine find the key the way
    ``picloud serve`` does.
    """
    try:
        return (Path(state_dir) / KEY_FILE_NAME).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every client command shares; they become one ``client`` argument."""

    @click.option("--url", default=DEFAULT_URL, envvar="PICLOUD_URL", show_envvar=True,
                  help="The hub: http(s)://host:port or ws(s)://host:port.")
    @click.option("--api-key", default=None, envvar=["PICLOUD_API_KEY", "API_KEY"], show_envvar=True,
                  help="The hub's key [default: the key the hub generated in --state-dir, "
                       "when run on the hub's machine].")
    @click.option("--client-name", default=None, envvar="PICLOUD_CLIENT_NAME", show_envvar=True,
                  help="Name shown in the hub's info [default: picloud-cli@HOSTNAME].")
    @click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=default_state_dir,
                  show_default="~/.local/share/picloud", envvar="PICLOUD_STATE_DIR", show_envvar=True,
                  help="Where to look for the hub's generated key.")
    @click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
                  help="Seconds to wait for the hub to answer.")
    @click.option("--ca-file", type=click.Path(dir_okay=False, exists=True), default=None,
                  envvar="PICLOUD_CA_FILE", show_envvar=True,
                  help="PEM certificates to trust for an https:// hub (a LAN hub's own).")
    @click.option("--insecure", is_flag=True, help="Accept any certificate from an https:// hub.")
    @functools.wraps(command)
    def wrapper(url: str, api_key: str | None, client_name: str | None, state_dir: Path,
                timeout: float, ca_file: str | None, insecure: bool, **kwargs: Any) -> Any:
        logging.basicConfig(level=logging.WARNING, format="picloud: %(message)s")
        # Tornado's own line for a failed TLS handshake: the error says it, once.
        logging.getLogger("tornado.general").setLevel(logging.ERROR)
        if not api_key:
            api_key = read_key(state_dir)
        name = client_name or f"picloud-cli@{socket.gethostname()}"
        # A command's --queue (publish) sizes the client's queue.
        queue = kwargs.pop("queue", DEFAULT_QUEUE)
        with one_line_errors():
            client = Client(url, api_key, name, timeout=timeout, queue=queue, verify=not insecure, ca_file=ca_file)
        try:
            with one_line_errors():
                return command(client=client, **kwargs)
        finally:
            client.close(flush=0)  # a command that publishes has flushed already, for as long as it said

    return wrapper


@contextmanager
def one_line_errors() -> Iterator[None]:
    try:
        yield
    except (ClientError, ProtocolError, ValueError) as exc:
        raise click.ClickException(str(exc).replace(NO_KEY, NO_KEY_CLI)) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


@click.command()
@click.argument("event")
@click.argument("data")
@click.option("--json", "mode", flag_value="json", help="DATA (or each line) must be JSON; anything else is refused.")
@click.option("--string", "mode", flag_value="string", help="Send DATA (or each line) as a string, even 21.5.")
@click.option("--retain", is_flag=True, help="Ask the hub to keep it as the event's current value.")
@click.option("--queue", type=click.IntRange(min=1), default=DEFAULT_QUEUE, show_default=True,
              help="With DATA '-': lines kept while the hub is away (the oldest dropped past this).")
@click.option("--flush-timeout", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="With DATA '-': seconds to wait at the end of input for what is still queued.")
@connection_options
def publish(client: Client, event: str, data: str, mode: str | None, retain: bool, flush_timeout: float) -> None:
    """Publish DATA on EVENT; DATA '-' publishes each line of stdin as one message.

    DATA that is valid JSON (21.5, true, null, {"c": 21.5}, "quoted") is sent
    as that value, anything else as a string. With '-' the hub may come and
    go: lines are queued meanwhile and sent once it is back; the exit status
    is 0 only if every line was sent.
    """
    if data != "-":
        # One message: HTTP, whose 201 says the hub accepted it.
        client.publish_http(event, value_of(data, mode, None), retain=retain)
        return
    stream = client
    progress = Progress(sys.stderr) if sys.stderr.isatty() else None
    count = 0
    def sent() -> int:
        return count - stream.queued - stream.dropped - stream.refused

    try:
        for batch in read_lines(sys.stdin.fileno()):
            values, error = [], None
            for number, line in batch:
                if mode == "json" and not line.strip():
                    continue
                try:
                    values.append((event, value_of(line, mode, number)))
                except click.ClickException as exc:
                    error = exc
                    break
            count += stream.publish_many(values, retain=retain)
            if error is not None:
                stream.flush(flush_timeout)  # what came before the bad line still goes
                raise click.ClickException(f"{error.message} ({sent()} messages published)")
            if progress:
                progress.show(sent())
        unsent = stream.flush(flush_timeout)
    except ClientError as exc:
        message = str(exc).replace(NO_KEY, NO_KEY_CLI)
        raise click.ClickException(f"{message} ({sent()} messages published)") from None
    finally:
        if progress:
            progress.done(sent())
    dropped, refused = stream.dropped, stream.refused
    if unsent or dropped or refused:
        raise click.ClickException(
            f"{unsent + dropped + refused} of {count} messages not sent ({dropped} dropped while the hub was "
            f"away, {refused} refused by the hub, {unsent} still queued after {flush_timeout:g}s)"
        )


@click.command()
@click.argument("events", nargs=-1, required=True)
@click.option("--since", type=click.IntRange(min=0), default=None,
              help="Replay what came after this seq first (hubs that keep history).")
@click.option("--epoch", default=None, help="The epoch --since belongs to.")
@click.option("--count", "-n", type=click.IntRange(min=1), default=None,
              help="Exit after this many messages.")
@connection_options
def subscribe(client: Client, events: tuple[str, ...], since: int | None, epoch: str | None,
              count: int | None) -> None:
    """Print each message on EVENTS as one JSON line, reconnecting when the hub goes away."""
    client.connect()
    position = None if since is None else (since, epoch)
    for event in events:
        client.subscribe(event, since=position)
    out = sys.stdout
    received = 0
    try:
        for message in client:
            frame = {k: v for k, v in message.frame.items() if k != "action"}
            out.write(dumps(frame).decode("utf-8") + "\n")
            out.flush()
            received += 1
            if count is not None and received >= count:
                return
    except BrokenPipeError:
        # The reader (``| head``) has gone: that is the end, not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the hub's info snapshot as JSON.")
@connection_options
def info(client: Client, as_json: bool) -> None:
    """Show who is connected and what they subscribe to."""
    snapshot = client.info()
    if as_json:
        click.echo(dumps(snapshot).decode("utf-8"))
        return
    click.echo(info_table(snapshot, client.url))


def info_table(snapshot: dict[str, Any], url: str) -> str:
    connections = snapshot.get("all_connections", [])
    subscriptions = snapshot.get("subscriptions", [])
    lines = [f"hub {url} at {snapshot.get('created_at', '?')}", ""]
    if not connections:
        lines.append("no connections yet")
    else:
        lines.append(f"connections ({len(connections)})")
        lines += _table(
            ["CLIENT", "ADDRESS", "PROTOCOL", "KEEPALIVE", "CONNECTED SINCE"],
            [[c.get("client_name", ""), c.get("ip_address", ""), c.get("protocol", "websocket"),
              f"{c['keepalive']}s" if "keepalive" in c else "", c.get("connected_at", "")]
             for c in connections],
        )
    lines.append("")
    if not subscriptions:
        lines.append("no subscriptions")
    else:
        lines.append(f"subscriptions ({len(subscriptions)} events)")
        lines += _table(
            ["EVENT", "SUBSCRIBERS", "CLIENTS"],
            [[s.get("name", ""), str(len(s.get("connections", []))),
              ", ".join(c.get("client_name", "") for c in s.get("connections", []))] for s in subscriptions],
        )
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    return ["  " + "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
            for row in [header, *rows]]


@click.command()
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=default_state_dir,
              show_default="~/.local/share/picloud", envvar="PICLOUD_STATE_DIR", show_envvar=True,
              help="The hub's state directory.")
def key(state_dir: Path) -> None:
    """Print the api key the hub generated (it prints it only the first time)."""
    found = read_key(state_dir)
    if found is None:
        raise click.ClickException(
            f"no api key in {Path(state_dir) / KEY_FILE_NAME}: picloud serve generates one on its first start"
        )
    click.echo(found)


def register(group: click.Group) -> None:
    for command in (publish, subscribe, info, key):
        group.add_command(command)
