"""A scripted daemon over the in-memory transport, and deterministic data for the dashboard tests.

``ScriptedDaemon`` answers requests from a dict of canned results (a value, a
function of the params, or a ``TreeragError`` to send back as an error reply),
records every call, and pushes ``metrics`` / ``log`` events when the test says
so (or right after ``subscribe``). Its ``connect`` is what ``create_app`` takes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from treerag.client.aio import AsyncClient
from treerag.client.memory import AsyncMemoryTransport
from treerag.errors import DaemonNotRunning, MethodNotFound, TreeragError
from treerag.protocol import ErrorReply, Response

NOW = 1_750_000_000.0  # the frozen clock: samples and projects are placed relative to it
SOCKET = "/run/user/1000/treerag/treerag.sock"
MB = 1024 * 1024


# -- data factories -----------------------------------------------------------------------


def project_record(
    name: str,
    root: str | None = None,
    *,
    state: str = "loaded",
    files: int = 120,
    symbols: int = 900,
    memory_mb: float = 8.0,
    last_used_ago: float | None = 30.0,
    requests: int = 10,
    hits: int = 9,
    misses: int = 1,
    current: bool = False,
    progress: dict[str, int] | None = None,
) -> dict[str, Any]:
    root = root or f"/home/dev/src/{name}"
    return {
        "root": root,
        "name": name,
        "id": f"id-{name}",
        "state": state,
        "files": files,
        "symbols": symbols,
        "languages": {"python": files},
        "last_indexed": NOW - 3600,
        "last_used": None if last_used_ago is None else NOW - last_used_ago,
        "requests": requests,
        "hits": hits,
        "misses": misses,
        "memory_bytes": int(memory_mb * MB),
        "db_bytes": 4 * MB,
        "progress": progress,
        "current": current,
        "error": None,
    }


def metrics_sample(
    i: int = 0,
    *,
    projects: Iterable[dict[str, Any]] = (),
    limit_mb: int = 100,
    pressure: str = "normal",
    paused: bool = False,
    pending: int | None = None,
    enrich: dict[str, Any] | bool = True,
) -> dict[str, Any]:
    """Sample number ``i``: values wave deterministically so plots have shape.

    ``enrich``: True for a hosted provider's map (``enrich_record(i)``), a dict to send as is,
    False to leave the key out (an older daemon, or the offline local provider).
    """
    wave = (i * 7) % 11
    rss = (30 + wave) * MB
    children = (5 + (i % 3)) * MB
    pending = (40 - i % 40) if pending is None else pending
    return {
        "time": NOW - 60 + i,
        "uptime_s": 3600.0 + i,
        "memory_limit_mb": limit_mb,
        "process": {
            "rss_bytes": rss,
            "uss_bytes": rss - 4 * MB,
            "cpu_percent": 0.5 + wave / 2,
            "num_fds": 21,
            "num_threads": 4,
            "children_rss_bytes": children,
            "total_rss_bytes": rss + children,
        },
        "server": {"connections_open": 2, "connections_total": 40, "requests": 1000 + i, "in_flight": 0,
                   "errors": 0, "protocol_errors": 0, "timeouts": 0, "refused": 0, "events_dropped": 0},
        "latency": {
            "hook": {"count": 100 + i, "p50": 0.0011, "p99": 0.0020 + wave / 10_000, "max": 0.004},
            "context": {"count": 80 + i, "p50": 0.0003, "p99": 0.0008 + wave / 20_000, "max": 0.002},
            "query": {"count": 10, "p50": 0.004, "p99": 0.012 + wave / 1000, "max": 0.02},
            "ping": {"count": 50, "p50": 0.00008, "p99": 0.00021 + wave / 1_000_000, "max": 0.0004},
        },
        "resources": {"pressure": pressure, "usage_bytes": rss + children, "limit_bytes": limit_mb * MB,
                      "evictions": 1, "loaded": 2, "evicted": 0},
        "cache": {"hits": 900 + i, "misses": 60, "hit_rate": (900 + i) / (960 + i), "entries": 42},
        "queue": {
            "pending": pending, "running": 2, "done": 300 + i, "failed": 1, "paused": paused,
            "by_kind": {"summary": {"pending": pending, "running": 1, "failed": 1},
                        "embed": {"pending": 0, "running": 1, "failed": 0}},
            "by_priority": {"0": min(pending, 3), "1": max(pending - 3, 0)},
        },
        "projects": list(projects),
        **({"enrich": enrich_record(i, paused=paused) if enrich is True else enrich} if enrich else {}),
    }


def enrich_record(
    i: int = 0,
    *,
    paused: bool = False,
    breaker: str = "closed",
    last_error: str | None = None,
    backlog: int | None = None,
) -> dict[str, Any]:
    """The ``enrich`` map of a sample, exactly the keys treerag/enrich/runner.py publishes."""
    backlog = (120 - 2 * (i % 30)) if backlog is None else backlog
    entry = min(backlog, 4)
    imported = min(backlog - entry, 30)
    return {
        "provider": "openai-compatible",
        "model": "gpt-4o-mini",
        "backlog": backlog,
        "backlog_by_priority": {"100": entry, "50": imported, "1": backlog - entry - imported},
        "done": 840 + i,
        "failed": 3,
        "cached": 1200,
        "skipped": 15,
        "requests": 96 + i // 4,
        "tokens": 182_000 + 900 * i,
        "requests_per_hour_left": 404 - i // 4,
        "tokens_per_hour_left": 818_000 - 900 * i,
        "latency_p50_ms": 640.0,
        "latency_p99_ms": 2350.0,
        "breaker": breaker,
        "paused": paused,
        "last_error": last_error,
    }


def two_projects(*, swap: bool = False) -> list[dict[str, Any]]:
    alpha = project_record("alpha", files=340, symbols=2900, memory_mb=12.5, last_used_ago=5, requests=120,
                           hits=110, misses=10, current=True)
    beta = project_record("beta", files=80, symbols=610, memory_mb=4.2, last_used_ago=700, requests=12,
                          hits=6, misses=6, state="indexing", progress={"done": 21, "total": 50})
    if swap:  # beta's name sorts after alpha's either way; this renames to flip the order
        alpha = {**alpha, "name": "zeta"}
    return [alpha, beta]


def log_record(i: int, msg: str, level: str = "INFO", logger: str = "treerag.daemon", **fields: Any) -> dict[str, Any]:
    return {"ts": NOW - 30 + i, "level": level, "logger": logger, "msg": msg, **fields}


# -- the scripted daemon --------------------------------------------------------------------

Result = Any | Callable[[dict[str, Any]], Any] | TreeragError


def default_results() -> dict[str, Result]:
    return {
        "health": {"ok": True, "version": "0.1.0", "pid": 4242, "uptime_s": 3600.0, "socket": SOCKET},
        "subscribe": lambda params: {"topics": params.get("topics", ["metrics"])},
        "ping": "pong",
        "project.evict": lambda params: {"evicted": params["path"]},
        "project.evict_all_but_current": {"evicted": ["/home/dev/src/beta"], "current": "/home/dev/src/alpha"},
        "project.index": lambda params: {"root": params["path"], "files": 0, "symbols": 0, "languages": {},
                                         "seconds": 0.0, "parsed": 0, "skipped": 0},
        "queue.drain": {"dropped": 7},
        "queue.pause": {"paused": True},
        "queue.resume": {"paused": False},
    }


class ScriptedTransport(AsyncMemoryTransport):
    """The in-memory transport, closing both ends on ``aclose`` (the base leaves its receiving end open)."""

    async def hang_up(self) -> None:
        await super().aclose()  # the client reads end-of-stream, as from a daemon that went away

    async def aclose(self) -> None:
        await super().aclose()
        self._receive.close()


class ScriptedDaemon:
    """A fake daemon answering from ``results``; ``up=False`` makes ``connect`` raise ``DaemonNotRunning``."""

    def __init__(
        self,
        results: dict[str, Result] | None = None,
        *,
        up: bool = True,
        socket: str = SOCKET,
        on_subscribe: Iterable[dict[str, Any]] = (),
    ) -> None:
        self.results = {**default_results(), **(results or {})}
        self.up = up
        self.socket = socket
        self.on_subscribe = list(on_subscribe)  # wire events pushed right after each subscribe
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.transports: list[ScriptedTransport] = []
        self.connects = 0

    async def connect(self) -> AsyncClient:
        self.connects += 1
        if not self.up:
            raise DaemonNotRunning(self.socket)
        transport: ScriptedTransport

        async def answer(message: dict[str, Any]) -> dict[str, Any]:
            return await self._answer(transport, message)

        transport = ScriptedTransport(answer)
        self.transports.append(transport)
        return AsyncClient(transport)

    async def _answer(self, transport: ScriptedTransport, message: dict[str, Any]) -> dict[str, Any]:
        rid, method, params = message.get("id"), message["method"], dict(message.get("params") or {})
        self.calls.append((method, params))
        if method not in self.results:
            exc: TreeragError = MethodNotFound(method)
            return ErrorReply(rid, exc.code, str(exc)).to_wire()
        result = self.results[method]
        if callable(result):
            result = result(params)
        if isinstance(result, TreeragError):
            return ErrorReply(rid, result.code, str(result)).to_wire()
        if method == "subscribe":
            for event in self.on_subscribe:
                await transport.push(event)
        return Response(rid, result).to_wire()

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    async def push_sample(self, sample: dict[str, Any]) -> None:
        await self.transports[-1].push({"event": "metrics", "data": sample})

    async def push_log(self, record: dict[str, Any]) -> None:
        await self.transports[-1].push({"event": "log", "data": record})

    async def hang_up(self) -> None:
        """Close the current connection, as a daemon restart does."""
        await self.transports[-1].hang_up()


def sample_events(count: int, projects: list[dict[str, Any]] | None = None, **kwargs: Any) -> list[dict[str, Any]]:
    projects = two_projects() if projects is None else projects
    return [{"event": "metrics", "data": metrics_sample(i, projects=projects, **kwargs)} for i in range(count)]


def frozen_clock() -> float:
    return NOW


async def wait_until(pilot: Any, predicate: Callable[[], object], timeout: float = 5.0) -> None:
    """Let the app run until ``predicate()`` holds (the app reports progress through its state)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {getattr(predicate, '__name__', predicate)}")
        await pilot.pause(0.01)
    await pilot.pause()
