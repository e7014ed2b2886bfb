"""The plain upgrade request's parse and HTTPServerRequest
(picloud/server/plainrequest.py), held to Tornado's: the same headers as
``HTTPHeaders.parse``, the same attributes as ``HTTPServerRequest``'s
constructor sets (which pins them too), the same refusals."""

from __future__ import annotations

from typing import Any

import pytest
from tornado.httputil import HTTPHeaders, HTTPInputError, HTTPServerRequest

from picloud.server import plainrequest
from picloud.server.plainrequest import build_request
from tests.server.test_direct import REQUEST

PARSED = [
    REQUEST,
    REQUEST.replace("Upgrade: websocket", "upgrade:\twebsocket \t"),
    REQUEST.replace("Host: 127.0.0.1\r\n", "Host: 127.0.0.1\r\nX-Empty:\r\nX-Twice: 1\r\nx-twice: 2\r\n"),
    REQUEST.replace("Host: 127.0.0.1\r\n", "Host: 127.0.0.1\r\nX-Spaces:  a  b \t\r\nX-Blank: \t \r\n"),
]


@pytest.mark.parametrize("request_text", PARSED)
def test_what_it_reads_is_what_tornado_reads(request_text):
    data = request_text.encode() + b"\x81\x80"  # a frame right behind it stays on the socket
    length, line, headers = plainrequest.parse(data)
    assert length == len(request_text)
    assert tuple(line) == ("GET", "/subscribe?clientName=a", "HTTP/1.1")
    tornados = HTTPHeaders.parse(request_text.split("\r\n", 1)[1][:-2])
    assert sorted(headers.get_all()) == sorted(tornados.get_all())


@pytest.mark.parametrize("request_text", [
    REQUEST[:-2],  # not whole yet
    REQUEST.replace("\r\n", "\n"),
    "\r\n" + REQUEST,
    REQUEST.replace("GET", "POST"),
    REQUEST.replace("HTTP/1.1", "HTTP/1.0"),
    REQUEST.replace("/subscribe?", "/subscribe/x?"),
    REQUEST.replace("/subscribe?", "/mqtt?"),
    REQUEST.replace("/subscribe?clientName=a", "/subscribe#a"),
    REQUEST.replace("Upgrade: websocket\r\n", "Upgrade: websocket\r\n folded\r\n"),
    REQUEST.replace("Upgrade: websocket", "Upgrade : websocket"),
    REQUEST.replace("Upgrade: websocket", "Upgrade websocket"),
    REQUEST.replace("Upgrade: websocket", "Upgrade: web\rsocket"),
    REQUEST.replace("clientName=a", "clientName=\xe9"),
    REQUEST.replace("X-API-Key", "X-API-Name: caf\xe9\r\nX-API-Key"),
])
def test_anything_else_is_left_to_tornado(request_text):
    assert plainrequest.parse(request_text.encode("latin-1")) is None


class Context:
    remote_ip = "192.0.2.7"
    protocol = "http"


class Connection:
    context = Context()


def attributes(request: HTTPServerRequest) -> dict[str, Any]:
    found = dict(vars(request))
    assert isinstance(found.pop("_start_time"), float)
    return found


def request_of(target: str, host: str) -> tuple[Any, Any]:
    text = REQUEST.replace("/subscribe?clientName=a", target).replace("Host: 127.0.0.1", f"Host: {host}")
    parsed = plainrequest.parse(text.encode("latin-1"))
    assert parsed is not None
    return parsed[1], parsed[2]


@pytest.mark.parametrize("target", [
    "/subscribe", "/subscribe?", "/publish?clientName=dev-1", "/info?apiKey=k&clientName=a",
    "/subscribe?a", "/subscribe?a=", "/subscribe?=x", "/subscribe?a=1&a=2&b=3", "/subscribe?&&a=1&",
    "/subscribe?a==b", "/subscribe?%41=%42", "/subscribe?a=b+c", "/subscribe?a=1#frag",
    "/subscribe?" + "&".join(f"k{i}=v" for i in range(40)),
])
@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8080", "Hub.Local:80", "pi", "[::1]:9000",
                                  "under_score", "host:"])
def test_the_request_has_what_tornado_gives_it(target, host):
    line, headers = request_of(target, host)
    connection = Connection()
    ours = build_request(connection, line, headers)
    tornados = HTTPServerRequest(connection=connection, start_line=line, headers=headers)
    assert type(ours) is HTTPServerRequest
    assert attributes(ours) == attributes(tornados)
    assert ours.query_arguments is not ours.arguments
    for name, values in ours.arguments.items():
        assert ours.query_arguments[name] is not values


@pytest.mark.parametrize("host", ["a@b", "a,b", "a b"])
def test_a_host_tornado_refuses_is_refused(host):
    line, headers = request_of("/subscribe?clientName=a", host)
    with pytest.raises(HTTPInputError):
        HTTPServerRequest(connection=Connection(), start_line=line, headers=headers)
    with pytest.raises(HTTPInputError):
        build_request(Connection(), line, headers)
