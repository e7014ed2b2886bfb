"""What picloud's client sends and how it reads the hub's answers, without I/O:
messages as received, hub URLs, publish frames, refusals as exceptions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Union
from urllib.parse import urlsplit

import ujson

from ..exceptions import AuthError, ClientError, HubUnreachable
from ..wire.codec import dumps, validate_event
from ..wire.topics import is_filter

DEFAULT_URL = "http://localhost:9000"
#: ``(seq, epoch)`` of the last message seen on an event, for ``since``.
Position = tuple[int, Union[str, None]]


@dataclass(frozen=True)
class Message:
    """One delivered message; ``frame`` is the publish frame as received."""

    event: str
    data: Any
    created_at: str | None = None
    seq: int | None = None
    epoch: str | None = None
    frame: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_frame(cls, frame: dict[str, Any]) -> Message:
        seq = frame.get("seq")
        epoch = frame.get("epoch")
        return cls(
            frame["event"], frame.get("data"), frame.get("created_at"),
            seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
            None if epoch is None else str(epoch), frame,
        )


@dataclass(frozen=True)
class Gap:
    """A resubscription the hub could not fully resume: messages on ``event``
    after ``since`` may be missing (another epoch, or no longer kept). What
    the hub still keeps was delivered anyway; ``epoch`` and ``seq`` are the
    hub's current ones."""

    event: str
    since: Position
    epoch: str | None = None
    seq: int | None = None


class Positions:
    """Where the client left off on each event, for ``since``, and which
    frames repeat a message already delivered (no I/O).

    Within an epoch an event's seq only grows, so a message at or below the
    position is a repeat: a retained value sent again, or a replay
    overlapping what was seen. A retained value (``"retained": true``) does
    not move the position of an event already under way, since the replay
    that follows it after an unrecovered resume starts lower; the replay's
    copy of it is dropped instead.
    """

    def __init__(self) -> None:
        self._at: dict[str, Position] = {}
        self._retained: dict[str, Position] = {}
        self._skip_retained: set[str] = set()

    def get(self, event: str) -> Position | None:
        return self._at.get(event)

    def start(self, event: str, position: Position) -> None:
        self._at[event] = position

    def forget(self, event: str, exact: Iterable[str] = ()) -> None:
        """Unsubscribed from ``event``; for a wildcard filter, forget every
        event but the ``exact`` subscriptions, so that subscribing again
        delivers the retained values again."""
        names = [name for name in self._at if name not in set(exact)] if is_filter(event) else [event]
        for name in names:
            self._at.pop(name, None)
            self._retained.pop(name, None)
            self._skip_retained.discard(name)

    def since(self, event: str) -> dict[str, Any] | None:
        """The ``since`` field of a subscribe frame, if there is a position."""
        position = self._at.get(event)
        if position is None:
            return None
        # The hub needs an epoch. Without one (a seq given by hand), "" matches
        # none: the hub sends all it keeps, and confirmed() learns the epoch
        # to drop what is at or below seq.
        return {"seq": position[0], "epoch": position[1] or ""}

    def fresh(self, message: Message) -> bool:
        """Whether to deliver ``message`` (False: a repeat); moves the position."""
        seq, epoch, event = message.seq, message.epoch, message.event
        if seq is None:
            return True  # unnumbered (a hub without history, presence)
        at = self._at.get(event)
        if at is not None and at[1] == epoch and seq <= at[0]:
            return False
        if message.frame.get("retained") is True:
            if event in self._skip_retained:
                return False
            if at is None:
                self._at[event] = (seq, epoch)
            else:
                self._retained[event] = (seq, epoch)
            return True
        self._skip_retained.discard(event)
        self._at[event] = (seq, epoch)
        retained = self._retained.get(event)
        if retained is not None and (retained[1] != epoch or seq >= retained[0]):
            del self._retained[event]
            return retained != (seq, epoch)
        return True

    def confirmed(self, frame: dict[str, Any]) -> Gap | None:
        """Read a ``subscribed`` frame; a Gap if the hub could not resume."""
        event, epoch, seq = frame["event"], frame.get("epoch"), frame.get("seq")
        position = self._at.get(event)
        if position is None or "recovered" not in frame or not isinstance(epoch, str):
            return None
        if position[1] is None:
            # A seq without epoch is taken to be in the hub's current epoch;
            # what the hub sends besides the messages after it is a repeat.
            self._at[event] = (position[0], epoch)
            self._skip_retained.add(event)
            return None
        if frame["recovered"] is not False:
            return None
        return Gap(event, position, epoch, seq if isinstance(seq, int) else None)


