"""The synchronous client: one request, one reply, over a blocking transport."""

from __future__ import annotations

import socket
from collections.abc import Callable
from itertools import count
from pathlib import Path
from typing import Any, Protocol

from treerag.errors import DaemonNotRunning, ProtocolError, Timeout, error_from_code
from treerag.protocol import MSGPACK, ErrorReply, Event, MsgpackDecoder, Request, encode, parse_reply

__all__ = ["Client", "SyncTransport", "UnixTransport", "connect"]


class SyncTransport(Protocol):
    def send(self, message: dict[str, Any]) -> None: ...
    def receive(self) -> Any: ...
    def close(self) -> None: ...


class UnixTransport:
    """Length-prefixed msgpack over a blocking Unix socket, with a timeout on every call."""

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.path = path
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            sock.close()
            raise DaemonNotRunning(str(path)) from exc
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._decoder = MsgpackDecoder(limit=64 << 20)  # replies (trees, status) may exceed the request limit
        self._ready: list[Any] = []

    def send(self, message: dict[str, Any]) -> None:
        self._sock.sendall(encode(message, MSGPACK))

    def receive(self) -> Any:
        while not self._ready:
            try:
                data = self._sock.recv(65536)
            except TimeoutError as exc:
                raise Timeout(f"no reply from the daemon at {self.path} in {self._sock.gettimeout()}s") from exc
            if not data:
                raise ProtocolError("the daemon closed the connection")
            self._ready.extend(self._decoder.feed(data))
        return self._ready.pop(0)

    def settimeout(self, timeout: float | None) -> None:
        self._sock.settimeout(timeout)

    def close(self) -> None:
        self._sock.close()


class Client:
    """Call daemon methods; server errors come back as the matching ``TreeragError``."""

    def __init__(self, transport: SyncTransport) -> None:
        self.transport = transport
        self._ids = count(1)
        self.events: list[Event] = []
        self.on_event: Callable[[Event], None] | None = None

    def call(self, method: str, **params: Any) -> Any:
        rid = next(self._ids)
        self.transport.send(Request(method, params, rid).to_wire())
        while True:
            reply = parse_reply(self.transport.receive())
            if isinstance(reply, Event):
                if self.on_event is not None:
                    self.on_event(reply)
                else:
                    self.events.append(reply)
                continue
            if reply.id != rid:
                continue
            if isinstance(reply, ErrorReply):
                raise error_from_code(reply.code, reply.message)
            return reply.result

    def next_event(self) -> Event:
        """Block until the next pushed event (after ``subscribe``)."""
        if self.events:
            return self.events.pop(0)
        reply = parse_reply(self.transport.receive())
        if not isinstance(reply, Event):
            raise ProtocolError(f"expected an event, got {reply!r}")
        return reply

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(path: Path, timeout: float = 10.0) -> Client:
    """Connect to the daemon at ``path``; raises DaemonNotRunning when nobody listens."""
    return Client(UnixTransport(path, timeout))
