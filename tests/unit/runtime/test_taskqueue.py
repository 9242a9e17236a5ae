"""TaskQueue: order, aging, limits, failures, timeouts, drain, pause."""

from __future__ import annotations

import anyio
import pytest

from treerag.runtime.taskqueue import TaskQueue

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def run_all(queue: TaskQueue, expected: int) -> None:
    async with anyio.create_task_group() as tg:
        await tg.start(queue.service)
        with anyio.fail_after(5):
            while queue.counts.done + queue.counts.failed < expected:
                await anyio.sleep(0.01)
        tg.cancel_scope.cancel()


def recorder(log: list[str], name: str):  # type: ignore[no-untyped-def]
    async def run() -> None:
        log.append(name)

    return run


async def test_priority_then_fifo():
    queue, log = TaskQueue(aging_per_s=0.0), []
    for name, prio in [("low1", 1), ("high1", 100), ("mid", 50), ("high2", 100), ("low2", 1)]:
        assert queue.submit("k", prio, recorder(log, name))
    await run_all(queue, 5)
    assert log == ["high1", "high2", "mid", "low1", "low2"]


async def test_aging_lets_old_low_priority_tasks_run():
    clock = Clock()
    queue, log = TaskQueue(aging_per_s=1.0, clock=clock), []
    queue.submit("k", 1, recorder(log, "old-low"))
    clock.now = 200.0  # waited 200 s: its aged priority (201) beats a fresh 100
    queue.submit("k", 100, recorder(log, "new-high"))
    await run_all(queue, 2)
    assert log == ["old-low", "new-high"]


async def test_full_queue_rejects_without_blocking():
    queue = TaskQueue(max_pending=2)
    assert queue.submit("k", 1, recorder([], "a"))
    assert queue.submit("k", 1, recorder([], "b"))
    assert not queue.submit("k", 1, recorder([], "c"))
    assert queue.statistics()["rejected"] == 1


async def test_failing_and_hanging_tasks_are_counted_and_the_queue_moves_on():
    queue, log = TaskQueue(), []

    async def boom() -> None:
        raise RuntimeError("parser exploded")

    async def hang() -> None:
        await anyio.sleep(60)

    queue.submit("index", 10, boom, label="a")
    queue.submit("index", 9, hang, timeout_s=0.1, label="b")
    queue.submit("index", 8, recorder(log, "after"))
    await run_all(queue, 3)
    stats = queue.statistics()
    assert log == ["after"]
    assert stats["failed"] == 2 and stats["timed_out"] == 1 and stats["done"] == 1
    assert [f["label"] for f in queue.failures] == ["a", "b"]
    assert "parser exploded" in queue.failures[0]["error"]


async def test_concurrency_limit():
    queue = TaskQueue(concurrency=2)
    peak = 0
    running = 0

    async def job() -> None:
        nonlocal peak, running
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.02)
        running -= 1

    for _ in range(6):
        queue.submit("k", 1, job)
    await run_all(queue, 6)
    assert peak == 2


async def test_drain_and_pause():
    queue, log = TaskQueue(), []
    queue.pause()
    for i in range(5):
        queue.submit("enrich" if i % 2 else "index", 1, recorder(log, str(i)))
    assert queue.drain("enrich") == 2
    stats = queue.statistics()
    assert stats["pending"] == 3 and stats["by_kind"]["enrich"]["pending"] == 0
    async with anyio.create_task_group() as tg:
        await tg.start(queue.service)
        await anyio.sleep(0.05)
        assert log == []  # paused: nothing starts
        queue.resume()
        with anyio.fail_after(5):
            while queue.counts.done < 3:
                await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    assert log == ["0", "2", "4"]
    assert queue.drain() == 0
