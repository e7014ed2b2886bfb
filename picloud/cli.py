"""The ``picloud`` command line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, TypeVar

import click
import cloup

from . import __version__
from .config import SETTINGS, Config
from .exceptions import ConfigError
from .setting import GROUPS, Setting
from .wire.speedups import describe

F = TypeVar("F", bound=Callable[..., Any])


@cloup.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="picloud", message=f"%(prog)s %(version)s, {describe()}")
def main() -> None:
    """PiCloud: a publish/subscribe hub for Raspberry Pi and IoT."""


def _click_type(setting: Setting[Any]) -> click.ParamType[Any] | None:
    if setting.kind == "int":
        low, high = (None if bound is None else int(bound) for bound in (setting.minimum, setting.maximum))
        return click.IntRange(low, high)
    if setting.kind == "float":
        return click.FloatRange(setting.minimum, setting.maximum)
    if setting.kind == "choice":
        return click.Choice(setting.choices, case_sensitive=not setting.ignore_case)
    if setting.kind == "file":
        return click.Path(dir_okay=False)
    if setting.kind == "dir":
        return click.Path(file_okay=False, path_type=Path)
    return None  # str, and bool flags: click's own


def _any_value(env: str) -> Callable[[click.Context, click.Parameter, bool | None], bool]:
    """Neither --x nor --no-x given: on if the variable is non-empty. Click
    would read it as a boolean and refuse the seed's USE_TLS=yes-please."""
    return lambda _ctx, _param, value: bool(os.environ.get(env)) if value is None else value


def option(setting: Setting[Any]) -> Callable[[F], F]:
    """The ``picloud serve`` option of one row of the settings table."""
    decls = [setting.option, *setting.alias_options, setting.name]
    kwargs: dict[str, Any] = {
        "type": _click_type(setting), "default": setting.factory or setting.default,
        "help": setting.description, "envvar": [setting.env, *setting.alias_envs] if setting.aliases else setting.env,
        "show_envvar": True,
    }
    if setting.shown is not None:
        kwargs["show_default"] = setting.shown
    if setting.any_value:
        decls = [f"{setting.option}/--no-{setting.option[2:]}", setting.name]
        kwargs.update(default=None, envvar=None, show_envvar=False, callback=_any_value(setting.env))
    elif setting.kind == "bool":
        kwargs["is_flag"] = True
    if setting.repeatable:
        kwargs["multiple"] = True
    return cloup.option(*decls, **kwargs)


def group_title(group: str) -> str:
    return "MQTT" if group == "mqtt" else group.capitalize()


def settings_options(function: F) -> F:
    """One help section per group of the settings table, in its order."""
    # Decorators apply innermost first: the last group goes on first.
    for group in reversed(GROUPS):
        rows = [setting for setting in SETTINGS if setting.group == group]
        if rows:
            function = cloup.option_group(group_title(group), *(option(setting) for setting in rows))(function)
    return function


EXAMPLES = """Examples:

\b
  picloud serve                                  # port 9000, a key generated once and kept
  API_KEY=Zr4p0Tf2Yq5Kx8NnLm3Q picloud serve --port 8080 --history-size 500
  picloud serve --keys-file /etc/picloud/keys --tls \\
      --cert-file /etc/picloud/tls/fullchain.pem --key-file /etc/picloud/tls/privkey.pem

Every option is also an environment variable (shown with it); the docs'
configuration page lists them with what each is for.
"""


@main.command(epilog=EXAMPLES)
@settings_options
def serve(**options: Any) -> None:
    """Run the hub."""
    from .server.logs import configure
    from .server.serve import run

    config = Config(**options)
    configure(config.log_level)
    try:
        run(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


# The client commands (publish, subscribe, info, readings) live in their own modules.
from .client import commands, readings  # noqa: E402

commands.register(main)
readings.register(main)
