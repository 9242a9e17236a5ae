"""In-memory twins of the transports: drive a daemon's method table without a socket.

``DaemonHarness`` builds a ``Daemon`` whose handlers run in-process; the
transports hand requests straight to it. Used by unit tests of handlers,
clients and the dashboard; the real socket is tested end to end elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

from treerag.daemon.methods import RequestContext
from treerag.errors import TreeragError
from treerag.protocol import ErrorReply, Response, parse_request

__all__ = ["AsyncMemoryTransport", "FakeConnection", "MemoryTransport", "dispatch"]


class FakeConnection:
    """Stands in for ``server.Connection`` when a handler needs one.

    Events pushed to it are kept in ``pushed``, or handed to ``listener`` at once when there is one
    (the in-process CLI shows an index's progress while the call still runs)."""

    def __init__(self) -> None:
        self.topics: set[str] = set()
        self.pushed: list[Any] = []
        self.listener: Callable[[Any], None] | None = None

    def start_events(self, topics: set[str]) -> None:
        self.topics |= topics

    def push(self, event: Any) -> bool:
        if self.listener is not None:
            self.listener(event)
        else:
            self.pushed.append(event)
        return True


async def dispatch(daemon: Any, message: dict[str, Any], connection: Any = None) -> dict[str, Any]:
    """Run one request against ``daemon``'s method table and return the reply as a wire dict."""
    rid = message.get("id")
    try:
        request = parse_request(message)
        spec = daemon.methods.get(request.method)
        ctx = RequestContext(daemon, connection or FakeConnection(), request.method)
        return Response(rid, await spec.handler(ctx, request.params)).to_wire()
    except TreeragError as exc:
        return ErrorReply(rid, exc.code, str(exc)).to_wire()


class MemoryTransport:
    """Sync transport: each request is run to completion in a private event loop."""

    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon
        self.connection = FakeConnection()
        self._replies: list[dict[str, Any]] = []

    def stream_events(self, callback: Callable[[Any], None]) -> None:
        """Hand each event to ``callback`` as it is pushed, while the request that caused it still runs
        (``send`` returns only when the request is done, too late for a progress bar)."""
        self.connection.listener = callback

    def send(self, message: dict[str, Any]) -> None:
        self._replies.append(anyio.run(dispatch, self.daemon, message, self.connection))

    def receive(self) -> Any:
        return self._replies.pop(0)

    def close(self) -> None:
        pass


class AsyncMemoryTransport:
    """Async transport over memory streams; ``script`` answers each request (a daemon or a function)."""

    def __init__(self, answer: Any) -> None:
        self._answer = answer
        self._send, self._receive = anyio.create_memory_object_stream[Any](256)

    async def send(self, message: dict[str, Any]) -> None:
        if callable(self._answer):
            reply = self._answer(message)
            if hasattr(reply, "__await__"):
                reply = await reply
        else:
            reply = await dispatch(self._answer, message)
        await self._send.send(reply)

    async def push(self, wire: dict[str, Any]) -> None:
        """Inject a server push (``{"event": ..., "data": ...}``)."""
        await self._send.send(wire)

    async def receive(self) -> Any:
        try:
            return await self._receive.receive()
        except anyio.EndOfStream:
            from treerag.errors import ProtocolError

            raise ProtocolError("memory transport closed") from None

    async def aclose(self) -> None:
        self._send.close()
