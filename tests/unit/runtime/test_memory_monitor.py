"""MemoryMonitor levels and actions, with an injected usage reading."""

from __future__ import annotations

from pathlib import Path

import pytest

from treerag.context.cache import ContextCache
from treerag.runtime.memory import CRITICAL, NORMAL, WARNING, MemoryMonitor, pressure_level
from treerag.runtime.projects import ProjectEntry, ProjectManager
from treerag.runtime.taskqueue import TaskQueue

MB = 1024 * 1024


@pytest.mark.parametrize(("usage", "level"), [
    pytest.param(69, NORMAL, id="69%"), pytest.param(70, WARNING, id="70%"),
    pytest.param(89, WARNING, id="89%"), pytest.param(90, CRITICAL, id="90%"),
])
def test_levels(usage, level):
    assert pressure_level(usage * MB, 100 * MB) == level


class FakeLoaded:
    def close(self) -> None:
        pass


def manager_with(tmp_path: Path, n: int) -> ProjectManager:
    manager = ProjectManager(tmp_path / "cache")
    for i in range(n):
        root = tmp_path / f"p{i}"
        entry = ProjectEntry(root=root, dir=tmp_path / f"d{i}", state="loaded", loaded=FakeLoaded())  # type: ignore[arg-type]
        entry.last_used = float(i)
        manager.entries[root] = entry
    manager.current = manager.entries[tmp_path / f"p{n - 1}"]
    return manager


def test_warning_evicts_the_least_recently_used(tmp_path):
    manager = manager_with(tmp_path, 3)
    monitor = MemoryMonitor(manager, 100, usage=lambda: 75 * MB)
    assert monitor.check() == WARNING
    assert [e.root.name for e in manager.loaded_entries()] == ["p1", "p2"]
    assert manager.entries[tmp_path / "p0"].state == "evicted"


def test_critical_keeps_only_current_shrinks_cache_and_pauses_queue(tmp_path):
    manager = manager_with(tmp_path, 4)
    cache, queue = ContextCache(256), TaskQueue()
    for i in range(100):
        cache.put("r", "prompt", str(i), "text", [])
    usage = [95 * MB]
    monitor = MemoryMonitor(manager, 100, cache=cache, queue=queue, usage=lambda: usage[0])
    assert monitor.check() == CRITICAL
    assert [e.root.name for e in manager.loaded_entries()] == ["p3"]
    assert cache.statistics()["entries"] <= 16
    for i in range(100, 150):  # still Critical between checks: the cache does not refill
        cache.put("r", "prompt", str(i), "text", [])
    assert cache.statistics()["entries"] <= 16
    assert queue.paused
    usage[0] = 60 * MB
    assert monitor.check() == NORMAL
    assert not queue.paused and cache.capacity == 256
    assert manager.evictions == 3


@pytest.mark.parametrize(("usage", "level"), [
    pytest.param(70 * MB - 1, NORMAL, id="one-byte-below-warning"), pytest.param(70 * MB, WARNING, id="at-warning"),
    pytest.param(90 * MB - 1, WARNING, id="one-byte-below-critical"), pytest.param(90 * MB, CRITICAL, id="at-critical"),
    pytest.param(0, NORMAL, id="zero"), pytest.param(500 * MB, CRITICAL, id="far-over"),
])
def test_exact_boundaries(usage, level):
    assert pressure_level(usage, 100 * MB) == level


def test_warning_never_evicts_the_current_project_even_when_it_is_the_oldest(tmp_path):
    manager = manager_with(tmp_path, 3)
    manager.current = manager.entries[tmp_path / "p0"]
    monitor = MemoryMonitor(manager, 100, usage=lambda: 80 * MB)
    assert monitor.check() == WARNING
    assert sorted(e.root.name for e in manager.loaded_entries()) == ["p0", "p2"]  # p1: oldest but p0


def test_repeated_checks_under_pressure_keep_the_current_project(tmp_path):
    manager = manager_with(tmp_path, 4)
    monitor = MemoryMonitor(manager, 100, usage=lambda: 99 * MB)
    for _ in range(5):
        assert monitor.check() == CRITICAL
    assert [e.root.name for e in manager.loaded_entries()] == ["p3"]
    assert monitor.evictions == 3 and monitor.checks == 5


def test_spike_then_drop(tmp_path):
    manager = manager_with(tmp_path, 3)
    cache, queue = ContextCache(256), TaskQueue()
    readings = iter([40 * MB, 95 * MB, 50 * MB, 60 * MB])
    monitor = MemoryMonitor(manager, 100, cache=cache, queue=queue, usage=lambda: next(readings))
    assert [monitor.check() for _ in range(4)] == [NORMAL, CRITICAL, NORMAL, NORMAL]
    assert [e.root.name for e in manager.loaded_entries()] == ["p2"]  # evicted at the spike only
    assert monitor.evictions == 2
    assert not queue.paused and cache.capacity == 256
    assert monitor.statistics()["usage_bytes"] == 60 * MB and monitor.statistics()["pressure"] == NORMAL


def test_freed_heap_is_released_before_measuring_and_after_evicting(tmp_path):
    manager = manager_with(tmp_path, 3)
    calls: list[str] = []
    readings = iter([50 * MB, 95 * MB])

    def usage() -> int:
        calls.append("measure")
        return next(readings)

    monitor = MemoryMonitor(manager, 100, usage=usage, release=lambda: calls.append("release"))
    monitor.check()
    assert calls == ["release", "measure"]
    monitor.check()  # critical: evicts two, then releases what they held
    assert calls[2:] == ["release", "measure", "release"]


def test_release_freed_heap_runs_here():
    from treerag.runtime.memory import release_freed_heap

    release_freed_heap()  # glibc: malloc_trim; elsewhere a no-op
    release_freed_heap()
