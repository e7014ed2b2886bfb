"""What a websocket handler keeps of its upgrade request (picloud/server/upgraded.py);
server/test_reader.py checks that hub sockets get it."""

from __future__ import annotations

import pytest
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

from picloud.server.upgraded import UpgradedRequest


def test_the_fields_still_read_are_kept_and_the_rest_is_refused_by_name():
    request = HTTPServerRequest(
        start_line=RequestStartLine("GET", "/subscribe?clientName=kitchen&apiKey=secret", "HTTP/1.1"),
        headers=HTTPHeaders({"Host": "pi.local:9000", "Sec-WebSocket-Key": "abc"}),
    )
    kept = UpgradedRequest(request)
    assert (kept.method, kept.path, kept.host) == ("GET", "/subscribe", "pi.local:9000")
    assert kept.query_arguments["clientName"] == [b"kitchen"]
    assert kept.connection is None and kept.body == b""
    with pytest.raises(AttributeError, match=r"request\.headers is released"):
        kept.headers  # noqa: B018
