"""The ports MQTT listens on: plain MQTT (1883 by default) and MQTT over TLS
(8883 by default when the hub has TLS on). A default port that is taken
(Mosquitto often holds 1883 and 8883) turns that listener off with one
warning line; a port given explicitly that is taken stops the hub.
"""

from __future__ import annotations

import errno
import logging
import socket

from tornado.netutil import bind_sockets

from ...config import Config
from ...exceptions import ConfigError

log = logging.getLogger("picloud.mqtt")

DEFAULT_PORT = 1883
DEFAULT_TLS_PORT = 8883


def mqtt_sockets(config: Config) -> list[socket.socket]:
    """The listening sockets for plain MQTT, or none: off, or the default
    port taken. With TLS on, only if a port is given: the key would cross
    the network in the clear."""
    if config.no_mqtt or (config.tls and config.mqtt_port is None):
        return []
    return _bind(config, config.mqtt_port, DEFAULT_PORT, "mqtt", "--mqtt-port")


def mqtt_tls_sockets(config: Config) -> list[socket.socket]:
    """The listening sockets for MQTT over TLS, or none (TLS off, MQTT off,
    or the default port taken)."""
    if config.mqtt_tls_port is not None and not config.tls:
        raise ConfigError("--mqtt-tls-port needs tls on (--tls, CERT_FILE and KEY_FILE)")
    if config.no_mqtt or not config.tls:
        return []
    return _bind(config, config.mqtt_tls_port, DEFAULT_TLS_PORT, "mqtt over tls", "--mqtt-tls-port")


def _bind(config: Config, given: int | None, default: int, what: str, option: str) -> list[socket.socket]:
    port = default if given is None else given
    try:
        return bind_sockets(port, config.host or None)
    except OSError as exc:
        if given is not None:
            raise ConfigError(f"cannot listen for {what} on port {port}: {(exc.strerror or str(exc)).lower()}") \
                from None
        if exc.errno == errno.EADDRINUSE:
            log.warning("%s is off: port %d is taken (by Mosquitto?); give another with %s, "
                        "or --no-mqtt to say so", what, port, option)
        else:
            log.warning("%s is off: cannot listen on port %d: %s", what, port, exc.strerror)
        return []
