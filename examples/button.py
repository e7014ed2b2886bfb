#!/usr/bin/env python3
"""Publish every press of a push button (GPIO17 to ground by default).

    PICLOUD_URL=http://hub.local:9000 PICLOUD_API_KEY=... python3 button.py --pin 17 --event door/bell
"""

from __future__ import annotations

import logging
import signal
import sys

from _common import no_gpio, parser, quiet_fallbacks, setup

from picloud.client import Client, ClientError

log = logging.getLogger("button")


def wire(client: Client, button: object, event: str) -> None:
    """Publish ``"pressed"`` on ``event`` at each press of the gpiozero ``button``."""

    def pressed() -> None:
        # gpiozero calls this from its own thread; Client.publish may be
        # called from any thread.
        try:
            client.publish(event, "pressed")
            log.info("pressed: published on %r", event)
        except ClientError as exc:
            log.warning("pressed, but not published: %s", exc)

    button.when_pressed = pressed  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--pin", default="17", help="GPIO of the button [default: 17]")
    p.add_argument("--event", default="button", help="event to publish on [default: button]")
    args = p.parse_args(argv)
    setup(args.verbose)
    try:
        from gpiozero import Button

        with quiet_fallbacks():
            button = Button(args.pin, bounce_time=0.05)
    except Exception as exc:
        raise no_gpio(exc) from None
    client = Client(args.url, args.api_key, args.client_name)
    wire(client, button, args.event)
    log.info("waiting for presses on GPIO%s", args.pin)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
        button.close()


if __name__ == "__main__":
    sys.exit(main())
