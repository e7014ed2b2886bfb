"""What the examples share: connection options and logging for a systemd service."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import warnings
from collections.abc import Iterator


def parser(description: str) -> argparse.ArgumentParser:
    """Options default to PICLOUD_URL, PICLOUD_API_KEY (or API_KEY), PICLOUD_CLIENT_NAME."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--url", help="the hub, e.g. http://hub.local:9000 [env PICLOUD_URL]")
    p.add_argument("--api-key", help="the hub's key [env PICLOUD_API_KEY]")
    p.add_argument("--client-name", help="name shown in the hub's info [env PICLOUD_CLIENT_NAME]")
    p.add_argument("--verbose", "-v", action="store_true")
    return p


def setup(verbose: bool) -> None:
    # journald adds the time and the unit name itself.
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(message)s", stream=sys.stderr)
    # systemd stops a service with SIGTERM: leave through the same path as Ctrl-C
    # so the client closes its connections.
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def quiet_fallbacks() -> Iterator[None]:
    """gpiozero warns once per pin library it tries and does not find (four
    lines off a Pi); the one line of ``no_gpio`` says what matters."""
    with warnings.catch_warnings():
        try:
            from gpiozero.exc import PinFactoryFallback
        except ImportError:  # no gpiozero at all: no_gpio says so
            pass
        else:
            warnings.simplefilter("ignore", PinFactoryFallback)
        yield


def no_gpio(exc: Exception) -> SystemExit:
    return SystemExit(
        f"no GPIO on this machine ({exc}); on a Raspberry Pi install gpiozero with lgpio, "
        "elsewhere try it with GPIOZERO_PIN_FACTORY=mock"
    )
