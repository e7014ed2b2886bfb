"""What the hub's logs leave out: keys, in query strings and malformed requests."""

from __future__ import annotations

import logging
import re
from typing import Any

access_log = logging.getLogger("picloud.access")


def log_request(handler: Any) -> None:
    """Access log without the query string, which may carry ``apiKey``."""
    status = handler.get_status()
    if status < 400:
        if not access_log.isEnabledFor(logging.INFO):
            return  # the common case, and the formatting below is not free
        # Pages poll some routes every few seconds, and a sensor may publish
        # every second: on a Pi's SD card a line each is wear, not insight.
        log_method = access_log.debug if getattr(handler, "routine", False) else access_log.info
    elif status < 500:
        log_method = access_log.warning
    else:
        log_method = access_log.error
    request = handler.request
    log_method(
        "%d %s %s (%s) %.1fms",
        status, request.method, request.path, request.remote_ip,
        1000.0 * request.request_time(),
    )


class WithholdRequestDetails(logging.Filter):
    """Tornado logs the offending part of a malformed request (a header value,
    a query string), which may hold a key; keep only what kind of fault it was."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "Malformed HTTP message from %s: %s" and isinstance(record.args, tuple):
            detail = re.split(r"[:'\"]", str(record.args[-1]), maxsplit=1)[0].strip()
            record.args = (*record.args[:-1], detail)
        return True


def withhold_request_details() -> None:
    logging.getLogger("tornado.general").addFilter(WithholdRequestDetails())
