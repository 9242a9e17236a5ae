"""MemoryMonitor: keep the daemon and its workers inside ``memory_limit_mb``.

Usage is the RSS of the daemon plus its worker processes. Levels: normal
below 70% of the limit; warning below 90% (evict the least recently used
project that is not the current one); critical at or above (evict all but
the current project, shrink the context cache and hold it small, pause the
task queue; both until usage is back under the critical line). ``check``
runs after every load and index update, and on a slow timer that runs only
while projects are loaded (an idle daemon has none); each check first hands
the heap freed since the last one back to the kernel. The context cache is
bounded by its entry count, not checked on growth.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from treerag.context.cache import ContextCache
    from treerag.runtime.projects import ProjectManager
    from treerag.runtime.taskqueue import TaskQueue

__all__ = ["CRITICAL", "NORMAL", "WARNING", "MemoryMonitor", "pressure_level", "release_freed_heap"]

logger = logging.getLogger(__name__)

NORMAL, WARNING, CRITICAL = "normal", "warning", "critical"
WARNING_AT = 0.70
CRITICAL_AT = 0.90
CHECK_INTERVAL_S = 30.0
SHRUNK_CACHE_ENTRIES = 16


def pressure_level(usage: int, limit: int) -> str:
    if usage < WARNING_AT * limit:
        return NORMAL
    if usage < CRITICAL_AT * limit:
        return WARNING
    return CRITICAL


_malloc_trim: Any = None  # glibc's malloc_trim, looked up on first use; False where there is none


def release_freed_heap() -> None:
    """Hand the allocator's free pages back to the kernel (glibc ``malloc_trim``).

    What a load, an update or an eviction frees (SQLite's sort and temp
    memory, the rows and lists of a load, a dropped hot set) stays in glibc's
    free lists and keeps counting in RSS, which is what the limit is measured
    in: loading django left 2.9 MB of it. Trimming takes well under a millisecond
    and runs only with a check (after a load, an update, an eviction), never on
    a request path. ctypes is already imported by then (the inotify watcher).
    """
    global _malloc_trim
    if _malloc_trim is None:
        try:
            import ctypes

            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


def _default_usage() -> int:
    from treerag.metrics import process_stats

    stats = process_stats()
    return int(stats.get("total_rss_bytes") or stats.get("rss_bytes") or 0)


class MemoryMonitor:
    def __init__(self, manager: ProjectManager, limit_mb: float, *, cache: ContextCache | None = None,
                 queue: TaskQueue | None = None, usage: Callable[[], int] = _default_usage,
                 interval_s: float = CHECK_INTERVAL_S, release: Callable[[], None] = release_freed_heap) -> None:
        self.manager = manager
        self.limit = int(limit_mb * 1024 * 1024)
        self.cache = cache
        self.queue = queue
        self.usage = usage
        self.release = release
        self.interval_s = interval_s
        self.level = NORMAL
        self.last_usage = 0
        self.evictions = 0
        self.paused_queue = False
        self._cache_capacity: int | None = None  # the capacity to give back once out of Critical
        self.checks = 0
        manager.on_loaded.append(lambda entry: self.check())
        manager.on_changed.append(lambda entry, changed: self.check())

    def check(self) -> str:
        """Measure, act on the level, and return it."""
        self.checks += 1
        self.release()  # what was freed since the last check should not count as usage
        usage = self.usage()
        self.last_usage = usage
        level = pressure_level(usage, self.limit)
        if level != self.level:
            logger.info("memory pressure %s → %s (%.1f of %.0f MB)", self.level, level, usage / 2**20,
                        self.limit / 2**20, extra={"pressure": level})
        self.level = level
        current = self.manager.current
        if level == WARNING:
            victims = [e for e in self.manager.loaded_entries() if e is not current][:1]
            self._evict(victims, "memory pressure warning: least recently used")
        elif level == CRITICAL:
            victims = [e for e in self.manager.loaded_entries() if e is not current]
            self._evict(victims, "memory pressure critical: all but the current project")
            if self.cache is not None:
                if self._cache_capacity is None and self.cache.capacity > SHRUNK_CACHE_ENTRIES:
                    self._cache_capacity = self.cache.capacity  # held small, or it refills before the next check
                    self.cache.capacity = SHRUNK_CACHE_ENTRIES
                self.cache.shrink(SHRUNK_CACHE_ENTRIES)
            if self.queue is not None and not self.queue.paused:
                self.queue.pause()
                self.paused_queue = True
                logger.warning("paused the task queue until memory is back under %.0f%% of the limit",
                               CRITICAL_AT * 100)
        if level != CRITICAL and self.paused_queue and self.queue is not None:
            self.queue.resume()
            self.paused_queue = False
            logger.info("memory back under the critical line; task queue resumed")
        if level != CRITICAL and self._cache_capacity is not None and self.cache is not None:
            self.cache.capacity, self._cache_capacity = self._cache_capacity, None
        return level

    def _evict(self, victims: list[Any], reason: str) -> None:
        evicted = 0
        for entry in victims:
            if self.manager.evict(entry, reason):
                evicted += 1
        if evicted:
            self.evictions += evicted
            self.release()

    async def service(self, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Re-check on a slow timer, but only while some project is loaded."""
        task_status.started()
        while True:
            if not self.manager.loaded_entries():
                await self.manager.wait_loaded()
            await anyio.sleep(self.interval_s)
            self.check()

    def statistics(self) -> dict[str, Any]:
        return {
            "pressure": self.level,
            "usage_bytes": self.last_usage,
            "limit_bytes": self.limit,
            "evictions": self.manager.evictions,
            "pressure_evictions": self.evictions,
            "checks": self.checks,
            **{k: v for k, v in self.manager.statistics().items() if k in ("loaded", "evicted")},
        }
