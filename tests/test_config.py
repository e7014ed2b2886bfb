"""The settings table (picloud/config.py): Config's defaults, the environment
variables' names, overrides and the state directory, every row in a known
group. The ``picloud serve`` options made from it are test_cli.py's, the
docs test_settings_docs.py's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from picloud.config import MIB, SETTINGS, SLOW_POLICIES, Config, default_state_dir
from picloud.setting import GROUPS

ROWS = {setting.name: setting for setting in SETTINGS}

pytestmark = pytest.mark.usefixtures("clean_environment")


def test_defaults_are_those_of_the_dataclass_it_replaced(tmp_path):
    assert vars(Config()) == {
        "host": None, "port": 9000, "api_key": None, "no_auth": False, "tls": False, "key_file": None,
        "cert_file": None, "state_dir": tmp_path / "data" / "picloud", "info_interval": 5.0,
        "broker": "memory://", "broker_prefix": "picloud", "broker_outbox": 10000, "max_queue_bytes": MIB,
        "max_total_queue_bytes": 64 * MIB, "slow_consumer": "disconnect", "max_message_bytes": MIB,
        "shutdown_drain": 5.0, "xheaders": False, "public_metrics": False, "history_size": 100,
        "history_ttl": 0.0, "history_events": 1000, "store_interval": 1.0, "keys_file": None,
        "api_key_file": None, "max_connections": 10000, "max_subscriptions": 1000, "max_batch": 1000,
        "max_pending": 256, "max_pending_per_ip": 32,
        "mqtt_port": None, "mqtt_tls_port": None, "no_mqtt": False, "mqtt_session_queue": 1000,
        "mqtt_session_expiry": 86400.0,
        "mqtt_max_inflight": 20, "mqtt_max_sessions": 1000, "mqtt_session_bytes": 32 * 1024 * 1024,
        "allowed_origin": (), "ping_interval": 20.0, "handshake_timeout": 5.0, "publish_rate": 0.0,
        "publish_burst": 50, "log_level": "info",
        # added since, by later issues
        "max_total_inbound_bytes": 64 * MIB, "history_bytes": 32 * MIB, "broker_outbox_bytes": 16 * MIB,
        "auth_fail_limit": 20, "auth_block": 60.0, "max_total_subscriptions": 100_000,
        "max_retained": 10_000, "max_retained_bytes": 16 * MIB, "max_retained_value_bytes": 256 * 1024,
        "record": (), "no_record": False, "record_raw_days": 7.0, "record_rollup_days": 365.0,
        "store_max_bytes": 256 * MIB, "record_max_series": 2000, "defer_accept": 1,
    }


def test_a_former_name_is_still_read_as_option_and_variable(monkeypatch):
    from click.testing import CliRunner

    import picloud.server.serve as serve
    from picloud.cli import main

    seen = []
    monkeypatch.setattr(serve, "run", lambda config: seen.append(config.store_interval))
    runner = CliRunner()
    assert runner.invoke(main, ["serve", "--retain-interval", "2.5"]).exit_code == 0
    assert runner.invoke(main, ["serve"], env={"PICLOUD_RETAIN_INTERVAL": "3"}).exit_code == 0
    assert runner.invoke(main, ["serve"], env={"PICLOUD_STORE_INTERVAL": "4"}).exit_code == 0
    assert seen == [2.5, 3.0, 4.0]


def test_environment_variables_keep_the_seed_names_and_prefix_the_rest():
    seed = {"port": "PORT", "api_key": "API_KEY", "tls": "USE_TLS", "key_file": "KEY_FILE", "cert_file": "CERT_FILE"}
    assert {name: row.env for name, row in ROWS.items() if name in seed} == seed
    for name, row in ROWS.items():
        if name not in seed:
            assert row.env == f"PICLOUD_{name.upper()}"


def test_overrides_and_assignment():
    config = Config(port=0, api_key="key-0123456789abcd", allowed_origin=("https://a",))
    assert (config.port, config.api_key, config.allowed_origin) == (0, "key-0123456789abcd", ("https://a",))
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


def test_config_imports_only_the_standard_library():
    code = "import sys, picloud.config, picloud.settings_docs; print(' '.join(sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = set(result.stdout.split())
    assert not {"click", "tornado", "picloud.outbox", "picloud.cli"} & modules
