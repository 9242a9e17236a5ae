"""The async client for the dashboard: concurrent calls matched by id, pushed events on a stream."""

from __future__ import annotations

import logging
from itertools import count
from pathlib import Path
from typing import Any, Protocol

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from treerag.errors import DaemonNotRunning, ProtocolError, error_from_code
from treerag.protocol import MSGPACK, ErrorReply, Event, MsgpackDecoder, Request, Response, encode, parse_reply

__all__ = ["AsyncClient", "AsyncTransport", "AsyncUnixTransport"]

logger = logging.getLogger(__name__)


class AsyncTransport(Protocol):
    async def send(self, message: dict[str, Any]) -> None: ...
    async def receive(self) -> Any: ...
    async def aclose(self) -> None: ...


class AsyncUnixTransport:
    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._decoder = MsgpackDecoder(limit=64 << 20)
        self._ready: list[Any] = []

    @classmethod
    async def connect(cls, path: Path) -> AsyncUnixTransport:
        try:
            stream = await anyio.connect_unix(path)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise DaemonNotRunning(str(path)) from exc
        return cls(stream)

    async def send(self, message: dict[str, Any]) -> None:
        await self._stream.send(encode(message, MSGPACK))

    async def receive(self) -> Any:
        while not self._ready:
            try:
                data = await self._stream.receive(65536)
            except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError) as exc:
                raise ProtocolError("the daemon closed the connection") from exc
            self._ready.extend(self._decoder.feed(data))
        return self._ready.pop(0)

    async def aclose(self) -> None:
        await self._stream.aclose()


class AsyncClient:
    """Run ``await client.run()`` in a task (or use ``async with``); then ``call`` and read ``events``."""

    def __init__(self, transport: AsyncTransport) -> None:
        self.transport = transport
        self._ids = count(1)
        self._waiting: dict[int, MemoryObjectSendStream[Response | ErrorReply]] = {}
        send, receive = anyio.create_memory_object_stream[Event](256)
        self._event_send: MemoryObjectSendStream[Event] = send
        self.events: MemoryObjectReceiveStream[Event] = receive
        self.closed = anyio.Event()

    async def run(self) -> None:
        """Read replies until the connection ends; wakes every waiting caller with an error then."""
        try:
            while True:
                reply = parse_reply(await self.transport.receive())
                if isinstance(reply, Event):
                    try:
                        self._event_send.send_nowait(reply)
                    except anyio.WouldBlock:
                        logger.debug("dropping event %s: reader is behind", reply.event)
                    continue
                waiter = self._waiting.pop(reply.id, None) if reply.id is not None else None
                if waiter is not None:
                    waiter.send_nowait(reply)
        except ProtocolError:
            pass
        finally:
            self.closed.set()
            self._event_send.close()
            for waiter in self._waiting.values():
                waiter.close()
            self._waiting.clear()

    async def call(self, method: str, **params: Any) -> Any:
        if self.closed.is_set():
            raise ProtocolError("the connection to the daemon is closed")
        rid = next(self._ids)
        send, receive = anyio.create_memory_object_stream[Response | ErrorReply](1)
        self._waiting[rid] = send
        await self.transport.send(Request(method, params, rid).to_wire())
        try:
            reply = await receive.receive()
        except anyio.EndOfStream:
            raise ProtocolError("the daemon closed the connection") from None
        finally:
            receive.close()
        if isinstance(reply, ErrorReply):
            raise error_from_code(reply.code, reply.message)
        return reply.result

    async def aclose(self) -> None:
        await self.transport.aclose()
