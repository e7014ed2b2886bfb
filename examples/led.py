#!/usr/bin/env python3
"""Switch an LED (GPIO18 by default) as an event says: "on"/"off", true/false, 1/0.

    PICLOUD_URL=http://hub.local:9000 PICLOUD_API_KEY=... python3 led.py --pin 18 --event porch/light

The client reconnects and resubscribes by itself when the hub or the network
goes away; the LED keeps its last state meanwhile.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from _common import no_gpio, parser, quiet_fallbacks, setup

from picloud.client import AuthError, Client, Message

log = logging.getLogger("led")

ON = {"on", "1", "true", "yes", "high"}
OFF = {"off", "0", "false", "no", "low"}


def wanted_state(data: Any) -> bool | None:
    """True, False, or None for data that means neither."""
    if isinstance(data, bool):
        return data
    if isinstance(data, (int, float)):
        return data != 0
    if isinstance(data, str):
        text = data.strip().lower()
        if text in ON:
            return True
        if text in OFF:
            return False
    return None


def follow(client: Client, led: Any, event: str) -> None:
    """Subscribe to ``event`` and switch the gpiozero ``led`` on each message."""

    def on_message(message: Message) -> None:
        state = wanted_state(message.data)
        if state is None:
            log.warning("ignoring %r on %r: not on/off", message.data, message.event)
            return
        led.value = state
        log.info("led %s", "on" if state else "off")

    client.subscribe(event, on_message)


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--pin", default="18", help="GPIO of the LED [default: 18]")
    p.add_argument("--event", default="led", help="event to follow [default: led]")
    args = p.parse_args(argv)
    setup(args.verbose)
    try:
        from gpiozero import LED

        with quiet_fallbacks():
            led = LED(args.pin)
    except Exception as exc:
        raise no_gpio(exc) from None
    client = Client(args.url, args.api_key, args.client_name)
    follow(client, led, args.event)
    log.info("GPIO%s follows %r", args.pin, args.event)
    try:
        client.run_forever()  # callbacks run here, in the main thread
    except AuthError as exc:
        raise SystemExit(str(exc)) from None
    finally:
        led.close()


if __name__ == "__main__":
    sys.exit(main())
