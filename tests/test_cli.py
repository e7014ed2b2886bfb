"""The ``picloud`` command (picloud/cli.py): ``picloud serve``'s options, one per
row of the settings table, with their variables, bounds, cases and help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from picloud import settings_docs
from picloud.cli import group_title, main, option, serve
from picloud.config import NAMES, SETTINGS, Config
from picloud.setting import GROUPS, Setting

ROWS = {setting.name: setting for setting in SETTINGS}

pytestmark = pytest.mark.usefixtures("clean_environment")


def test_every_option_of_serve_is_a_row_and_every_row_an_option():
    params = {param.name: param for param in serve.params}
    assert list(params) == list(NAMES)
    for name, param in params.items():
        row = ROWS[name]
        assert isinstance(param, click.Option)
        assert param.opts == [row.option, *row.alias_options]
        if row.any_value:
            assert param.secondary_opts == [f"--no-{row.option[2:]}"] and param.envvar is None
        else:
            assert (param.envvar, param.show_envvar) == ([row.env, *row.alias_envs] if row.aliases else row.env, True)
        assert param.multiple == row.repeatable
        assert param.is_flag == (row.kind == "bool")
        if row.kind in ("int", "float"):
            assert (param.type.min, param.type.max) == (row.minimum, row.maximum)
        if row.kind == "choice":
            assert tuple(param.type.choices) == row.choices


@pytest.fixture
def serve_config(monkeypatch):
    """Run ``picloud serve`` in-process up to the Config it would serve with."""
    served: list[Config] = []
    monkeypatch.setattr("picloud.server.serve.run", served.append)
    monkeypatch.setattr("logging.basicConfig", lambda **_: None)

    def run(*args: str, env: dict[str, str] | None = None) -> Config:
        CliRunner().invoke(main, ["serve", *args], env=env, standalone_mode=False, catch_exceptions=False)
        return served.pop()

    return run


def test_serve_with_nothing_given_serves_the_table_defaults(serve_config):
    assert serve_config() == Config()


def sample(row: Setting[Any], tmp_path: Path) -> tuple[str, Any]:
    """A value other than the default, as the environment spells it and as Config holds it."""
    if row.kind == "int":
        other = 1 if row.default is None else row.default + 1  # None: a default the hub picks (--mqtt-port)
        return str(other), other
    if row.kind == "float":
        return str(row.default + 0.5), row.default + 0.5
    if row.kind == "bool":
        return "1", True
    if row.kind == "choice":
        return row.choices[-1].upper() if row.ignore_case else row.choices[-1], row.choices[-1]
    if row.kind == "dir":
        return str(tmp_path / "elsewhere"), tmp_path / "elsewhere"
    if row.repeatable:
        return "https://a https://b", ("https://a", "https://b")
    return "example", "example"


@pytest.mark.parametrize("name", NAMES)
def test_the_environment_variable_sets_the_option(serve_config, tmp_path, name):
    row = ROWS[name]
    text, value = sample(row, tmp_path)
    assert getattr(serve_config(env={row.env: text}), name) == value


def test_use_tls_keeps_the_seed_reading(serve_config):
    assert serve_config(env={"USE_TLS": "yes-please"}).tls is True
    assert serve_config(env={"USE_TLS": ""}).tls is False
    assert serve_config("--no-tls", env={"USE_TLS": "1"}).tls is False
    assert serve_config("--tls").tls is True


def test_options_keep_their_bounds_and_cases(serve_config):
    assert serve_config("--allowed-origin", "https://a", "--allowed-origin", "https://b").allowed_origin == (
        "https://a", "https://b",
    )
    assert serve_config("--log-level", "WARNING").log_level == "warning"
    for args in (["--port", "65536"], ["--max-queue-bytes", "1023"], ["--info-interval", "0.01"],
                 ["--slow-consumer", "DROP"], ["--log-level", "trace"]):
        with pytest.raises(click.BadParameter):
            CliRunner().invoke(main, ["serve", *args], standalone_mode=False, catch_exceptions=False)


def test_help_shows_every_option_its_variable_and_default():
    result = subprocess.run([sys.executable, "-m", "picloud", "serve", "--help"], capture_output=True, text=True)
    text = " ".join(result.stdout.split())  # click wraps lines anywhere
    for row in SETTINGS:
        assert row.option in text
        assert row.any_value or f"env var: {row.env}" in text
    for default in ("default: 9000; 0<=x<=65535", "default: (~/.local/share/picloud)",
                    "default: (every interface, IPv4 and IPv6)", "[disconnect|drop]", "[debug|info|warning|error]",
                    "--tls / --no-tls"):
        assert default in text


def test_help_groups_the_options_as_the_table_does_and_ends_with_examples():
    result = subprocess.run([sys.executable, "-m", "picloud", "serve", "--help"], capture_output=True, text=True)
    lines = result.stdout.splitlines()
    headings = [line[:-1] for line in lines if line.endswith(":") and not line.startswith(" ")]
    used = [group_title(group) for group in GROUPS if any(row.group == group for row in SETTINGS)]
    assert headings == [*used, "Other options", "Examples"]
    # Each option sits under its own group's heading.
    for row in SETTINGS:
        at = next(i for i, line in enumerate(lines) if line.lstrip().startswith(row.option))
        assert [h for h in headings if lines.index(h + ":") < at][-1] == group_title(row.group), row.option
    examples = result.stdout[result.stdout.index("Examples:"):]
    assert examples.count("picloud serve") == 3


def test_a_new_row_is_an_option_and_a_line_in_the_docs():
    class Later:
        mqtt_port = Setting(1883, kind="int", minimum=0, maximum=65535, group="mqtt", help="MQTT port.")

    decorated = click.command()(option(Later.mqtt_port)(lambda **_: None))
    param = decorated.params[0]
    assert (param.opts, param.envvar, param.default) == (["--mqtt-port"], "PICLOUD_MQTT_PORT", 1883)
    assert "``--mqtt-port``" in settings_docs.rst_table([Later.mqtt_port])
    assert "# MQTT port.\n#PICLOUD_MQTT_PORT=1883\n" in settings_docs.env_file([Later.mqtt_port])


def test_python_dash_m_matches_the_console_script():
    module = subprocess.run([sys.executable, "-m", "picloud", "--help"], capture_output=True, text=True)
    assert module.returncode == 0
    assert "serve" in module.stdout and "Usage: picloud" in module.stdout
