"""Times in queries: RFC 3339, Unix seconds, ``now``, or relative to now
(``-24h``, ``-7d``, ``-90m``; ``24h`` means the same as ``-24h``)."""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone

from ..exceptions import ProtocolError

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
RELATIVE = re.compile(r"^-?(\d+(?:\.\d+)?)([smhdwy])$")


def parse_time(text: str, now: float, name: str = "time") -> float:
    """Unix seconds for ``text``; ProtocolError naming ``name`` if it is none of the forms."""
    value = text.strip()
    if value == "now":
        return now
    relative = RELATIVE.match(value)
    if relative:
        return now - float(relative.group(1)) * UNITS[relative.group(2)]
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds):
            return seconds
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ProtocolError(f"'{name}' must be RFC 3339, Unix seconds or like -24h, not {text[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def parse_span(text: str, name: str = "step") -> float:
    """Seconds of a span like ``60``, ``5m`` or ``1h``."""
    value = text.strip()
    relative = RELATIVE.match(value)
    if relative and not value.startswith("-"):
        return float(relative.group(1)) * UNITS[relative.group(2)]
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise ProtocolError(f"'{name}' must be seconds > 0 or like 5m, not {text[:40]!r}")
    return seconds


def rfc3339(seconds: float) -> str:
    """``2026-12-01T15:51:11.250Z`` (milliseconds, UTC)."""
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
