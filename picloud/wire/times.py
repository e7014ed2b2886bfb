"""Times in queries: RFC 3339, Unix seconds, ``now``, or relative to now
(``-24h``, ``-7d``, ``-90m``; ``24h`` means the same as ``-24h``)."""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone

from ..exceptions import ProtocolError

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
RELATIVE = re.compile(r"^-?(\d+(?:\.\d+)?)([smhdwy])$")
#: The first and last second of the years 1 to 9999 (what datetime holds).
EARLIEST = datetime(1, 1, 1, tzinfo=timezone.utc).timestamp()
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc).timestamp()


def parse_time(text: str, now: float, name: str = "time") -> float:
    """Unix seconds for ``text``; ProtocolError naming ``name`` if it is none of the forms."""
    value = text.strip()
    if value == "now":
        return now
    relative = RELATIVE.match(value)
    seconds = math.nan
    if relative:
        seconds = now - float(relative.group(1)) * UNITS[relative.group(2)]
    else:
        try:
            seconds = float(value)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                seconds = (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()
    # Within the years rfc3339 can write (answers and errors name times).
    if not EARLIEST <= seconds <= LATEST:
        raise ProtocolError(f"'{name}' must be RFC 3339, Unix seconds or like -24h, not {text[:40]!r}")
    return seconds


def parse_span(text: str, name: str = "step") -> float:
    """Seconds of a span like ``60``, ``5m`` or ``1h``."""
    value = text.strip()
    relative = RELATIVE.match(value)
    if relative and not value.startswith("-"):
        seconds = float(relative.group(1)) * UNITS[relative.group(2)]
    else:
        try:
            seconds = float(value)
        except ValueError:
            seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:  # 0s too
        raise ProtocolError(f"'{name}' must be seconds > 0 or like 5m, not {text[:40]!r}")
    return seconds


def rfc3339(seconds: float) -> str:
    """``2026-12-01T15:51:11.250Z`` (milliseconds, UTC)."""
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    return f"{moment.year:04d}" + moment.strftime("-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
