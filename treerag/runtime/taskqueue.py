"""TaskQueue: bounded, priority ordered, concurrency limited background work.

Tasks are async callables with a kind (``index``, ``enrich`` …) and a
priority (higher runs first). Within a priority they run FIFO; waiting tasks
age (``aging_per_s`` priority points a second), so low priorities are never
starved. ``submit`` on a full queue returns False instead of blocking. A task
that raises, times out or whose worker process dies is logged and counted,
and the queue moves on. The dispatcher sleeps on an event while there is
nothing to start: no polling.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

__all__ = ["Task", "TaskQueue"]

logger = logging.getLogger(__name__)

FAILED_KEPT = 20


@dataclass(slots=True)
class Task:
    kind: str
    priority: int
    run: Callable[[], Awaitable[Any]]
    timeout_s: float | None = None
    label: str = ""
    enqueued: float = 0.0
    seq: int = 0


@dataclass
class _Counts:
    done: int = 0
    failed: int = 0
    timed_out: int = 0
    rejected: int = 0
    dropped: int = 0
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)

    def bump(self, kind: str, what: str, n: int = 1) -> None:
        slot = self.by_kind.setdefault(kind, {"pending": 0, "running": 0, "done": 0, "failed": 0})
        slot[what] = slot.get(what, 0) + n


class TaskQueue:
    def __init__(self, *, max_pending: int = 10_000, concurrency: int = 1, aging_per_s: float = 1.0,
                 default_timeout_s: float | None = 600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_pending = max_pending
        self.concurrency = concurrency
        self.aging_per_s = aging_per_s
        self.default_timeout_s = default_timeout_s
        self.clock = clock
        self.paused = False
        self.running = 0
        self.counts = _Counts()
        self.failures: deque[dict[str, Any]] = deque(maxlen=FAILED_KEPT)
        self._levels: dict[int, deque[Task]] = {}
        self._pending = 0
        self._seq = itertools.count()
        self._wake = anyio.Event()
        self._tg: Any = None

    # -- submitting ----------------------------------------------------------------

    def submit(self, kind: str, priority: int, run: Callable[[], Awaitable[Any]], *,
               timeout_s: float | None = None, label: str = "") -> bool:
        """Queue a task; False (and counted as rejected) when the queue is full."""
        if self._pending >= self.max_pending:
            self.counts.rejected += 1
            logger.warning("task queue full (%d pending): rejected %s %s", self._pending, kind, label)
            return False
        task = Task(kind, priority, run, timeout_s if timeout_s is not None else self.default_timeout_s, label,
                    self.clock(), next(self._seq))
        self._levels.setdefault(priority, deque()).append(task)
        self._pending += 1
        self.counts.bump(kind, "pending")
        self._wake.set()
        return True

    def _pop_next(self) -> Task | None:
        """The head with the highest aged priority; FIFO within a level, so only heads compete."""
        now = self.clock()
        best: tuple[float, int, int] | None = None
        for level, tasks in self._levels.items():
            if tasks:
                head = tasks[0]
                score = (level + (now - head.enqueued) * self.aging_per_s, -head.seq, level)
                if best is None or score > best:
                    best = score
        if best is None:
            return None
        task = self._levels[best[2]].popleft()
        self._pending -= 1
        self.counts.bump(task.kind, "pending", -1)
        return task

    # -- control -------------------------------------------------------------------

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self._wake.set()

    def drain(self, kind: str | None = None) -> int:
        """Drop pending tasks (of one kind, or all); running ones finish."""
        dropped = 0
        for tasks in self._levels.values():
            keep = deque(t for t in tasks if kind is not None and t.kind != kind)
            for t in tasks:
                if kind is None or t.kind == kind:
                    self.counts.bump(t.kind, "pending", -1)
                    dropped += 1
            tasks.clear()
            tasks.extend(keep)
        self._pending -= dropped
        self.counts.dropped += dropped
        return dropped

    # -- running -------------------------------------------------------------------

    async def service(self, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Dispatch until cancelled; on cancellation in-flight tasks are cancelled too."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            task_status.started()
            while True:
                await self._wake.wait()
                self._wake = anyio.Event()
                while not self.paused and self.running < self.concurrency:
                    task = self._pop_next()
                    if task is None:
                        break
                    self.running += 1
                    self.counts.bump(task.kind, "running")
                    tg.start_soon(self._run, task)

    async def _run(self, task: Task) -> None:
        started = time.perf_counter()
        try:
            with anyio.fail_after(task.timeout_s):
                await task.run()
            self.counts.done += 1
            self.counts.bump(task.kind, "done")
        except TimeoutError:
            self._failed(task, f"timed out after {task.timeout_s}s")
            self.counts.timed_out += 1
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as exc:
            self._failed(task, f"{type(exc).__name__}: {exc}")
        finally:
            self.running -= 1
            self.counts.bump(task.kind, "running", -1)
            self._wake.set()
            logger.debug("task %s %s took %.3fs", task.kind, task.label, time.perf_counter() - started)

    def _failed(self, task: Task, why: str) -> None:
        self.counts.failed += 1
        self.counts.bump(task.kind, "failed")
        self.failures.append({"kind": task.kind, "label": task.label, "error": why, "time": time.time()})
        logger.warning("task %s %s failed: %s", task.kind, task.label, why, extra={"task_kind": task.kind})

    def statistics(self) -> dict[str, Any]:
        return {
            "pending": self._pending,
            "running": self.running,
            "done": self.counts.done,
            "failed": self.counts.failed,
            "timed_out": self.counts.timed_out,
            "rejected": self.counts.rejected,
            "dropped": self.counts.dropped,
            "paused": self.paused,
            "concurrency": self.concurrency,
            "by_kind": {k: dict(v) for k, v in self.counts.by_kind.items()},
            "by_priority": {str(level): len(tasks) for level, tasks in sorted(self._levels.items()) if tasks},
        }
