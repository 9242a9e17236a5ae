"""The wire protocol: message records, both framings, limits and error codes.

One Unix socket speaks two framings, chosen by the first byte a client sends
(DESIGN §6):

* **msgpack** — each frame is a 4-byte big-endian length, then a msgpack map.
  treerag's own clients use it.
* **JSON lines** — one JSON object per line, for shell tools
  (``echo '{"method":"ping"}' | nc -U SOCK``).

Shapes are the same in both::

    request   {"id": int | None, "method": str, "params": map}
    response  {"id": int | None, "result": any}
    error     {"id": int | None, "error": {"code": str, "message": str}}
    event     {"event": str, "data": any}            (subscription push)

The decoders here are sans-IO: they are fed bytes and hand back messages, so
the server, the clients and the tests share them. Nothing else in treerag
packs or unpacks bytes for the socket.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

from treerag.errors import FrameTooLarge, InvalidParams, ProtocolError

__all__ = [
    "DEFAULT_FRAME_LIMIT",
    "JSONL",
    "MSGPACK",
    "ErrorReply",
    "Event",
    "JsonLineDecoder",
    "MsgpackDecoder",
    "Request",
    "Response",
    "decoder_for",
    "encode",
    "framing_for_first_byte",
    "parse_reply",
    "parse_request",
]

DEFAULT_FRAME_LIMIT = 1 << 20  # 1 MiB
MSGPACK = "msgpack"
JSONL = "jsonl"

_LENGTH = struct.Struct(">I")
_JSON_FIRST_BYTES = frozenset(b"{[ \t\r\n")

_msgpack: Any = None


def _mp() -> Any:
    """msgpack, imported on first use so JSON-only callers (the hook fast path) never load it."""
    global _msgpack
    if _msgpack is None:
        import msgpack

        _msgpack = msgpack
    return _msgpack


@dataclass(slots=True)
class Request:
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    id: int | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "method": self.method, "params": self.params}


@dataclass(slots=True)
class Response:
    id: int | None
    result: Any

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "result": self.result}


@dataclass(slots=True)
class ErrorReply:
    id: int | None
    code: str
    message: str

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "error": {"code": self.code, "message": self.message}}


@dataclass(slots=True)
class Event:
    event: str
    data: Any

    def to_wire(self) -> dict[str, Any]:
        return {"event": self.event, "data": self.data}


Message = Request | Response | ErrorReply | Event


def framing_for_first_byte(first: int) -> str:
    """JSON text starts with ``{`` (or whitespace); a msgpack length prefix never does below 2 GiB."""
    return JSONL if first in _JSON_FIRST_BYTES else MSGPACK


def encode(message: Message | dict[str, Any], framing: str) -> bytes:
    """Serialise one message for the given framing."""
    wire = message if isinstance(message, dict) else message.to_wire()
    if framing == MSGPACK:
        body = _mp().packb(wire, use_bin_type=True, default=_default)
        return _LENGTH.pack(len(body)) + body
    return json.dumps(wire, separators=(",", ":"), ensure_ascii=False, default=_default).encode() + b"\n"


def _default(obj: Any) -> Any:
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if hasattr(obj, "__fspath__"):
        return str(obj)
    raise TypeError(f"cannot encode {type(obj).__name__}")


class MsgpackDecoder:
    """Incremental decoder for length-prefixed msgpack frames."""

    framing = MSGPACK

    def __init__(self, limit: int = DEFAULT_FRAME_LIMIT) -> None:
        self.limit = limit
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        """Add bytes; return every complete message. Raises ProtocolError on a bad frame."""
        self._buf += data
        out = []
        while len(self._buf) >= 4:
            (size,) = _LENGTH.unpack_from(self._buf)
            if size > self.limit:
                raise FrameTooLarge(size, self.limit)
            if len(self._buf) < 4 + size:
                break
            body = bytes(self._buf[4 : 4 + size])
            del self._buf[: 4 + size]
            try:
                out.append(_mp().unpackb(body, raw=False, strict_map_key=False))
            except Exception as exc:
                raise ProtocolError(f"malformed msgpack frame: {exc}") from exc
        return out

    @property
    def pending(self) -> int:
        return len(self._buf)


class JsonLineDecoder:
    """Incremental decoder for newline-delimited JSON."""

    framing = JSONL

    def __init__(self, limit: int = DEFAULT_FRAME_LIMIT) -> None:
        self.limit = limit
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        self._buf += data
        out = []
        while True:
            end = self._buf.find(b"\n")
            if end < 0:
                if len(self._buf) > self.limit:
                    raise FrameTooLarge(len(self._buf), self.limit)
                break
            if end > self.limit:
                raise FrameTooLarge(end, self.limit)
            line = bytes(self._buf[:end]).strip()
            del self._buf[: end + 1]
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except ValueError as exc:
                raise ProtocolError(f"malformed JSON line: {exc}") from exc
        return out

    @property
    def pending(self) -> int:
        return len(self._buf)


def decoder_for(framing: str, limit: int = DEFAULT_FRAME_LIMIT) -> MsgpackDecoder | JsonLineDecoder:
    return MsgpackDecoder(limit) if framing == MSGPACK else JsonLineDecoder(limit)


def parse_request(obj: Any) -> Request:
    """Validate a decoded object as a request. Raises InvalidParams naming what is wrong."""
    if not isinstance(obj, dict):
        raise InvalidParams(f"a request must be a map, not {type(obj).__name__}")
    rid = obj.get("id")
    if rid is not None and (not isinstance(rid, int) or isinstance(rid, bool)):
        raise InvalidParams("'id' must be an integer")
    method = obj.get("method")
    if not isinstance(method, str) or not method:
        raise InvalidParams("'method' must be a non-empty string")
    params = obj.get("params")
    if params is None:
        params = {}
    elif not isinstance(params, dict):
        raise InvalidParams("'params' must be a map")
    return Request(method=method, params=params, id=rid)


def parse_reply(obj: Any) -> Response | ErrorReply | Event:
    """Validate a decoded object as something the server sends."""
    if not isinstance(obj, dict):
        raise ProtocolError(f"a reply must be a map, not {type(obj).__name__}")
    if "event" in obj:
        return Event(event=str(obj["event"]), data=obj.get("data"))
    if "error" in obj:
        err = obj["error"] if isinstance(obj["error"], dict) else {}
        return ErrorReply(obj.get("id"), str(err.get("code", "internal")), str(err.get("message", "")))
    if "result" in obj:
        return Response(obj.get("id"), obj["result"])
    raise ProtocolError("a reply needs 'result', 'error' or 'event'")
