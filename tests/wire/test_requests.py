"""What clients send (picloud/wire/requests.py): subscribe requests and
publications, one or a batch, parsed and validated."""

from __future__ import annotations

import pytest

from picloud.exceptions import ProtocolError
from picloud.wire.requests import Publication, SubscribeRequest, parse_publications, parse_subscribe_request


def test_subscriber_frames():
    assert parse_subscribe_request('{"action": "subscribe", "event": "t"}') == SubscribeRequest("subscribe", "t")
    assert parse_subscribe_request(b'{"action": "unsubscribe", "event": "t"}') == SubscribeRequest("unsubscribe", "t")
    assert parse_subscribe_request('{"action": "unsubscribe:all"}') == SubscribeRequest("unsubscribe:all")


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("not json", "invalid json"),
        ("[1, 2]", "frame must be a json object, not an array"),
        ('"subscribe"', "frame must be a json object, not a string"),
        ('{"event": "t"}', "missing 'action'"),
        ('{"action": "dance", "event": "t"}', "unknown action 'dance'"),
        ('{"action": 5, "event": "t"}', "unknown action 5"),
        ('{"action": "subscribe"}', "missing 'event'"),
        ('{"action": "subscribe", "event": ""}', "'event' must not be empty"),
        ('{"action": "subscribe", "event": 7}', "'event' must be a string, not int"),
        ('{"action": ["subscribe"], "event": "t"}', "unknown action ['subscribe']"),
    ],
)
def test_bad_subscriber_frames(frame, error):
    with pytest.raises(ProtocolError) as info:
        parse_subscribe_request(frame)
    assert str(info.value).startswith(error)


def test_publish_body_single_and_batch():
    assert parse_publications('{"event": "t", "data": 1}') == [Publication("t", 1)]
    assert parse_publications('{"event": "t"}') == [Publication("t", None)]
    assert parse_publications('{"action": "publish", "event": "t", "data": [1]}') == [Publication("t", [1])]
    batch = '[{"event": "a", "data": 1}, {"event": "b", "data": {"x": "y"}}]'
    assert parse_publications(batch) == [Publication("a", 1), Publication("b", {"x": "y"})]


@pytest.mark.parametrize(
    ("body", "error", "index"),
    [
        ("{", "invalid json", None),
        ("12", "message must be a json object, not a number", None),
        ('{"data": 1}', "missing 'event'", None),
        ('{"action": "subscribe", "event": "t"}', "unknown action 'subscribe'", None),
        ("[]", "batch must not be empty", None),
        ('[{"event": "a"}, {"event": ""}]', "batch element 1: 'event' must not be empty", 1),
        ('[{"event": "a"}, null]', "batch element 1: message must be a json object, not null", 1),
    ],
)
def test_bad_publish_bodies(body, error, index):
    with pytest.raises(ProtocolError) as info:
        parse_publications(body)
    assert str(info.value).startswith(error)
    assert info.value.index == index


@pytest.mark.parametrize("frame", ['{"action": ["subscribe"]}', '{"action": {"a": 1}}'])
def test_unhashable_action_is_a_protocol_error(frame):
    with pytest.raises(ProtocolError, match="unknown action"):
        parse_subscribe_request(frame)


@pytest.mark.parametrize("frame", [
    '{"action": "subscribe", "event": "\\ud800"}',
    '{"action": "unsubscribe", "event": "a/\\udc00"}',
    '{"action": "subscribe", "event": "t", "id": "\\ud800"}',
])
def test_subscribe_requests_with_names_or_ids_that_are_not_text_are_refused(frame):
    with pytest.raises(ProtocolError, match="is not valid utf-8 text"):
        parse_subscribe_request(frame)


def test_publications_with_names_or_ids_that_are_not_text_are_refused():
    for body in ('{"event": "\\ud800", "data": 1}', '[{"event": "t"}, {"event": "t", "id": "\\udfff"}]'):
        with pytest.raises(ProtocolError, match="is not valid utf-8 text"):
            parse_publications(body)
