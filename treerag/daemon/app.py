"""The daemon object and its root task group.

``Daemon`` owns everything that lives as long as the process: settings, the
method table, metrics, subscriptions and the services later features add
(project manager, watcher, task queue). ``Daemon.run`` opens the listener,
starts the services and serves until asked to stop; on SIGTERM/SIGINT or the
``shutdown`` method it stops accepting, gives in-flight requests a grace
period, then cancels what is left and removes the socket and the pid file.
"""

from __future__ import annotations

import logging
import os
import signal
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
from treerag.daemon.server import serve_listener
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
    refused_busy: int = 0  # connections past daemon.max_connections
    events_dropped: int = 0

    def statistics(self) -> dict[str, int]:
        return asdict(self)


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

        from treerag.daemon import core

        core.register(self)

    # -- extension points ---------------------------------------------------------

    def add_service(self, service: Service) -> None:
        """Run ``service(daemon, task_status)`` in the root task group; it must call task_status.started()."""
        self.services.append(service)

    def request_shutdown(self) -> None:
        if self._stop is not None:
            self._stop.set()

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
        }
        for extra in self.samplers:
            sample.update(extra())
        return sample

    # -- running ------------------------------------------------------------------

    async def run(self, *, on_ready: Callable[[], None] | None = None) -> None:
        """Serve until SIGTERM/SIGINT or ``shutdown``; always clean up socket and pid file."""
        sock = self.config.socket_path
        prepare_socket_dir(sock.parent)
        self._lock.acquire(sock)
        bound = False
        try:
            remove_stale_socket(sock)
            old_umask = os.umask(0o177)  # the socket is born 0600: no window where others can connect
            try:
                listener = await anyio.create_unix_listener(sock)
            finally:
                os.umask(old_umask)
            bound = True
            os.chmod(sock, 0o600)
            try:
                await self._serve(listener, on_ready)
            except BaseExceptionGroup as group:  # a service that failed to start: let its one error out
                leaves = _leaves(group)
                if len(leaves) == 1 and isinstance(leaves[0], Exception):
                    raise leaves[0] from None
                raise
        finally:
            try:
                if bound and sock.exists():
                    sock.unlink()
            finally:
                self._lock.release()
            if bound:  # one that never listened logs "daemon not started: …" instead (__main__)
                logger.info("daemon stopped")

    async def _serve(self, listener: Any, on_ready: Callable[[], None] | None) -> None:
        self._stop = anyio.Event()
        self.drained = anyio.Event()
        self.drained.set()
        async with anyio.create_task_group() as root:
            self.broadcast.attach(root)
            root.start_soon(self._watch_signals)
            async with anyio.create_task_group() as connections:
                connections.start_soon(serve_listener, self, listener, connections)
                for service in self.services:
                    await root.start(service, self)
                logger.info("daemon %s listening on %s (pid %d)", __version__, self.config.socket_path, os.getpid())
                if on_ready is not None:
                    on_ready()
                await self._stop.wait()
                logger.info("shutting down")
                await listener.aclose()
                with anyio.move_on_after(self.config.shutdown_grace_s):
                    await self.drained.wait()
                if self.stats.in_flight:
                    logger.warning("cancelling %d requests still running after %.1fs", self.stats.in_flight,
                                   self.config.shutdown_grace_s)
                connections.cancel_scope.cancel()
            root.cancel_scope.cancel()

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                logger.info("received %s", signal.Signals(signum).name)
                self.request_shutdown()
                return
