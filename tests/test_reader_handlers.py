"""ReaderMixin with handlers other than the hub's: coroutine on_message,
handlers that raise, and on_close running exactly once."""

from __future__ import annotations

import asyncio
import struct

import pytest
from tornado.web import Application
from tornado.websocket import WebSocketHandler

from picloud.server.reader import ReaderMixin, ReaderProtocol
from picloud.wire.frameparser import CLOSE, TEXT

from .test_reader import RawClient
from .test_wsparse import frame

events: list = []


class SlowEcho(ReaderMixin, WebSocketHandler):
    """Echoes after yielding to the loop, so later messages must wait."""

    async def on_message(self, message):
        assert type(self.ws_connection) is ReaderProtocol
        events.append(("start", message))
        await asyncio.sleep(0.001 if message == "first" else 0)
        events.append(("end", message))
        await self.write_message(message)

    def on_close(self):
        events.append(("close", self.close_code))


class Boom(ReaderMixin, WebSocketHandler):
    def on_message(self, message):
        raise RuntimeError(f"boom {message}")

    def on_close(self):
        events.append(("close", self.close_code))


class KeepsRequest(ReaderMixin, WebSocketHandler):
    def on_message(self, message):
        request = self.request
        self.write_message(f"{request.method} {request.path} {request.query_arguments}")
        try:
            request.headers  # noqa: B018
        except AttributeError as exc:
            self.write_message(str(exc))


@pytest.fixture
def app():
    events.clear()
    return Application([("/echo", SlowEcho), ("/boom", Boom), ("/request", KeepsRequest)])


@pytest.mark.gen_test
async def test_coroutine_on_message_keeps_order(http_server, base_url):
    raw = await RawClient.connect(base_url, "/echo")
    await raw.send(frame(TEXT, b"first") + frame(TEXT, b"second") + frame(TEXT, b"third"))
    replies = [await raw.read_frame() for _ in range(3)]
    assert replies == [(TEXT, b"first"), (TEXT, b"second"), (TEXT, b"third")]
    assert [e for e in events if e[0] != "close"] == [
        ("start", "first"), ("end", "first"),
        ("start", "second"), ("end", "second"),
        ("start", "third"), ("end", "third"),
    ]


@pytest.mark.gen_test
async def test_on_close_runs_once_after_the_close_handshake(http_server, base_url):
    raw = await RawClient.connect(base_url, "/echo")
    await raw.send(frame(CLOSE, struct.pack("!H", 4000)))
    assert await raw.read_frame() == (CLOSE, struct.pack("!H", 4000))
    assert await raw.closed_by_server()
    # on_close ran in the same callback that closed the socket.
    assert events == [("close", 4000)]


@pytest.mark.gen_test
async def test_a_raising_handler_is_aborted_and_closed_once(http_server, base_url):
    raw = await RawClient.connect(base_url, "/boom")
    await raw.send(frame(TEXT, b"x") + frame(TEXT, b"y"))
    assert await raw.closed_by_server()
    assert events == [("close", None)]


@pytest.mark.gen_test
async def test_request_keeps_what_handlers_read_after_open(http_server, base_url):
    raw = await RawClient.connect(base_url, "/request?clientName=a")
    await raw.send(frame(TEXT, b"hi"))
    assert await raw.read_frame() == (TEXT, b"GET /request {'clientName': [b'a']}")
    opcode, text = await raw.read_frame()
    assert opcode == TEXT
    assert b"released after the websocket upgrade" in text
