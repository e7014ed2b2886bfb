"""What arrives on a node's Redis pub/sub connection, and where it goes.

- Another node's message (``<node>\\n<frame>`` on an event's channel) is
  delivered to this hub's subscribers.
- This node's own message comes back too: a plain one is skipped (it was
  delivered locally already); an echo (``<node> <id>\\n<frame>``, see
  sequencer.py) tells the sequencer that Redis stamped and relayed it.
- A marker on this node's control channel completes a catch-up (catchup.py).
- Subscription confirmations go to channels.py.
"""

from __future__ import annotations

from typing import Any, Callable

from ...exceptions import BrokerError
from ...hub.message import Message, new_message
from .channels import Channels
from .mqtt_tag import apply
from .sequencer import Sequencer


class Inbound:
    def __init__(self, tag: bytes, channels: Channels, control: bytes, sequencer: Sequencer) -> None:
        self._tag = tag  # b"<node>\n"
        self._echo_tag = tag[:-1] + b" "  # + id + newline: see Sequencer
        self._channels = channels
        self._channel_prefix = channels.prefix
        self._confirmations = channels.confirmations
        self._control = control
        self._sequencer = sequencer
        self.deliver: Callable[[Message], object] = lambda message: None

    async def confirm(self, pubsub: Any, count: int, timeout: float) -> None:
        """Wait until Redis confirmed ``count`` subscriptions, each within ``timeout``."""
        while count:
            message = await pubsub.get_message(timeout=timeout)
            if message is None:
                raise BrokerError("redis did not confirm the subscriptions")
            if message["type"] in ("subscribe", "psubscribe"):
                count -= 1
                self._channels.confirmed(message)
            elif message["type"] in ("message", "pmessage"):
                self.receive(message["channel"], message["data"])

    async def read(self, pubsub: Any) -> None:
        receive = self.receive
        while True:
            message = await pubsub.get_message(timeout=None)
            if message is None:
                continue
            if message["type"] in ("message", "pmessage"):
                receive(message["channel"], message["data"])
            elif message["type"] in ("subscribe", "psubscribe"):
                self._channels.confirmed(message)

    def receive(self, channel: bytes, data: bytes) -> None:
        if data.startswith(self._echo_tag):
            # This node's, with an echo id or an MQTT part (mqtt_tag.py), or both.
            cut = data.find(b"\n")
            ident = data[len(self._echo_tag):cut].split(b" ", 1)[0] if cut > 0 else b""
            if ident.isdigit() and channel.startswith(self._channel_prefix):
                self._sequencer.echo(ident, data[cut + 1:])
            return
        if data.startswith(self._tag) or not channel.startswith(self._channel_prefix):
            if channel == self._control:
                self._confirmations.arrived(data)
            return  # our own message, or the control channel
        cut = data.find(b"\n")
        if cut < 0:
            return
        try:
            event = channel[len(self._channel_prefix):].decode()
        except UnicodeDecodeError:
            return
        message = new_message(event, data[cut + 1:])
        fields = data[:cut].split(b" ")
        if len(fields) > 1:
            apply(fields[1:], message)  # another hub's MQTT publisher (mqtt_tag.py)
        self.deliver(message)
