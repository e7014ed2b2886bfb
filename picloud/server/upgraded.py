"""What a websocket handler keeps of its HTTP upgrade once it is open:
``ReaderProtocol`` calls ``release_upgrade_state`` right after ``open()``."""

from __future__ import annotations

from typing import Any


class UpgradedRequest:
    """What a websocket handler keeps of its HTTP request once it is open.

    The full ``HTTPServerRequest`` holds the parsed headers, the query, the
    HTTP/1 connection objects and their futures: about a third of an idle
    connection's memory, none of it needed after ``open()``.
    """

    __slots__ = ("arguments", "host", "method", "path", "protocol", "query",
                 "query_arguments", "remote_ip", "uri", "version")

    connection = None
    server_connection = None
    body = b""

    def __init__(self, request: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(request, name))

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"request.{name} is released after the websocket upgrade; read it in open()")


def release_upgrade_state(handler: Any) -> None:
    """Drop what a websocket handler no longer needs after ``open()``.

    Touches RequestHandler internals (``_headers``, ``_write_buffer``,
    ``_prepared_future``, ``_transforms``): all of them serve writing an HTTP
    response, which WebSocketHandler forbids once upgraded.
    """
    handler.request = UpgradedRequest(handler.request)
    handler._headers = None
    handler._write_buffer = None
    handler._prepared_future = None
    handler._transforms = None
    handler.ui = None
