"""The daemon object and its root task group.

``Daemon`` owns everything that lives as long as the process: settings, the
method table, metrics, subscriptions and the services later features add
(project manager, watcher, task queue). ``Daemon.run`` opens the listener,
starts the services and serves until asked to stop; on SIGTERM/SIGINT or the
``shutdown`` method it stops accepting, gives in-flight requests a grace
period, then cancels what is left and removes the socket and the pid file.

``run(may_park=True)`` (only ``python -m treerag.daemon`` asks) also watches
for idleness: after ``park_after_s`` with nothing to do it stops serving
without closing the socket and returns a ``Handover`` (see ``park.py``);
``run(inherited=...)`` is the other half, the wake-up.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskStatus

from treerag import __version__
from treerag.daemon.broadcast import Broadcaster
from treerag.daemon.lifecycle import InstanceLock, prepare_socket_dir, remove_stale_socket
from treerag.daemon.methods import MethodTable
from treerag.daemon.park import STOP_SIGNALS, Handover
from treerag.daemon.server import serve_listener
from treerag.errors import TreeragError
from treerag.metrics import LatencyTracker, MetricsRegistry

__all__ = ["Daemon", "DaemonSettings", "ServerStats"]

logger = logging.getLogger(__name__)

Service = Callable[["Daemon", TaskStatus[None]], Awaitable[None]]


@dataclass(slots=True, frozen=True)
class DaemonSettings:
    """The settings the server itself needs, taken from the resolved Config."""

    socket_path: Path
    read_timeout_s: float = 10.0
    frame_limit_bytes: int = 1 << 20
    max_connections: int = 256
    shutdown_grace_s: float = 5.0
    memory_limit_mb: int = 100
    park_after_s: float = 60.0  # idle seconds before a daemon that may park does; 0 = never


@dataclass(slots=True)
class ServerStats:
    connections_open: int = 0
    connections_total: int = 0
    requests: int = 0
    in_flight: int = 0
    errors: int = 0
    protocol_errors: int = 0
    timeouts: int = 0
    refused: int = 0
    refused_busy: int = 0  # connections past daemon.max_connections, or refused for want of descriptors
    out_of_fds: int = 0  # times accept() found no file descriptor left
    events_dropped: int = 0

    def statistics(self) -> dict[str, int]:
        return asdict(self)

    def restore(self, saved: dict[str, int]) -> None:
        """Take back the totals a parked predecessor counted (live gauges start at zero)."""
        for name, value in saved.items():
            if name not in ("connections_open", "in_flight") and hasattr(self, name) and isinstance(value, int):
                setattr(self, name, value)


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:  # type: ignore[type-arg]
    out: list[BaseException] = []
    for exc in group.exceptions:
        out += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return out


class Daemon:
    def __init__(self, config: DaemonSettings, *, full_config: Any = None) -> None:
        self.config = config
        self.full_config = full_config
        self.methods = MethodTable()
        self.metrics = MetricsRegistry()
        self.latency: LatencyTracker = self.metrics.latency
        self.stats = ServerStats()
        self.started_at = time.time()
        self.broadcast = Broadcaster(self.metrics_sample)
        self.services: list[Service] = []
        self.samplers: list[Callable[[], dict[str, Any]]] = []
        self._stop: anyio.Event | None = None
        self.drained: anyio.Event  # set whenever no request is in flight; created in _serve
        self._lock = InstanceLock(config.socket_path.with_suffix(".pid"))
        # parking: what forbids it now, what survives it, and the idle clock
        self.park_blockers: list[Callable[[], str | None]] = []
        self.carry: dict[str, tuple[Callable[[], Any], Callable[[Any], None]]] = {
            "server": (self.stats.statistics, self.stats.restore),
        }
        self.parks = 0
        self.parked_s = 0.0  # in total; last_park_s: the latest sleep
        self.last_park_s = 0.0
        self.last_activity = time.monotonic()
        self._nudge: anyio.Event | None = None
        self._ticket: Handover | None = None
        self._may_park = False
        self.signalled = False
        self._accepting: anyio.CancelScope | None = None
        self._accept_stopped: anyio.Event | None = None

        from treerag.daemon import core

        core.register(self)

    # -- extension points ---------------------------------------------------------

    def add_service(self, service: Service) -> None:
        """Run ``service(daemon, task_status)`` in the root task group; it must call task_status.started()."""
        self.services.append(service)

    def request_shutdown(self) -> None:
        if self._stop is not None:
            self._stop.set()

    def note_activity(self) -> None:
        """Restart the idle clock (a connection closed, a project went away): parking is re-timed."""
        self.last_activity = time.monotonic()
        if self._nudge is not None:
            self._nudge.set()

    def metrics_sample(self) -> dict[str, Any]:
        """One sample for the metrics stream and the ``metrics`` method."""
        from treerag.metrics import process_stats

        sample: dict[str, Any] = {
            "time": time.time(),
            "uptime_s": time.time() - self.started_at,
            "process": process_stats(),
            "server": self.stats.statistics(),
            "latency": self.latency.snapshot(),
            "memory_limit_mb": self.config.memory_limit_mb,
            "park": {"after_s": self.config.park_after_s if self._may_park else 0, "parks": self.parks,
                     "parked_s": round(self.parked_s, 1)},
        }
        for extra in self.samplers:
            sample.update(extra())
        return sample

    # -- running ------------------------------------------------------------------

    async def run(self, *, on_ready: Callable[[], None] | None = None, may_park: bool = False,
                  inherited: Handover | None = None) -> Handover | None:
        """Serve until SIGTERM/SIGINT or ``shutdown`` and clean up socket and pid file; or, with
        ``may_park``, until idle, and then return the ticket to park with (socket and lock kept)."""
        sock = self.config.socket_path
        if inherited is None:
            prepare_socket_dir(sock.parent)
            self._lock.acquire(sock)
        else:
            self._lock.adopt(inherited.lock_fd)
        bound = inherited is not None  # a woken daemon owns the socket file from the start
        ticket: Handover | None = None
        try:
            listener = await self._listen(inherited)
            bound = True
            try:
                ticket = await self._serve(listener, on_ready, may_park=may_park)
                if ticket is not None and self.signalled:  # told to stop while parking: stop
                    os.close(ticket.listen_fd)
                    self._lock.adopt(ticket.lock_fd)
                    ticket = None
            except BaseExceptionGroup as group:  # a service that failed to start: let its one error out
                leaves = _leaves(group)
                if len(leaves) == 1 and isinstance(leaves[0], Exception):
                    raise leaves[0] from None
                raise
        finally:
            if ticket is None:
                try:
                    if bound and sock.exists():
                        sock.unlink()
                finally:
                    self._lock.release()
                if bound:  # one that never listened logs "daemon not started: …" instead (__main__)
                    logger.info("daemon stopped")
        return ticket

    async def _listen(self, inherited: Handover | None) -> Any:
        """The listener: the parked predecessor's socket, or a new one born 0600."""
        sock = self.config.socket_path
        if inherited is not None:
            self._take_back(inherited.state, inherited.parked_s)
            try:
                raw = socket.socket(fileno=inherited.listen_fd)
                raw.setblocking(False)
                return await anyio.abc.SocketListener.from_socket(raw)
            except (OSError, ValueError) as exc:
                raise TreeragError(f"could not take back the parked daemon's socket (fd {inherited.listen_fd}): "
                                   f"{exc}") from exc
        remove_stale_socket(sock)
        old_umask = os.umask(0o177)  # the socket is born 0600: no window where others can connect
        try:
            listener = await anyio.create_unix_listener(sock)
        finally:
            os.umask(old_umask)
        os.chmod(sock, 0o600)
        return listener

    def _take_back(self, state: dict[str, Any], parked_s: float) -> None:
        """Restore what a parked predecessor counted (see ``carry``)."""
        self.last_park_s = parked_s
        self.parks = int(state.get("parks", 0)) + 1
        self.parked_s = float(state.get("parked_s", 0.0)) + parked_s
        self.started_at = float(state.get("started_at", self.started_at))
        for name, (_dump, load) in self.carry.items():
            if isinstance(state.get(name), dict):
                load(state[name])

    async def _serve(self, listener: Any, on_ready: Callable[[], None] | None, *,
                     may_park: bool) -> Handover | None:
        self._stop = anyio.Event()
        self.drained = anyio.Event()
        self.drained.set()
        self._may_park = may_park and self.config.park_after_s > 0
        async with anyio.create_task_group() as root:
            self.broadcast.attach(root)
            root.start_soon(self._watch_signals)
            async with anyio.create_task_group() as connections:
                await connections.start(self._accept, listener, connections)
                for service in self.services:
                    await root.start(service, self)
                if self.parks:
                    logger.info("daemon %s woke after %.1f s parked (pid %d, %d parks so far)", __version__,
                                self.last_park_s, os.getpid(), self.parks, extra={"reason": "unparked"})
                else:
                    logger.info("daemon %s listening on %s (pid %d)", __version__, self.config.socket_path,
                                os.getpid())
                if on_ready is not None:
                    on_ready()
                if self._may_park:
                    root.start_soon(self._park_when_idle, listener, connections)
                await self._stop.wait()
                if self._ticket is None:
                    logger.info("shutting down")
                await listener.aclose()
                with anyio.move_on_after(self.config.shutdown_grace_s):
                    await self.drained.wait()
                if self.stats.in_flight:
                    logger.warning("cancelling %d requests still running after %.1fs", self.stats.in_flight,
                                   self.config.shutdown_grace_s)
                connections.cancel_scope.cancel()
            root.cancel_scope.cancel()
        return self._ticket

    async def _accept(self, listener: Any, connections: anyio.abc.TaskGroup,
                      task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """The accept loop in a scope of its own, so that parking can stop it without closing the socket."""
        self._accept_stopped = stopped = anyio.Event()
        try:
            with anyio.CancelScope() as self._accepting:
                task_status.started()
                await serve_listener(self, listener, connections)
        finally:
            stopped.set()

    # -- parking ------------------------------------------------------------------

    def park_blocker(self) -> str | None:
        """Why the daemon may not park now, or None when it may."""
        if self.stats.connections_open:
            return f"{self.stats.connections_open} client(s) connected"
        if self.stats.in_flight:
            return "requests in flight"
        for blocker in self.park_blockers:
            reason = blocker()
            if reason:
                return reason
        return None

    async def _park_when_idle(self, listener: Any, connections: anyio.abc.TaskGroup) -> None:
        """One timer for the idle deadline; re-timed by ``note_activity``; while something forbids
        parking, a re-check every ``park_after_s`` (the blockers nudge sooner when they can)."""
        after = self.config.park_after_s
        while True:
            blocked = self.park_blocker() is not None
            wait = after if blocked else self.last_activity + after - time.monotonic()
            if wait <= 0:
                if await self._try_park(listener, connections):
                    return
                wait = after
            self._nudge = anyio.Event()
            with anyio.move_on_after(wait):
                await self._nudge.wait()

    async def _try_park(self, listener: Any, connections: anyio.abc.TaskGroup) -> bool:
        assert self._accepting is not None and self._accept_stopped is not None
        self._accepting.cancel()  # accept() is cancelled only while waiting: no connection is lost
        await self._accept_stopped.wait()
        blocker = self.park_blocker() or _child_processes()
        if blocker:
            logger.debug("not parking: %s", blocker)
            await connections.start(self._accept, listener, connections)
            return False
        raw = listener.extra(anyio.abc.SocketAttribute.raw_socket)
        state: dict[str, Any] = {name: dump() for name, (dump, _load) in self.carry.items()}
        state.update(parks=self.parks, parked_s=self.parked_s, started_at=self.started_at)
        self._ticket = Handover(os.dup(raw.fileno()), self._lock.detach(), state)
        logger.info("parking after %.0f s idle: a small waiter holds the socket until the next client",
                    time.monotonic() - self.last_activity, extra={"reason": "parked"})
        if self._stop is not None:
            self._stop.set()
        return True

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
            # a woken daemon starts with both blocked (by the waiter), so one sent meanwhile waits for us
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            async for signum in signals:
                logger.info("received %s", signal.Signals(signum).name)
                self.signalled = True
                self.request_shutdown()
                return


def _child_processes() -> str | None:
    """A child still running (a worker) forbids parking: the waiter could neither reap nor stop it."""
    import psutil

    try:
        children = psutil.Process().children()
    except psutil.Error:
        return None
    return f"{len(children)} child process(es) running" if children else None
