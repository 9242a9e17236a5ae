"""The socket server: accept loop, peer check, framing detection, per-connection dispatch.

Each connection is handled by one ``Connection``: it checks the peer's uid
(SO_PEERCRED), picks the framing from the first byte, decodes requests, runs
the handler from the method table and writes the reply. A malformed frame
gets an error reply and the connection is closed (the stream cannot be
resynchronised); a well-framed but invalid request, or an unknown method,
gets an error reply and the connection stays open. A connection that sends
nothing for ``read_timeout`` seconds is closed, unless it is subscribed.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import struct
import time
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import SocketAttribute, TaskGroup

from treerag.daemon.methods import RequestContext
from treerag.errors import OutOfResources, PermissionDenied, ProtocolError, TooManyConnections, TreeragError
from treerag.protocol import ErrorReply, Event, Response, decoder_for, encode, framing_for_first_byte, parse_request

if TYPE_CHECKING:
    from anyio.abc import Listener, SocketStream
    from anyio.streams.memory import MemoryObjectSendStream

    from treerag.daemon.app import Daemon
    from treerag.protocol import Request

__all__ = ["Connection", "peer_uid", "serve_listener"]

logger = logging.getLogger(__name__)

_PEERCRED = struct.Struct("3i")  # pid, uid, gid
_OUT_OF_FDS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, ConnectionError)
_RECV_SIZE = 65536
_EVENT_QUEUE = 64  # events buffered per subscriber before the oldest are dropped


def _client_went_away(exc: BaseException) -> bool:
    """A client that hung up, even one seen by the event pump inside the task group, is no failure to log."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_client_went_away(leaf) for leaf in exc.exceptions)
    return isinstance(exc, _GONE)


