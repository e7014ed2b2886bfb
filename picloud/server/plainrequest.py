"""A plain upgrade request read off the socket (server/direct.py): its line
and headers parsed, and its ``HTTPServerRequest`` built, for less than
Tornado's general parser and constructor cost.

Both are about a tenth of what a device's reconnection costs the hub in
Python: Tornado's constructor validates the Host with RFC 3986's grammar,
splits host and port with another regular expression, parses the query and
deep-copies what it parsed. A request whose Host is a plain name or address
(letters, digits, dots and dashes, a port) and whose query needs no
unquoting (no ``%``, no ``+``) gets the same attributes set directly;
anything else is built by Tornado. tests/server/test_plainrequest.py holds
the two to the same attributes, which also pins the attributes Tornado's
constructor sets.
"""

from __future__ import annotations

import re
import time
from typing import Any

from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

#: The request line of an upgrade this path may take: the query (if any) is
#: Tornado's request-target (visible ASCII), the path one of the upgrade routes.
REQUEST_LINE = re.compile(r"GET (/(?:subscribe|publish|info)(?:\?[\x21-\x7e]*)?) HTTP/1\.1\r\n")
TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
#: Header lines Tornado's parser takes as they are: a token, a colon, visible
#: ASCII, spaces and tabs, CRLF. Checked for the whole block at once, then
#: read line by line with HEADER_LINE: two simple passes cost half of one
#: pattern that both checks and strips.
HEADER_LINES = re.compile(f"(?:{TOKEN}:[\\x21-\\x7e \\t]*\\r\\n)*")
HEADER_LINE = re.compile(f"({TOKEN}):[ \\t]*([\\x21-\\x7e \\t]*)\\r\\n")
#: A Host that RFC 3986's grammar (Tornado's check) takes, in its common shape.
PLAIN_HOST = re.compile(r"([0-9A-Za-z.\-]+)(?::[0-9]+)?")
#: Far fewer fields than Tornado's limit on a query's (1000 by default; the hub never lowers it).
MAX_PLAIN_FIELDS = 16


def parse(data: bytes) -> tuple[int, RequestStartLine, HTTPHeaders] | None:
    """The request's length, line and headers, if ``data`` starts with a
    whole plain upgrade request this parser reads; None otherwise."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    text = data[:end + 2].decode("latin-1")
    line = REQUEST_LINE.match(text)
    if line is None:
        return None
    start = line.end()
    if HEADER_LINES.fullmatch(text, start) is None:
        return None
    fields = HEADER_LINE.findall(text, start)
    if " \r\n" in text or "\t\r\n" in text:
        fields = [(name, value.rstrip(" \t")) for name, value in fields]
    headers = HTTPHeaders()
    repeats = len({name.lower() for name, _ in fields}) < len(fields)
    for name, value in fields:
        # What HTTPHeaders.add does, without its checks: the lines passed stricter ones.
        if repeats and name in headers:
            headers.add(name, value)
        else:
            headers[name] = value
    return end + 4, RequestStartLine("GET", line.group(1), "HTTP/1.1"), headers


def build_request(connection: Any, start_line: RequestStartLine, headers: HTTPHeaders) -> HTTPServerRequest:
    """``HTTPServerRequest(connection=connection, start_line=start_line,
    headers=headers)`` of a request ``parse`` read (HTTPInputError where
    Tornado's would raise it)."""
    host = headers.get("Host")
    uri = start_line.path
    path, _, query = uri.partition("?")
    plain = None if host is None else PLAIN_HOST.fullmatch(host)
    if host is None or plain is None or "%" in query or "+" in query or query.count("&") >= MAX_PLAIN_FIELDS:
        return HTTPServerRequest(connection=connection, start_line=start_line, headers=headers)
    request = HTTPServerRequest.__new__(HTTPServerRequest)
    request.method, request.uri, request.version = start_line
    request.headers = headers
    request.body = b""
    context = getattr(connection, "context", None)
    request.remote_ip = getattr(context, "remote_ip", None)
    request.protocol = getattr(context, "protocol", "http")
    request.host = host
    request.host_name = plain.group(1).lower()
    request.files = {}
    request.connection = connection
    request.server_connection = None
    request._start_time = time.time()
    request._finish_time = None
    request.path, request.query = path, query
    arguments: dict[str, list[bytes]] = {}
    if query:
        for field in query.split("&"):
            if field:
                name, _, value = field.partition("=")
                arguments.setdefault(name, []).append(value.encode("latin-1"))
    request.arguments = arguments
    request.query_arguments = {name: list(values) for name, values in arguments.items()}
    request.body_arguments = {}
    return request
