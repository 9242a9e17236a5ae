"""Daemon methods for projects, queries, context and hooks, and the feature installer that wires them.

``install(daemon)`` creates the ProjectManager, the ContextService and the
HookHandler, registers their methods and metrics sampler, and runs the
manager as a service in the root task group.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from treerag.context.cache import ContextCache
from treerag.context.hooks import HookHandler
from treerag.context.service import ContextService
from treerag.errors import InvalidParams, TreeragError
from treerag.runtime.memory import MemoryMonitor
from treerag.runtime.projects import ProjectEntry, ProjectManager
from treerag.runtime.taskqueue import TaskQueue

if TYPE_CHECKING:
    from treerag.daemon.app import Daemon
    from treerag.daemon.methods import RequestContext
    from treerag.enrich.runner import EnrichmentRunner

__all__ = ["install"]

logger = logging.getLogger(__name__)

PRIORITY_REQUESTED_INDEX = 60


def _str(params: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = params.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value:
        raise InvalidParams(f"'{key}' must be a non-empty string")
    return value


def _int(params: dict[str, Any], key: str, default: int, lo: int = 1, hi: int = 1000) -> int:
    value = params.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise InvalidParams(f"'{key}' must be an integer from {lo} to {hi}")
    return value


class ProjectMethods:
    def __init__(self, daemon: Daemon, manager: ProjectManager, context: ContextService, hooks: HookHandler,
                 queue: TaskQueue) -> None:
        self.queue = queue
        self.daemon = daemon
        self.manager = manager
        self.context = context
        self.hooks = hooks
        self.enrich: EnrichmentRunner | None = None

    def _entry(self, params: dict[str, Any]) -> ProjectEntry:
        return self.manager.require(_str(params, "path"))

    async def index(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """Index (or re-index) the project at ``path``; ``wait`` false returns at once."""
        path = Path(_str(params, "path")).expanduser()
        if not path.is_absolute():
            raise InvalidParams("'path' must be absolute")
        known = self.manager.find(path)
        entry = known if known is not None and known.root == path.resolve() else self.manager.entry_for_root(
            path, create=True)
        if params.get("wait", True) is False:
            queued = self.queue.submit("index", PRIORITY_REQUESTED_INDEX, lambda: self._index_background(entry),
                                       label=str(entry.root))
            if not queued:
                from treerag.errors import TreeragError

                raise TreeragError("the task queue is full; try again later")
            return {"root": str(entry.root), "queued": True}
        self.manager.touch(entry)  # the project somebody asked to index is the current one
        return await self.manager.index(entry)

    async def _index_background(self, entry: ProjectEntry) -> None:
        from treerag.errors import TreeragError

        try:
            await self.manager.index(entry)
        except TreeragError:
            pass  # logged and recorded on the entry by the manager

    async def list(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """Every known project with its state, size and use."""
        return {"projects": self.manager.records()}

    async def remove(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """Forget the project at ``path`` and delete its index."""
        path = Path(_str(params, "path")).expanduser().resolve()
        entry = self.manager.entry_for_root(path)
        await self.manager.remove(entry)
        if self.enrich is not None:
            self.enrich.forget(entry.root)
        return {"removed": str(entry.root)}

    async def evict(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """Unload the project at ``path`` from memory (its index stays on disk)."""
        entry = self._entry(params)
        self.manager.evict(entry, "requested")
        return {"evicted": str(entry.root)}

    async def evict_all_but_current(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """Unload every project except the one of the latest request."""
        current = self.manager.current
        evicted = [str(e.root) for e in self.manager.loaded_entries()
                   if e is not current and self.manager.evict(e, "requested: all but current")]
        return {"evicted": evicted, "current": str(current.root) if current else None}

    async def tree(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """The project's directories and files (and symbols) down to ``depth``."""
        entry = self._entry(params)
        loaded = await self.manager.get_loaded(entry)
        depth = _int(params, "depth", 100, 0, 100)
        with_symbols = bool(params.get("symbols", False))
        under = ""
        if params.get("under"):
            under = self.manager.resolve_inside(entry, _str(params, "under"))
        nodes: list[dict[str, Any]] = []
        seen_dirs: set[str] = set()
        chosen = [i for i, p in enumerate(loaded.paths) if not under or p.startswith(under.rstrip("/") + "/")]
        symbols = loaded.store.symbols_for([loaded.ids[i] for i in chosen]) if with_symbols else {}
        summaries = loaded.store.file_summaries([loaded.ids[i] for i in chosen]) if with_symbols else {}
        for i in chosen:
            path = loaded.paths[i]
            parts = path.split("/")
            for d in range(1, len(parts)):
                directory = "/".join(parts[:d])
                if directory not in seen_dirs and d - 1 <= depth:
                    seen_dirs.add(directory)
                    nodes.append({"path": directory, "kind": "dir", "depth": d - 1})
            if len(parts) - 1 <= depth:
                node: dict[str, Any] = {"path": path, "kind": "file", "depth": len(parts) - 1}
                if with_symbols:
                    node["summary"] = summaries.get(loaded.ids[i], "")
                    node["symbols"] = [{"name": s[1], "kind": s[2], "line": s[5], "signature": s[3],
                                        "summary": s[7]}
                                       for s in symbols.get(loaded.ids[i], [])]
                nodes.append(node)
        return {"root": str(entry.root), "files": loaded.files, "symbols": loaded.symbols, "tree": nodes}

    async def query(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """Files (and their best symbols) that match ``text``, ranked."""
        started = time.perf_counter()
        entry = self._entry(params)
        result = await self.context.query(entry, _str(params, "text"), _int(params, "limit", 10))
        self.daemon.latency.record("query", time.perf_counter() - started)
        return result

    async def context_text(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """The exact text a hook would inject: ``kind`` session | prompt | file."""
        started = time.perf_counter()
        entry = self._entry(params)
        kind = _str(params, "kind")
        budget = _int(params, "budget", self.context.default_budget, 50, 100_000) if "budget" in params else None
        if kind == "session":
            text = await self.context.session(entry, compact=bool(params.get("compact")))
        elif kind == "prompt":
            text, _ = await self.context.prompt(entry, _str(params, "prompt"), budget)
        elif kind == "file":
            rel = self.manager.resolve_inside(entry, _str(params, "file"))
            text = await self.context.file(entry, rel, budget)
        else:
            raise InvalidParams("'kind' must be session, prompt or file")
        self.daemon.latency.record("context", time.perf_counter() - started)
        return {"text": text}

    async def queue_status(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """Pending, running and failed background tasks by kind and priority."""
        return {**self.queue.statistics(), "failed_tasks": list(self.queue.failures)}

    async def queue_drain(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """Drop every pending task (running ones finish)."""
        kind = params.get("kind")
        dropped = self.queue.drain(kind if isinstance(kind, str) else None)
        enrich_dropped = self.enrich.drain() if self.enrich is not None and kind in (None, "enrich") else 0
        return {"dropped": dropped, "enrich_dropped": enrich_dropped}

    async def queue_pause(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """Hold the queue: nothing new starts."""
        self.queue.pause()
        if self.enrich is not None:
            self.enrich.pause()
        return {"paused": True}

    async def queue_resume(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """Let the queue run again."""
        self.queue.resume()
        if self.enrich is not None:
            self.enrich.resume()
        return {"paused": False}

    async def enrich_start(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """Queue the project at ``path`` for remote enrichment (files without a summary from the provider)."""
        entry = self._entry(params)
        if self.enrich is None or not self.enrich.enabled:
            return {"queued": 0, "provider": "local"}
        from treerag.runtime.enrichment import queue_entry

        queued = await queue_entry(self.enrich, entry)
        return {"queued": queued, "provider": self.enrich.config.provider}

    async def enrich_status(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """Enrichment backlog, outcomes, spend, latency and breaker state."""
        if self.enrich is None:
            return {"provider": "local", "enabled": False}
        vectors = self.context.vectors
        return {**self.enrich.statistics(), "enabled": self.enrich.enabled,
                **({"vectors": vectors.statistics()} if vectors is not None else {})}

    async def hook(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """Answer one Claude Code hook: ``event`` and the hook's ``payload``."""
        started = time.perf_counter()
        event = _str(params, "event")
        payload = params.get("payload") or {}
        if not isinstance(payload, dict):
            raise InvalidParams("'payload' must be a map")
        result = await self.hooks.handle(event, payload)
        self.daemon.latency.record("hook", time.perf_counter() - started)
        self.daemon.latency.record(f"hook.{event}", time.perf_counter() - started)
        return result


def install(daemon: Daemon) -> None:
    config = daemon.full_config
    from treerag.config import cache_dir

    get = config.get if config is not None else (lambda key: None)
    manager = ProjectManager(
        cache_dir(),
        publish=daemon.broadcast.publish,
        max_file_bytes=int(get("index.max_file_bytes") or 1 << 20),
        nice=int(get("index.nice") or 10),
        idle_evict_s=60.0 * float(get("resources.idle_evict_minutes") or 10),
        parse_workers=int(get("index.workers") or 2),
        debounce_ms=int(get("index.debounce_ms") or 50),
    )
    cache = ContextCache(int(get("context.cache_entries") or 256))
    context = ContextService(manager, cache, default_budget=int(get("context.budget_tokens") or 2000),
                             max_chars=int(get("context.max_chars") or 9500))
    queue = TaskQueue(concurrency=1)
    hooks = HookHandler(manager, context, queue)
    monitor = MemoryMonitor(manager, float(get("resources.memory_limit_mb") or 100), cache=cache, queue=queue)
    methods = ProjectMethods(daemon, manager, context, hooks, queue)
    daemon.projects = manager  # type: ignore[attr-defined]
    daemon.context = context  # type: ignore[attr-defined]
    table = daemon.methods
    table.register("project.index", methods.index, inline=False)
    table.register("project.list", methods.list)
    table.register("project.remove", methods.remove, inline=False)
    table.register("project.evict", methods.evict)
    table.register("project.evict_all_but_current", methods.evict_all_but_current)
    table.register("project.tree", methods.tree)
    table.register("query", methods.query)
    table.register("context", methods.context_text)
    table.register("hook", methods.hook)
    table.register("queue.status", methods.queue_status)
    table.register("queue.drain", methods.queue_drain)
    table.register("queue.pause", methods.queue_pause)
    table.register("queue.resume", methods.queue_resume)
    enrich_config = getattr(config, "enrich", None)
    if enrich_config is not None:
        from treerag.runtime.enrichment import connect, runner_for

        methods.enrich = runner_for(enrich_config, queue.submit)
        if methods.enrich is not None:
            connect(manager, context, methods.enrich, auto=enrich_config.auto)
            runner = methods.enrich

            async def run_enrich(d: Daemon, task_status: Any) -> None:
                await runner.service(task_status)

            daemon.add_service(run_enrich)
    table.register("enrich.start", methods.enrich_start, inline=False)
    table.register("enrich.status", methods.enrich_status)

    async def run_manager(d: Daemon, task_status: Any) -> None:
        await manager.service(task_status)

    async def run_queue(d: Daemon, task_status: Any) -> None:
        await queue.service(task_status)

    async def run_monitor(d: Daemon, task_status: Any) -> None:
        await monitor.service(task_status)

    async def run_idle(d: Daemon, task_status: Any) -> None:
        await manager.idle_service(task_status)

    for service in (run_manager, run_queue, run_monitor, run_idle):
        daemon.add_service(service)
    _keep_across_parking(daemon, manager, queue, methods.enrich)
    daemon.samplers.append(lambda: {
        "projects": manager.records(),
        "cache": {**cache.statistics(), "prefetched": context.prefetched},
        "hooks": hooks.statistics(),
        "index": manager.statistics(),
        "queue": queue.statistics(),
        "resources": monitor.statistics(),
        **({"enrich": {**methods.enrich.statistics(),
                       **({"vectors": context.vectors.statistics()} if context.vectors is not None else {})}}
           if methods.enrich is not None else {}),
    })


def _keep_across_parking(daemon: Daemon, manager: ProjectManager, queue: TaskQueue, enrich: Any) -> None:
    """What forbids parking (anything loaded, building or queued) and the counters that outlive it."""

    def blocker() -> str | None:
        if loaded := manager.loaded_entries():
            return f"{len(loaded)} project(s) loaded"
        if manager.worker_pids or any(e.lock.locked() for e in manager.entries.values()):
            return "an index build is running"
        if queue.running or queue.statistics()["pending"]:
            return "tasks queued"
        if enrich is not None:
            stats = enrich.statistics()
            if stats["backlog"]:
                return "enrichment backlog"
            if enrich.budget.spent()[0]:  # the hourly budget lives in memory: keep it until its window closes
                return "enrichment budget window open"
        return None

    def dump_queue() -> dict[str, Any]:
        c = queue.counts
        return {"paused": queue.paused, "done": c.done, "failed": c.failed, "timed_out": c.timed_out,
                "rejected": c.rejected, "dropped": c.dropped}

    def load_queue(saved: dict[str, Any]) -> None:
        queue.paused = bool(saved.get("paused"))
        for name in ("done", "failed", "timed_out", "rejected", "dropped"):
            setattr(queue.counts, name, int(saved.get(name, 0)))

    def load_projects(saved: dict[str, Any]) -> None:
        manager.evictions, manager.updates = int(saved.get("evictions", 0)), int(saved.get("updates", 0))

    daemon.park_blockers.append(blocker)
    daemon.carry["queue"] = (dump_queue, load_queue)
    daemon.carry["projects"] = (lambda: {"evictions": manager.evictions, "updates": manager.updates}, load_projects)
    manager.on_unloaded.append(lambda entry: daemon.note_activity())
