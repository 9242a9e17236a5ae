"""Protocol codecs: round trips, incremental feeding, limits, request validation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from treerag.errors import FrameTooLarge, InvalidParams, ProtocolError
from treerag.protocol import (
    JSONL,
    MSGPACK,
    ErrorReply,
    Event,
    Request,
    Response,
    decoder_for,
    encode,
    framing_for_first_byte,
    parse_reply,
    parse_request,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)


@given(method=st.text(min_size=1, max_size=30), params=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
       rid=st.integers(0, 2**31), framing=st.sampled_from([MSGPACK, JSONL]))
@settings(max_examples=200, deadline=None)
def test_request_round_trip(method, params, rid, framing):
    data = encode(Request(method, params, rid), framing)
    assert framing_for_first_byte(data[0]) == framing
    (decoded,) = decoder_for(framing).feed(data)
    assert parse_request(decoded) == Request(method, params, rid)


@given(result=json_values, framing=st.sampled_from([MSGPACK, JSONL]), chunk=st.integers(1, 7))
@settings(max_examples=200, deadline=None)
def test_reply_round_trip_fed_in_pieces(result, framing, chunk):
    messages = [Response(1, result), ErrorReply(2, "invalid_params", "bad"), Event("metrics", {"x": result})]
    data = b"".join(encode(m, framing) for m in messages)
    decoder = decoder_for(framing)
    out = []
    for i in range(0, len(data), chunk):
        out.extend(decoder.feed(data[i : i + chunk]))
    assert [parse_reply(o) for o in out] == messages
    assert decoder.pending == 0


@pytest.mark.parametrize("framing", [MSGPACK, JSONL])
def test_frame_over_limit(framing):
    decoder = decoder_for(framing, limit=100)
    with pytest.raises(FrameTooLarge):
        decoder.feed(encode(Request("ping", {"x": "a" * 200}, 1), framing))


def test_huge_length_prefix_is_refused_before_buffering():
    decoder = decoder_for(MSGPACK)
    with pytest.raises(FrameTooLarge) as info:
        decoder.feed(b"\x80\x00\x00\x00")
    assert info.value.size == 2**31


def test_jsonl_partial_line_over_limit():
    decoder = decoder_for(JSONL, limit=10)
    with pytest.raises(FrameTooLarge):
        decoder.feed(b'{"method": "' + b"x" * 50)


@pytest.mark.parametrize("data", [
    pytest.param(b"\x00\x00\x00\x02\xc1\xc1", id="msgpack-reserved-byte"),
    pytest.param(b"{oops}\n", id="json-syntax"),
])
def test_malformed(data):
    with pytest.raises(ProtocolError):
        decoder_for(framing_for_first_byte(data[0])).feed(data)


@pytest.mark.parametrize(("obj", "why"), [
    pytest.param([1], "map", id="list"),
    pytest.param({"method": ""}, "method", id="empty-method"),
    pytest.param({"method": "ping", "id": True}, "id", id="bool-id"),
    pytest.param({"method": "ping", "id": "7"}, "id", id="string-id"),
    pytest.param({"method": "ping", "params": "x"}, "params", id="params-string"),
])
def test_invalid_requests(obj, why):
    with pytest.raises(InvalidParams, match=why):
        parse_request(obj)


def test_missing_params_and_id_default():
    assert parse_request({"method": "ping"}) == Request("ping", {}, None)


def test_parse_reply_rejects_shapeless():
    with pytest.raises(ProtocolError):
        parse_reply({"id": 1})
