"""The settings table: Config, the ``picloud serve`` options and the docs made from it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from picloud import settings_docs
from picloud.cli import main, option, serve
from picloud.config import MIB, NAMES, SETTINGS, SLOW_POLICIES, Config, default_state_dir
from picloud.setting import GROUPS, Setting

ROOT = Path(__file__).resolve().parents[1]
ROWS = {setting.name: setting for setting in SETTINGS}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for setting in SETTINGS:
        monkeypatch.delenv(setting.env, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def test_defaults_are_those_of_the_dataclass_it_replaced(tmp_path):
    assert vars(Config()) == {
        "host": None, "port": 9000, "api_key": None, "no_auth": False, "tls": False, "key_file": None,
        "cert_file": None, "state_dir": tmp_path / "data" / "picloud", "info_interval": 5.0,
        "broker": "memory://", "broker_prefix": "picloud", "broker_outbox": 10000, "max_queue_bytes": MIB,
        "max_total_queue_bytes": 64 * MIB, "slow_consumer": "disconnect", "max_message_bytes": MIB,
        "shutdown_drain": 5.0, "xheaders": False, "public_metrics": False, "history_size": 100,
        "history_ttl": 0.0, "history_events": 1000, "retain_interval": 1.0, "keys_file": None,
        "api_key_file": None, "max_connections": 10000, "max_subscriptions": 1000, "max_batch": 1000,
        "allowed_origin": (), "ping_interval": 20.0, "handshake_timeout": 10.0, "publish_rate": 0.0,
        "publish_burst": 50, "log_level": "info",
    }


def test_environment_variables_keep_the_seed_names_and_prefix_the_rest():
    seed = {"port": "PORT", "api_key": "API_KEY", "tls": "USE_TLS", "key_file": "KEY_FILE", "cert_file": "CERT_FILE"}
    assert {name: row.env for name, row in ROWS.items() if name in seed} == seed
    for name, row in ROWS.items():
        if name not in seed:
            assert row.env == f"PICLOUD_{name.upper()}"


def test_overrides_and_assignment():
    config = Config(port=0, api_key="k", allowed_origin=("https://a",))
    assert (config.port, config.api_key, config.allowed_origin) == (0, "k", ("https://a",))
    assert config.scheme == "http"
    config.tls = True
    config.max_connections = 5
    assert config.scheme == "https"
    assert config.max_connections == 5
    assert Config(port=0) == Config(port=0) != Config(port=1)
    assert "port=0" in repr(Config(port=0))


def test_unknown_setting_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="unknown setting 'prot'"):
        Config(prot=9000)


def test_state_dir_is_always_a_path(tmp_path, monkeypatch):
    assert Config(state_dir=str(tmp_path)).state_dir == tmp_path
    assert Config(state_dir=None).state_dir == tmp_path / "data" / "picloud"
    config = Config()
    config.state_dir = str(tmp_path / "x")
    assert config.state_dir == tmp_path / "x"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_state_dir() == Path.home() / ".local" / "share" / "picloud"
    assert Config().state_dir == default_state_dir()


def test_every_row_is_in_a_known_group_in_group_order():
    assert [row.group for row in SETTINGS] == sorted((row.group for row in SETTINGS), key=GROUPS.index)
    assert {"network", "security", "limits", "history and retained", "cluster", "logging"} <= {
        row.group for row in SETTINGS
    }
    assert ROWS["slow_consumer"].choices == SLOW_POLICIES == ("disconnect", "drop")
    assert ROWS["allowed_origin"].repeatable


@pytest.mark.parametrize(("row", "error"), [
    ({"default": 1, "kind": "integer"}, "unknown kind 'integer'"),
    ({"default": 1, "kind": "int", "group": "misc"}, "unknown group 'misc'"),
    ({"default": "1", "kind": "int"}, "default '1' is not of kind 'int'"),
    ({"default": "a", "kind": "str", "choices": ("a",)}, "choices go with kind 'choice', not 'str'"),
    ({"default": "c", "kind": "choice", "choices": ("a", "b")}, "default 'c' is not one of"),
    ({"default": "c", "kind": "choice"}, "kind 'choice' needs choices"),
    ({"default": "a", "kind": "str", "minimum": 0}, "bounds go with kind 'int' or 'float', not 'str'"),
    ({"default": 1, "kind": "int", "any_value": True}, "any_value goes with kind 'bool', not 'int'"),
    ({"default": ["a"], "kind": "str", "repeatable": True}, "default \\['a'\\] is not of kind 'str'"),
])
def test_a_bad_row_fails_at_import(row, error):
    with pytest.raises(ValueError, match=error):
        Setting(**{"group": "network", "help": "h", **row})


def test_config_imports_only_the_standard_library():
    code = "import sys, picloud.config, picloud.settings_docs; print(' '.join(sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = set(result.stdout.split())
    assert not {"click", "tornado", "picloud.outbox", "picloud.cli"} & modules


def test_every_option_of_serve_is_a_row_and_every_row_an_option():
    params = {param.name: param for param in serve.params}
    assert list(params) == list(NAMES)
    for name, param in params.items():
        row = ROWS[name]
        assert isinstance(param, click.Option)
        assert param.opts == [row.option]
        if row.any_value:
            assert param.secondary_opts == [f"--no-{row.option[2:]}"] and param.envvar is None
        else:
            assert (param.envvar, param.show_envvar) == (row.env, True)
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
        return str(row.default + 1), row.default + 1
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


def test_a_new_row_is_an_option_and_a_line_in_the_docs():
    class Later:
        mqtt_port = Setting(1883, kind="int", minimum=0, maximum=65535, group="mqtt", help="MQTT port.")

    decorated = click.command()(option(Later.mqtt_port)(lambda **_: None))
    param = decorated.params[0]
    assert (param.opts, param.envvar, param.default) == (["--mqtt-port"], "PICLOUD_MQTT_PORT", 1883)
    assert "``--mqtt-port``" in settings_docs.rst_table([Later.mqtt_port])
    assert "# MQTT port.\n#PICLOUD_MQTT_PORT=1883\n" in settings_docs.env_file([Later.mqtt_port])


def test_the_checked_in_docs_are_what_the_table_makes():
    assert settings_docs.stale(ROOT) == [], "run: python -m picloud.settings_docs --write"


def test_the_settings_docs_check_and_write(tmp_path):
    for name in settings_docs.DOCS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text((ROOT / name).read_text().replace("#PORT=9000", "#PORT=80"))
    assert settings_docs.main(["--check", "--root", str(tmp_path)]) == 1
    assert settings_docs.main(["--write", "--root", str(tmp_path)]) == 0
    assert settings_docs.main(["--check", "--root", str(tmp_path)]) == 0
    assert (tmp_path / "etc/default/picloud").read_text() == (ROOT / "etc/default/picloud").read_text()
    with pytest.raises(ValueError, match=re.escape("no marker '.. End of the generated table.'")):
        settings_docs.splice(settings_docs.RST_BEGIN, settings_docs.RST_BEGIN, settings_docs.RST_END, "")


def test_the_readme_table_is_valid_rst():
    docutils_core = pytest.importorskip("docutils.core")
    warnings: list[str] = []

    class Stream:
        def write(self, text: str) -> None:
            warnings.append(text)

    doctree = docutils_core.publish_doctree(
        settings_docs.rst_table(), settings_overrides={"warning_stream": Stream(), "report_level": 1}
    )
    assert warnings == []
    rows = list(doctree.findall(lambda node: node.tagname == "row"))
    assert len(rows) == 1 + len({row.group for row in SETTINGS}) + len(SETTINGS)