def peer_uid(sock: socket.socket) -> tuple[int, int]:
    """Return (pid, uid) of the process at the other end of a Unix socket."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    pid, uid, _gid = _PEERCRED.unpack(raw)
    return pid, uid


async def serve_listener(daemon: Daemon, listener: Listener[SocketStream], tg: TaskGroup) -> None:
    """Accept until the listener is closed. Out of file descriptors, refuse the waiting clients with a
    clear error (using a descriptor kept in reserve for that) and back off until some are free."""
    backoff = 0.05
    spare = _Spare()
    try:
        while True:
            try:
                stream = await listener.accept()
            except anyio.ClosedResourceError:
                return  # the daemon closed the listener: it is shutting down (or parking)
            except (anyio.BrokenResourceError, OSError) as exc:
                if not _out_of_descriptors(daemon, listener, spare, exc):
                    return
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            backoff = 0.05
            daemon.stats.connections_open += 1  # counted before the task runs: parking must see it at once
            daemon.stats.connections_total += 1
            tg.start_soon(Connection(daemon, stream).run)
    finally:
        spare.close()


def _out_of_descriptors(daemon: Daemon, listener: Listener[SocketStream], spare: _Spare, exc: Exception) -> bool:
    """Handle a failed accept: True when it ran out of descriptors (waiting clients refused, keep
    accepting); False when the listener itself broke (the daemon stops, so clients start a fresh one)."""
    cause = exc.__cause__ if isinstance(exc, anyio.BrokenResourceError) else exc
    if not (isinstance(cause, OSError) and cause.errno in _OUT_OF_FDS):
        logger.error("the listening socket failed (%s); stopping so that the next client starts a fresh daemon",
                     cause or exc, extra={"reason": "listener_failed"})
        daemon.request_shutdown()
        return False
    daemon.stats.refused_busy += spare.refuse_waiting(listener)
    daemon.stats.out_of_fds += 1
    if daemon.stats.out_of_fds in (1, 10, 100, 1000) or daemon.stats.out_of_fds % 10_000 == 0:
        logger.warning("out of file descriptors (%s, %d open connections): refusing new clients with "
                       "out_of_resources until some close; raise `ulimit -n` for the daemon, or lower "
                       "daemon.max_connections", cause.strerror, daemon.stats.connections_open,
                       extra={"reason": "out_of_fds"})
    return True


def _out_of_resources(exc: BaseException) -> str:
    """"file descriptors" or "threads" when that is what ``exc`` ran out of, else ""."""
    for err in (exc, exc.__cause__, exc.__context__):
        if isinstance(err, OSError) and err.errno in (errno.EMFILE, errno.ENFILE):
            return "file descriptors"
        if isinstance(err, RuntimeError) and "can't start new thread" in str(err):
            return "threads"
    return ""


class _Spare:
    """One descriptor held in reserve: freed, it lets us accept a client only to tell it why we cannot serve it."""

    def __init__(self) -> None:
        self.fd = self._open()

    @staticmethod
    def _open() -> int:
        try:
            return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return -1

    def refuse_waiting(self, listener: Listener[SocketStream]) -> int:
        """Accept, answer and close the clients waiting now; return how many."""
        if self.fd < 0:
            self.fd = self._open()
            return 0
        os.close(self.fd)
        refused = 0
        raw = listener.extra(SocketAttribute.raw_socket)
        err = OutOfResources("the treerag daemon is out of file descriptors; it serves its open connections and "
                             "takes new ones as those close (raise `ulimit -n` for it)")
        payload = encode(ErrorReply(None, err.code, str(err)), "jsonl")
        try:
            while refused < 64:
                conn, _ = raw.accept()
                with conn:
                    try:
                        conn.send(payload, socket.MSG_DONTWAIT)
                    except OSError:
                        pass
                refused += 1
        except OSError:  # BlockingIOError: nobody else waits; EMFILE: the spare went to something else
            pass
        self.fd = self._open()
        return refused

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Connection:
    """One client connection, from the peer check to the last reply."""

    def __init__(self, daemon: Daemon, stream: SocketStream) -> None:
        self.daemon = daemon
        self.stream = stream
        self.framing = ""
        self.peer_pid = 0
        self.topics: set[str] = set()
        self._send_lock = anyio.Lock()
        self._events: MemoryObjectSendStream[Event] | None = None
        self._tg: TaskGroup | None = None
        self.closed = False

    # -- lifecycle -----------------------------------------------------------------

    async def run(self) -> None:
        stats = self.daemon.stats
        try:
            if not self._peer_allowed():
                await self._refuse()
                return
            if stats.connections_open > self.daemon.config.max_connections:
                await self._refuse_busy()
                return
            async with anyio.create_task_group() as tg:
                self._tg = tg
                try:
                    await self._read_loop()
                finally:
                    self._stop_events()
        except Exception as exc:
            if not _client_went_away(exc):
                logger.exception("connection handler failed")
        finally:
            self.closed = True
            stats.connections_open -= 1
            self.daemon.broadcast.unsubscribe(self)
            self.daemon.note_activity()
            await self.stream.aclose()

    def _peer_allowed(self) -> bool:
        sock = self.stream.extra(SocketAttribute.raw_socket)
        try:
            self.peer_pid, uid = peer_uid(sock)
        except OSError:
            return False
        if uid == os.getuid():
            return True
        logger.warning("refused connection from uid %d (pid %d): this daemon serves only uid %d; that user must "
                       "run their own (`treerag serve --headless --detach`)", uid, self.peer_pid, os.getuid(),
                       extra={"reason": "foreign_uid"})
        self.daemon.stats.refused += 1
        return False

    async def _refuse_busy(self) -> None:
        limit = self.daemon.config.max_connections
        self.daemon.stats.refused_busy += 1
        if self.daemon.stats.refused_busy in (1, 10, 100, 1000) or self.daemon.stats.refused_busy % 10_000 == 0:
            logger.warning("refused a connection: %d already open (daemon.max_connections); %d refused so far",
                           limit, self.daemon.stats.refused_busy, extra={"reason": "too_many_connections"})
        err = TooManyConnections(f"the daemon already has {limit} connections open (daemon.max_connections); "
                                 "try again")
        with anyio.move_on_after(1):
            await self.stream.send(encode(ErrorReply(None, err.code, str(err)), "jsonl"))

    async def _refuse(self) -> None:
        err = PermissionDenied("this treerag daemon serves only its own user")
        with anyio.move_on_after(1):
            await self.stream.send(encode(ErrorReply(None, err.code, str(err)), "jsonl"))

    # -- reading -------------------------------------------------------------------

    async def _read_loop(self) -> None:
        config = self.daemon.config
        read_timeout = config.read_timeout_s
        decoder = None
        while True:
            data = b""
            deadline = float("inf") if self.topics else read_timeout
            with anyio.move_on_after(deadline):
                try:
                    data = await self.stream.receive(_RECV_SIZE)
                except anyio.EndOfStream:
                    return
            if not data:
                if decoder is not None and decoder.pending:
                    logger.info("closing connection with a partial frame after %.0fs of silence", read_timeout)
                self.daemon.stats.timeouts += 1
                return
            if decoder is None:
                self.framing = framing_for_first_byte(data[0])
                decoder = decoder_for(self.framing, config.frame_limit_bytes)
            try:
                messages = decoder.feed(data)
            except ProtocolError as exc:
                self.daemon.stats.protocol_errors += 1
                logger.info("closing connection: %s", exc)
                await self.send(ErrorReply(None, exc.code, str(exc)))
                return
            for obj in messages:
                await self._handle(obj)

    async def _handle(self, obj: Any) -> None:
        try:
            request = parse_request(obj)
        except TreeragError as exc:
            self.daemon.stats.protocol_errors += 1
            rid = obj.get("id") if isinstance(obj, dict) and type(obj.get("id")) is int else None
            await self.send(ErrorReply(rid, exc.code, str(exc)))
            return
        try:
            spec = self.daemon.methods.get(request.method)
        except TreeragError as exc:
            self.daemon.stats.errors += 1
            await self.send(ErrorReply(request.id, exc.code, str(exc)))
            return
        if spec.inline:
            await self._dispatch(spec.handler, request)
        else:
            assert self._tg is not None
            self._tg.start_soon(self._dispatch, spec.handler, request)

    async def _dispatch(self, handler: Any, request: Request) -> None:
        daemon = self.daemon
        started = time.perf_counter()
        daemon.stats.in_flight += 1
        daemon.drained = anyio.Event() if daemon.drained.is_set() else daemon.drained
        try:
            result = await handler(RequestContext(daemon, self, request.method), request.params)
            reply: Response | ErrorReply = Response(request.id, result)
        except TreeragError as exc:
            daemon.stats.errors += 1
            reply = ErrorReply(request.id, exc.code, str(exc))
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as exc:
            daemon.stats.errors += 1
            short = _out_of_resources(exc)
            if short:
                logger.warning("method %s failed: out of %s (%s)", request.method, short, exc,
                               extra={"reason": "out_of_resources"})
                reply = ErrorReply(request.id, OutOfResources.code, f"{request.method}: the daemon is out of "
                                   f"{short} right now ({exc}); try again when fewer clients are connected")
            else:
                logger.exception("method %s failed", request.method)
                reply = ErrorReply(request.id, "internal", f"internal error in {request.method}; see the daemon log")
        finally:
            daemon.stats.in_flight -= 1
            if daemon.stats.in_flight == 0:
                daemon.drained.set()
        daemon.stats.requests += 1
        daemon.latency.record(request.method, time.perf_counter() - started)
        await self.send(reply)

    # -- writing -------------------------------------------------------------------

    async def send(self, message: Response | ErrorReply | Event) -> None:
        payload = encode(message, self.framing or "jsonl")
        async with self._send_lock:
            await self.stream.send(payload)

    def start_events(self, topics: set[str]) -> None:
        """Begin pushing events on this connection; called by the subscribe method."""
        self.topics |= topics
        if self._events is not None or self._tg is None:
            return
        send, receive = anyio.create_memory_object_stream[Event](_EVENT_QUEUE)
        self._events = send

        async def pump() -> None:
            async with receive:
                async for event in receive:
                    await self.send(event)

        self._tg.start_soon(pump)

    def push(self, event: Event) -> bool:
        """Queue an event without waiting; a full queue drops it (a slow reader never stalls the daemon)."""
        if self._events is None:
            return False
        try:
            self._events.send_nowait(event)
        except anyio.WouldBlock:
            self.daemon.stats.events_dropped += 1
            return False
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        return True

    def _stop_events(self) -> None:
        if self._events is not None:
            self._events.close()
            self._events = None