def hub_urls(url: str) -> tuple[str, str]:
    """``(http_base, ws_base)`` for a hub given as http(s)://, ws(s):// or host:port."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    scheme = {"http": "http", "ws": "http", "https": "https", "wss": "https"}.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"unsupported url scheme {parts.scheme!r} (use http, https, ws or wss)")
    if not parts.netloc:
        raise ValueError(f"no host in url {url!r}")
    base = f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    return base, "ws" + base[4:]


def publish_payload(event: str, data: Any = None, retain: bool = False) -> bytes:
    """The publish frame, checked here so a bad message fails at the caller."""
    frame: dict[str, Any] = {"event": validate_event(event), "data": data}
    if retain:
        frame["retain"] = True
    return dumps(frame)


class Refused(ClientError):
    """The hub answered with an HTTP status retrying cannot change (403, 404, ...)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


#: What a refusal without any key adds; the command line says it its own way.
NO_KEY = "no api key given: pass api_key or set PICLOUD_API_KEY"
NO_KEY_CLI = "no api key given: use --api-key or PICLOUD_API_KEY"


def refusal(url: str, code: int, body: bytes | None, reason: str = "", has_key: bool = True) -> ClientError:
    """The exception for a hub's non-success HTTP answer (599: no answer)."""
    if code == 599:
        return unreachable(url, reason or "no answer")
    try:
        message = ujson.loads(body or b"{}").get("error") or ""
    except (ValueError, AttributeError):
        message = ""
    if code == 401:
        hint = "" if has_key else f" ({NO_KEY})"
        return AuthError(f"the hub at {url} refused the api key: {message or 'unauthorized'}{hint}")
    text = f"the hub at {url} answered {code}: {message or reason or 'error'}"
    if 400 <= code < 500 and code not in (408, 429):
        return Refused(text, code)
    return ClientError(text)


def reason_of(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


#: What an https:// client hears from a plain hub, and an http:// one from a TLS hub.
NOT_TLS = ("wrong_version_number", "wrong version number", "record layer failure", "packet length too long",
           "timeout during tls handshake")
CLOSED = ("stream closed", "connection reset", "closed the connection", "remote end closed", "unexpected eof")


def unreachable(url: str, exc: BaseException | str) -> HubUnreachable:
    """The exception for no answer at ``url``; a scheme that does not match
    the hub's says which to use."""
    reason = (exc if isinstance(exc, str) else reason_of(exc)).lower()
    scheme, _, rest = url.partition("://")
    if scheme == "https" and any(sign in reason for sign in NOT_TLS):
        return HubUnreachable(f"the hub at {url} does not speak tls: use http://{rest}")
    if "certificate verify failed" in reason:
        detail = reason.split("certificate verify failed:")[-1].split("(_ssl")[0].strip()
        return HubUnreachable(f"the hub at {url} has a certificate this machine does not trust ({detail}): "
                              "give it with --ca-file (ca_file=), or --insecure (verify=False)")
    if scheme == "http" and any(sign in reason for sign in CLOSED):
        return HubUnreachable(f"the hub at {url} closed the connection without an answer: "
                              f"if it serves tls, use https://{rest}")
    return HubUnreachable(f"cannot reach the hub at {url}: {reason}")
