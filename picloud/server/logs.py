"""What the hub's logs leave out: keys, in query strings and malformed requests."""

from __future__ import annotations

import logging
import re
from typing import Any

from tornado.log import gen_log
from tornado.web import HTTPError

#: ``picloud serve``'s log line.
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

access_log = logging.getLogger("picloud.access")
error_log = logging.getLogger("picloud.handlers")


def configure(level: str) -> None:
    """``picloud serve``'s logging: FORMAT on stderr from ``level`` up.

    A record also looks up its caller's file and line, thread and process,
    none of which FORMAT shows: about a quarter of what a line costs, and a
    hub logs each connection and disconnection (the logging HOWTO's
    "Optimization" section names these switches).
    """
    logging.basicConfig(level=level.upper(), format=FORMAT)
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def log_request(handler: Any) -> None:
    """Access log without the query string, which may carry ``apiKey``."""
    status = handler.get_status()
    if status < 400:
        # Pages poll some routes every few seconds, and a sensor may publish
        # every second: on a Pi's SD card a line each is wear, not insight.
        routine = getattr(handler, "routine", False)
        if not access_log.isEnabledFor(logging.DEBUG if routine else logging.INFO):
            return  # the common case, and the formatting below is not free
        log_method = access_log.debug if routine else access_log.info
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


class WithholdsQuery:
    """For every handler: its error logs leave the query string out, since
    it may carry ``apiKey`` (Tornado's summary has it, and its uncaught
    exception log adds the whole request)."""

    request: Any

    def _request_summary(self) -> str:
        return f"{self.request.method} {self.request.path} ({self.request.remote_ip})"

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, HTTPError):
            if value.log_message:  # Tornado's format: the message's own %s take its args
                gen_log.warning("%d %s: " + value.log_message, value.status_code, self._request_summary(),
                                  *value.args)
            return
        error_log.error("uncaught exception %s", self._request_summary(), exc_info=(typ, value, tb))


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
