"""What picloud's client sends and how it reads the hub's answers, without I/O:
messages as received, hub URLs, publish frames, refusals as exceptions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union
from urllib.parse import urlsplit

import ujson

from .exceptions import AuthError, ClientError, HubUnreachable
from .protocol import dumps, validate_event

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
    frame: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_frame(cls, frame: dict) -> Message:
        seq = frame.get("seq")
        epoch = frame.get("epoch")
        return cls(
            frame["event"], frame.get("data"), frame.get("created_at"),
            seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
            None if epoch is None else str(epoch), frame,
        )


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


def refusal(url: str, code: int, body: bytes | None, reason: str = "", has_key: bool = True) -> ClientError:
    """The exception for a hub's non-success HTTP answer (599: no answer)."""
    if code == 599:
        return HubUnreachable(f"cannot reach the hub at {url}: {reason or 'no answer'}".lower())
    try:
        message = ujson.loads(body or b"{}").get("error") or ""
    except (ValueError, AttributeError):
        message = ""
    if code == 401:
        hint = "" if has_key else " (no api key given: use --api-key or PICLOUD_API_KEY)"
        return AuthError(f"the hub at {url} refused the api key: {message or 'unauthorized'}{hint}")
    return ClientError(f"the hub at {url} answered {code}: {message or reason or 'error'}")


def reason_of(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def unreachable(url: str, exc: BaseException) -> HubUnreachable:
    return HubUnreachable(f"cannot reach the hub at {url}: {reason_of(exc)}".lower())
