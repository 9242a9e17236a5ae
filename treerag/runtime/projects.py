"""ProjectManager: which projects exist, which are loaded, and keeping them fresh.

A project is a root directory with an index under
``$XDG_CACHE_HOME/treerag/projects/<id>/`` (``index.sqlite`` plus a tiny
``project.json`` naming the root, so listing projects never opens SQLite).
Projects load on demand, in LRU order; the most recent request's project is
the *current* one. Index builds and updates run in worker processes
(``treerag.index.worker``), one at a time per project; while a project is
loaded a watcher feeds its changes into updates. Eviction drops the hot set
and the watcher; the index stays on disk and reloads in milliseconds.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from treerag.errors import DiskFull, PathOutsideProject, ProjectNotFound, StoreError, TreeragError

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from treerag.index.loaded import LoadedProject

__all__ = ["ProjectEntry", "ProjectManager", "project_id"]

logger = logging.getLogger(__name__)

BACKGROUND_CPU_SHARE = 0.4  # the worker's; the daemon's relaying and loading come on top
ROOT_MARKERS = (".git", ".hg", "pyproject.toml", "package.json", "go.mod", "Cargo.toml", "setup.py", "pom.xml")


def project_id(root: Path) -> str:
    from _blake2 import blake2b  # hashlib would load OpenSSL into the daemon for this one hash

    digest = blake2b(str(root).encode(), digest_size=6).hexdigest()
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in root.name)[:40] or "root"
    return f"{name}-{digest}"


@dataclass
class ProjectEntry:
    root: Path
    dir: Path
    state: str = "new"  # new | indexing | loaded | evicted | error
    loaded: LoadedProject | None = None
    last_used: float | None = None
    last_indexed: float | None = None
    requests: int = 0
    hits: int = 0
    misses: int = 0
    progress: dict[str, Any] | None = None
    error: str | None = None
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    watch_scope: anyio.CancelScope | None = None
    watcher: Any = None
    summary: dict[str, Any] = field(default_factory=dict)
    load_reason: str = "load"  # why the hot set was last swapped in: load | build | update
    write_blocked: bool = False  # a full disk stopped automatic updates
    loaded_at_time: float = 0.0
    rejected: dict[str, tuple[int, int]] = field(default_factory=dict)  # walked but not indexable: (size, mtime)

    @property
    def db_path(self) -> Path:
        return self.dir / "index.sqlite"

    @property
    def name(self) -> str:
        return self.root.name or str(self.root)

    def record(self, current: bool) -> dict[str, Any]:
        loaded = self.loaded
        db_bytes = 0
        for suffix in ("", "-wal"):
            p = Path(str(self.db_path) + suffix)
            if p.exists():
                db_bytes += p.stat().st_size
        return {
            "root": str(self.root),
            "name": self.name,
            "id": self.dir.name,
            "state": self.state,
            "files": loaded.files if loaded else self.summary.get("files", 0),
            "symbols": loaded.symbols if loaded else self.summary.get("symbols", 0),
            "languages": loaded.languages if loaded else self.summary.get("languages", {}),
            "last_indexed": self.last_indexed,
            "last_used": self.last_used,
            "requests": self.requests,
            "hits": self.hits,
            "misses": self.misses,
            "memory_bytes": loaded.memory_bytes() if loaded else 0,
            "db_bytes": db_bytes,
            "progress": self.progress,
            "current": current,
            "error": self.error,
            "watches": self.watcher.statistics().get("watches", 0) if self.watcher is not None else 0,
        }


class ProjectManager:
    def __init__(
        self,
        cache_dir: Path,
        *,
        publish: Callable[[str, Any], int] = lambda topic, data: 0,
        max_file_bytes: int = 1 << 20,
        nice: int = 10,
        idle_evict_s: float = 600.0,
        parse_workers: int = 2,
        debounce_ms: int = 50,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.projects_dir = cache_dir / "projects"
        self.publish = publish
        self.max_file_bytes = max_file_bytes
        self.parse_workers = parse_workers
        self.debounce_ms = debounce_ms
        self.nice = nice
        self.clock = clock
        self.idle_evict_s = idle_evict_s
        # a daemon swaps a fresh build in at once; a one-shot CLI process that exits after it does not
        self.load_after_build = True
        self._loaded_signal = anyio.Event()
        self.entries: dict[Path, ProjectEntry] = {}
        self.current: ProjectEntry | None = None
        self.on_loaded: list[Callable[[ProjectEntry], None]] = []
        self.on_changed: list[Callable[[ProjectEntry, list[str]], None]] = []
        self.on_unloaded: list[Callable[[ProjectEntry], None]] = []
        self.evictions = 0
        self.updates = 0
        self.worker_pids: set[int] = set()
        self._tg: TaskGroup | None = None
        self._discover()

    # -- registry ------------------------------------------------------------------

    def _discover(self) -> None:
        if not self.projects_dir.is_dir():
            return
        for meta in self.projects_dir.glob("*/project.json"):
            try:
                data = json.loads(meta.read_text())
                root = Path(data["root"])
            except (OSError, ValueError, KeyError):
                logger.warning("ignoring unreadable project record %s", meta)
                continue
            entry = ProjectEntry(root=root, dir=meta.parent, state="evicted")
            entry.last_indexed = data.get("last_indexed")
            entry.summary = data.get("summary", {})
            self.entries[root] = entry

    def _write_record(self, entry: ProjectEntry) -> None:
        tmp = entry.dir / "project.json.tmp"
        try:
            entry.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp.write_text(json.dumps({"root": str(entry.root), "last_indexed": entry.last_indexed,
                                       "summary": entry.summary}))
            os.replace(tmp, entry.dir / "project.json")
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            logger.error("cannot write the project record of %s: %s", entry.root, exc.strerror or exc,
                         extra={"project": str(entry.root)})

    def entry_for_root(self, root: Path, *, create: bool = False) -> ProjectEntry:
        root = root.resolve()
        entry = self.entries.get(root)
        if entry is None:
            if not create:
                raise ProjectNotFound(str(root))
            if not root.is_dir():
                raise ProjectNotFound(str(root), want_directory=True)
            entry = ProjectEntry(root=root, dir=self.projects_dir / project_id(root))
            self.entries[root] = entry
        return entry

    def find(self, path: str | Path) -> ProjectEntry | None:
        """The registered project whose root contains ``path`` (the innermost one)."""
        p = Path(path)
        try:
            p = p.resolve()
        except OSError:
            return None
        best = None
        for root, entry in self.entries.items():
            if (p == root or root in p.parents) and (best is None or len(str(root)) > len(str(best.root))):
                best = entry
        return best

    def require(self, path: str | Path) -> ProjectEntry:
        entry = self.find(path)
        if entry is None:
            raise ProjectNotFound(str(path))
        return entry

    def resolve_inside(self, entry: ProjectEntry, rel_or_abs: str) -> str:
        """Resolve a path from a request to a relative path inside ``entry``'s root, or refuse."""
        candidate = Path(rel_or_abs)
        full = candidate if candidate.is_absolute() else entry.root / candidate
        try:
            real = full.resolve()
        except OSError as exc:
            raise PathOutsideProject(rel_or_abs) from exc
        if real != entry.root and entry.root not in real.parents:
            raise PathOutsideProject(rel_or_abs)
        return real.relative_to(entry.root).as_posix()

    @staticmethod
    def guess_root(path: Path) -> Path | None:
        """The nearest ancestor that looks like a project; never $HOME or /."""
        path = path.resolve()
        home = Path.home().resolve()
        for candidate in (path, *path.parents):
            if candidate in (home, Path("/")):
                return None
            if any((candidate / marker).exists() for marker in ROOT_MARKERS):
                return candidate
        return None

    # -- running -------------------------------------------------------------------

    async def service(self, task_status: Any) -> None:
        """The manager's life in the root task group: spawn point for builds and watchers."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            task_status.started()
            try:
                await anyio.sleep_forever()
            finally:
                for entry in list(self.entries.values()):
                    self._stop_watch(entry)

    def spawn(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._tg is None:
            raise TreeragError("project manager is not running")
        self._tg.start_soon(fn, *args)

    def touch(self, entry: ProjectEntry) -> None:
        entry.last_used = self.clock()
        entry.requests += 1
        self.current = entry

    async def get_loaded(self, entry: ProjectEntry) -> LoadedProject:
        """The hot set of ``entry``, loading it from disk when evicted."""
        self.touch(entry)
        if entry.loaded is not None:
            return entry.loaded
        if not entry.db_path.exists():
            raise ProjectNotFound(str(entry.root))
        self._load(entry)
        assert entry.loaded is not None
        return entry.loaded

    def _load(self, entry: ProjectEntry, reason: str = "load") -> None:
        """Swap in a fresh hot set. ``reason`` ("load", "build", "update") tells the callbacks whether
        everything changed or an ``on_changed`` call with the exact paths follows."""
        from treerag.index.loaded import load_project

        started = time.perf_counter()
        old = entry.loaded
        try:
            entry.loaded = load_project(entry.root, entry.db_path)
        except (TreeragError, OSError) as exc:
            entry.state, entry.error = "error", str(exc)
            raise StoreError(f"could not load the index of {entry.root}: {exc}") from exc
        if old is not None:
            old.close()
        entry.state, entry.error = "loaded", None
        entry.summary = entry.loaded.summary()
        entry.loaded_at_time = self.clock()
        self._loaded_signal.set()
        logger.info("loaded %s (%d files) in %.1f ms", entry.root, entry.loaded.files,
                    (time.perf_counter() - started) * 1e3, extra={"project": str(entry.root)})
        entry.load_reason = reason
        for callback in self.on_loaded:
            callback(entry)
        if entry.watch_scope is None and self._tg is not None:
            self._tg.start_soon(self._watch, entry)
            if reason == "load":  # nobody watched while it was unloaded
                self._tg.start_soon(self._reconcile, entry)

    def evict(self, entry: ProjectEntry, reason: str) -> bool:
        if entry.loaded is None:
            return False
        self._stop_watch(entry)
        for callback in self.on_unloaded:
            callback(entry)
        entry.loaded.close()
        entry.loaded = None
        entry.state = "evicted"
        self.evictions += 1
        logger.info("evicted %s (%s)", entry.root, reason, extra={"project": str(entry.root), "reason": reason})
        return True

    async def wait_loaded(self) -> None:
        """Return once some project is loaded (immediately if one is)."""
        if not self.loaded_entries():
            self._loaded_signal = anyio.Event()
            await self._loaded_signal.wait()

    async def idle_service(self, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Unload projects idle for ``idle_evict_s``: one sleep until the earliest deadline, no polling."""
        task_status.started()
        while True:
            loaded = self.loaded_entries()
            if not loaded:
                await self.wait_loaded()
                continue
            now = self.clock()
            earliest = min((e.last_used or e.loaded_at_time) + self.idle_evict_s for e in loaded)
            if earliest > now:
                await anyio.sleep(earliest - now)
                continue
            for entry in loaded:
                if (entry.last_used or entry.loaded_at_time) + self.idle_evict_s > now:
                    continue
                if entry.lock.locked():  # being indexed: busy, not idle
                    entry.last_used = now
                else:
                    self.evict(entry, f"idle for {self.idle_evict_s / 60:g} min")

    def loaded_entries(self) -> list[ProjectEntry]:
        return sorted((e for e in self.entries.values() if e.loaded is not None), key=lambda e: e.last_used or 0)

    async def remove(self, entry: ProjectEntry) -> None:
        async with entry.lock:
            self.evict(entry, "removed")
            self.entries.pop(entry.root, None)
            if self.current is entry:
                self.current = None
            import shutil

            shutil.rmtree(entry.dir, ignore_errors=True)
        logger.info("removed %s and its index", entry.root, extra={"project": str(entry.root)})

    # -- building ------------------------------------------------------------------

    async def index(self, entry: ProjectEntry, paths: list[str] | None = None, *,
                    requested: bool = True) -> dict[str, Any]:
        """Run a full build (``paths`` None) or an update in a worker; then swap in the new hot set.

        After a full disk, automatic updates (``requested=False``) stop until a requested build
        succeeds: the daemon logs once and keeps serving what is loaded.
        """
        if entry.write_blocked and not requested:
            raise DiskFull(str(entry.db_path))
        async with entry.lock:
            was_loaded = entry.loaded is not None
            if paths is None:
                entry.state = "indexing"
                entry.progress = {"done": 0, "total": 0}
            try:
                report = await self._run_worker(entry, paths, requested)
            except TreeragError as exc:
                entry.state = "loaded" if entry.loaded is not None else "error"
                entry.error = str(exc)
                if isinstance(exc, DiskFull) and not entry.write_blocked:
                    entry.write_blocked = True
                    logger.error("disk full writing the index of %s: index updates stop until `treerag index` "
                                 "succeeds; still serving what is loaded", entry.root,
                                 extra={"project": str(entry.root), "reason": "disk_full"})
                self.publish("progress", {"root": str(entry.root), "phase": "error", "done": 0, "total": 0,
                                          "message": str(exc)})
                raise
            finally:
                entry.progress = None
            entry.write_blocked = False
            entry.error = None
            entry.last_indexed = self.clock()
            entry.summary = {"files": report["files"], "symbols": report["symbols"],
                             "languages": report["languages"]}
            if paths is None:
                logger.info("indexed %s: %s", entry.root, _build_line(report), extra={"project": str(entry.root)})
            self._write_record(entry)
            if was_loaded or (paths is None and self.load_after_build):
                self._load(entry, "build" if paths is None else "update")
            elif paths is None:
                entry.state = "evicted"  # built, on disk, loaded on first use
            if paths is not None:
                self.updates += 1
            for callback in self.on_changed:
                callback(entry, report["changed_paths"] if paths is not None else [])
            return report

    async def _run_worker(self, entry: ProjectEntry, paths: list[str] | None, requested: bool) -> dict[str, Any]:
        entry.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        request = {"root": str(entry.root), "db": str(entry.db_path), "paths": paths,
                   "max_file_bytes": self.max_file_bytes, "nice": self.nice if paths is None and not requested else 0,
                   # a full build nobody waits for stays under half a core; updates and requested builds run free
                   "cpu_share": BACKGROUND_CPU_SHARE if paths is None and not requested else None,
                   "parse_workers": self.parse_workers if paths is None and requested else 1}
        process = await anyio.open_process([sys.executable, "-m", "treerag.index.worker"],
                                           stdin=-1, stdout=-1, stderr=-1)
        self.worker_pids.add(process.pid)
        result: dict[str, Any] | None = None
        error: dict[str, Any] | None = None
        try:
            assert process.stdin is not None and process.stdout is not None
            await process.stdin.send(json.dumps(request).encode() + b"\n")
            await process.stdin.aclose()
            buffer = b""
            async for chunk in process.stdout:
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if not line.strip():
                        continue
                    message = json.loads(line)
                    if "progress" in message:
                        entry.progress = {"done": message["progress"]["done"], "total": message["progress"]["total"]}
                        self.publish("progress", {"root": str(entry.root), **message["progress"], "message": ""})
                    elif "log" in message:
                        _relay_log(message["log"], entry)
                    elif "result" in message:
                        result = message["result"]
                    elif "error" in message:
                        error = message["error"]
            code = await process.wait()
        finally:
            self.worker_pids.discard(process.pid)
            if process.returncode is None:
                process.kill()
                with anyio.CancelScope(shield=True):
                    await process.wait()
        if result is not None:
            return result
        if error is not None:
            from treerag.errors import error_from_code

            raise error_from_code(str(error.get("code", "internal")),
                                  f"indexing {entry.root} failed: {error.get('message')}")
        stderr = b""
        if process.stderr is not None:
            with anyio.move_on_after(1):
                stderr = await process.stderr.receive(4096)
        raise TreeragError(f"index worker for {entry.root} died (exit {code}): {stderr.decode(errors='replace')[-300:]}")

    # -- watching ------------------------------------------------------------------

    async def _reconcile(self, entry: ProjectEntry) -> None:
        """Catch up with what changed while nobody watched: a stat walk (no file opened) against the
        sizes and mtimes in the index, then an update of exactly the files that differ."""
        try:
            changed, walked = await anyio.to_thread.run_sync(self._stale_paths, entry)
        except (OSError, sqlite3.Error) as exc:
            logger.warning("could not compare %s with its index: %s", entry.root, exc,
                           extra={"project": str(entry.root)})
            return
        if not changed or entry.loaded is None:
            return
        logger.info("%s: %d file(s) changed while it was not loaded; updating", entry.root, len(changed),
                    extra={"project": str(entry.root)})
        try:
            await self.index(entry, changed, requested=False)
        except TreeragError as exc:
            logger.warning("update of %s failed: %s", entry.root, exc, extra={"project": str(entry.root)})
            return
        # what the walk listed but the builder would not index (binaries found by sniffing, secrets):
        # remembered by size and mtime, so the next reload does not try them again
        if entry.loaded is not None:
            for rel in changed:
                if rel in walked and rel not in entry.loaded.index_of_path:
                    entry.rejected[rel] = walked[rel]

    def _stale_paths(self, entry: ProjectEntry) -> tuple[list[str], dict[str, tuple[int, int]]]:
        from treerag.index.ignore import IgnoreRules
        from treerag.index.scanner import stat_walk

        walked = stat_walk(entry.root, IgnoreRules(entry.root), max_file_bytes=self.max_file_bytes)
        conn = sqlite3.connect(f"file:{entry.db_path}?mode=ro", uri=True, timeout=10)
        try:
            known = {path: (size, mtime) for path, size, mtime in conn.execute("SELECT path, size, mtime_ns FROM files")}
        finally:
            conn.close()
        changed = [rel for rel, st in walked.items() if known.get(rel) != st and entry.rejected.get(rel) != st]
        changed += [rel for rel in known if rel not in walked]
        return sorted(changed), {rel: walked[rel] for rel in changed if rel in walked}

    async def _watch(self, entry: ProjectEntry) -> None:
        from treerag.index.ignore import IgnoreRules
        from treerag.index.watcher import ProjectWatcher

        if entry.loaded is None:
            return
        dirs = entry.loaded.dirs or [""]  # only the list: holding the hot set here would keep it alive
        rules = IgnoreRules(entry.root)
        with anyio.CancelScope() as scope:
            entry.watch_scope = scope
            watcher = ProjectWatcher(entry.root, ignored=rules.ignored, debounce_ms=self.debounce_ms)
            entry.watcher = watcher
            try:
                watcher.start(dirs)
                async for batch in watcher.changes():
                    rules_changed = False
                    for rel in batch.changed | batch.deleted:
                        rule_dir = rules.rule_file_dir(rel)
                        if rule_dir is not None:
                            rules.reload_dir(rule_dir)
                            rules_changed = True
                    try:
                        if batch.overflow or rules_changed:  # what is indexed may have changed anywhere
                            await self.index(entry, None, requested=False)
                        else:
                            paths = sorted(batch.changed | batch.deleted)
                            if paths:
                                await self.index(entry, paths, requested=False)
                    except DiskFull:
                        pass  # logged once when it happened
                    except TreeragError as exc:
                        logger.warning("update of %s failed: %s", entry.root, exc)
            except OSError as exc:
                logger.warning("cannot watch %s: %s", entry.root, exc, extra={"project": str(entry.root)})
            finally:
                watcher.close()
                entry.watcher = None
                entry.watch_scope = None

    def _stop_watch(self, entry: ProjectEntry) -> None:
        if entry.watch_scope is not None:
            entry.watch_scope.cancel()
            entry.watch_scope = None

    def statistics(self) -> dict[str, Any]:
        loaded = sum(1 for e in self.entries.values() if e.loaded is not None)
        return {"known": len(self.entries), "loaded": loaded, "evicted": len(self.entries) - loaded,
                "evictions": self.evictions, "updates": self.updates}

    def records(self) -> list[dict[str, Any]]:
        return [e.record(e is self.current) for e in sorted(self.entries.values(), key=lambda e: str(e.root))]


_LOG_STANDARD = frozenset({"ts", "level", "logger", "msg", "exc"})


_SKIP_WORDS = {"too_large": "too large", "unreadable_or_secret": "unreadable or secret by content",
               "symlink_escape": "symlink out of the root", "symlink_loop": "symlink loop",
               "symlink_internal": "symlink inside the root", "special": "not a regular file"}


def _build_line(report: dict[str, Any]) -> str:
    """``N files, M symbols in S s; skipped: unreadable 1 (private/), secret 1 (.env), ignored 40``."""
    line = f"{report['files']} files, {report['symbols']} symbols in {report.get('seconds', 0):.1f} s"
    examples = report.get("skipped_examples") or {}
    parts = []
    for reason, count in sorted((report.get("skipped") or {}).items(), key=lambda kv: (kv[0] == "ignored", kv[0])):
        if count:
            shown = examples.get(reason) or []
            more = f", {', '.join(shown)}{', …' if count > len(shown) else ''}" if shown else ""
            parts.append(f"{_SKIP_WORDS.get(reason, reason)} {count}" + (f" ({more[2:]})" if more else ""))
    if parts:
        line += "; skipped: " + ", ".join(parts) + "; `treerag tree` shows what is indexed"
    return line


def _relay_log(fields: dict[str, Any], entry: ProjectEntry) -> None:
    """Write a worker's log record into the daemon's log, marked with its origin."""
    level = logging.getLevelName(str(fields.get("level", "info")).upper())
    extra = {k: v for k, v in fields.items() if k not in _LOG_STANDARD}
    extra.setdefault("project", str(entry.root))
    extra["origin"] = f"worker:{fields.get('logger', '?')}"
    logger.log(level if isinstance(level, int) else logging.INFO, "%s", fields.get("msg", ""), extra=extra)
