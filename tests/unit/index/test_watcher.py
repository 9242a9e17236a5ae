"""The project watcher against real files and real inotify; overflow and the watch limit are simulated."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import struct
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from treerag.index import inotify, watcher
from treerag.index.inotify import IN_CLOSE_WRITE, IN_CREATE, IN_ISDIR, IN_Q_OVERFLOW, InotifyEvent, parse_events
from treerag.index.watcher import ChangeBatch, ProjectWatcher

pytestmark = [pytest.mark.timeout(20), pytest.mark.skipif(not inotify.available(), reason="needs Linux inotify")]

Batches = AsyncIterator[ChangeBatch]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def nothing_ignored(rel: str, is_dir: bool) -> bool:
    return False


@asynccontextmanager
async def watching(
    root: Path,
    dirs: tuple[str, ...] = (),
    ignored: Callable[[str, bool], bool] = nothing_ignored,
    debounce_ms: int = 20,
) -> AsyncIterator[tuple[ProjectWatcher, Batches]]:
    w = ProjectWatcher(root, ignored=ignored, debounce_ms=debounce_ms)
    w.start(dirs)
    batches = w.changes()
    try:
        yield w, batches
    finally:
        w.close()
        await batches.aclose()  # type: ignore[attr-defined]


async def collect(batches: Batches, until: Callable[[ChangeBatch], bool], within: float = 5.0) -> ChangeBatch:
    """Merge batches until ``until(merged)`` holds (the kernel may split one burst across windows)."""
    merged = ChangeBatch()
    with anyio.fail_after(within):
        while not until(merged):
            batch = await anext(batches)
            merged.changed |= batch.changed
            merged.deleted |= batch.deleted
            merged.new_dirs |= batch.new_dirs
            merged.overflow |= batch.overflow
    return merged


async def assert_quiet(batches: Batches, seconds: float = 0.3) -> None:
    """No batch arrives for ``seconds`` (ends the iterator: use last)."""
    with anyio.move_on_after(seconds):
        batch = await anext(batches)
        pytest.fail(f"unexpected batch {batch}")


def write(path: Path, text: str = "x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# -- the event parser -------------------------------------------------------------------------


def raw_event(wd: int, mask: int, name: bytes = b"", cookie: int = 0, pad: int = 16) -> bytes:
    padded = name + b"\0" * (-(len(name) + 1) % pad + 1) if name else b""
    return struct.pack("iIII", wd, mask, cookie, len(padded)) + padded


@pytest.mark.parametrize(
    ("buf", "expected"),
    [
        pytest.param(raw_event(-1, IN_Q_OVERFLOW), [InotifyEvent(-1, IN_Q_OVERFLOW, 0, "")], id="overflow-no-name"),
        pytest.param(
            raw_event(3, IN_CLOSE_WRITE, b"a.py"), [InotifyEvent(3, IN_CLOSE_WRITE, 0, "a.py")], id="padded-name"
        ),
        pytest.param(
            raw_event(1, IN_CREATE | IN_ISDIR, b"sub", cookie=7) + raw_event(2, IN_CLOSE_WRITE, b"exactly-15-byte"),
            [InotifyEvent(1, IN_CREATE | IN_ISDIR, 7, "sub"), InotifyEvent(2, IN_CLOSE_WRITE, 0, "exactly-15-byte")],
            id="two-events",
        ),
        pytest.param(
            raw_event(1, IN_CLOSE_WRITE, b"f") + b"\x01\x00",
            [InotifyEvent(1, IN_CLOSE_WRITE, 0, "f")],
            id="trailing-fragment",
        ),
        pytest.param(
            raw_event(1, IN_CLOSE_WRITE, b"caf\xe9"),
            [InotifyEvent(1, IN_CLOSE_WRITE, 0, "caf\udce9")],
            id="undecodable-name",
        ),
        pytest.param(b"", [], id="empty"),
    ],
)
def test_parse_events(buf: bytes, expected: list[InotifyEvent]) -> None:
    assert parse_events(buf) == expected


def test_public_surface() -> None:
    assert sorted(watcher.__all__) == ["ChangeBatch", "ProjectWatcher", "WatchLimitReached"]


# -- single changes ---------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("act", "expected_changed", "expected_deleted"),
    [
        pytest.param(lambda root: write(root / "old.py", "changed"), {"old.py"}, set(), id="modify"),
        pytest.param(lambda root: write(root / "sub" / "new.py"), {"sub/new.py"}, set(), id="create"),
        pytest.param(lambda root: (root / "old.py").unlink(), set(), {"old.py"}, id="delete"),
        pytest.param(
            lambda root: (root / "old.py").rename(root / "sub" / "new.py"), {"sub/new.py"}, {"old.py"}, id="rename"
        ),
        pytest.param(lambda root: os.link(root / "old.py", root / "hard.py"), {"hard.py"}, set(), id="hard-link"),
    ],
)
async def test_single_change(
    tmp_path: Path, act: Callable[[Path], None], expected_changed: set[str], expected_deleted: set[str]
) -> None:
    write(tmp_path / "old.py")
    (tmp_path / "sub").mkdir()
    async with watching(tmp_path, ("sub",)) as (_, batches):
        act(tmp_path)
        batch = await collect(batches, lambda b: b.changed >= expected_changed and b.deleted >= expected_deleted)
    assert (batch.changed, batch.deleted, batch.new_dirs, batch.overflow) == (
        expected_changed,
        expected_deleted,
        set(),
        False,
    )


@pytest.mark.anyio
async def test_new_directory_with_files_already_inside(tmp_path: Path) -> None:
    async with watching(tmp_path) as (w, batches):
        os.makedirs(tmp_path / "a" / "b" / "c")
        write(tmp_path / "a" / "b" / "f.py")
        write(tmp_path / "a" / "b" / "c" / "g.py")
        batch = await collect(batches, lambda b: b.changed >= {"a/b/f.py", "a/b/c/g.py"})
        assert batch.new_dirs == {"a", "a/b", "a/b/c"}
        assert w.statistics()["watches"] == 4
        write(tmp_path / "a" / "b" / "c" / "later.py")
        later = await collect(batches, lambda b: bool(b.changed))
    assert later.changed == {"a/b/c/later.py"}


@pytest.mark.anyio
async def test_directory_moved_in_from_outside(tmp_path: Path) -> None:
    root, outside = tmp_path / "project", tmp_path / "outside"
    root.mkdir()
    write(outside / "d" / "f2.py")
    write(outside / "d" / "e" / "f1.py")
    async with watching(root) as (_, batches):
        (outside / "d").rename(root / "d")
        batch = await collect(batches, lambda b: b.changed >= {"d/f2.py", "d/e/f1.py"})
        assert batch.new_dirs == {"d", "d/e"}
        write(root / "d" / "e" / "g.py")
        later = await collect(batches, lambda b: bool(b.changed))
    assert later.changed == {"d/e/g.py"}


@pytest.mark.anyio
async def test_directory_renamed_within_tree_follows_new_name(tmp_path: Path) -> None:
    write(tmp_path / "src" / "pkg" / "x.py")
    async with watching(tmp_path, ("src", "src/pkg")) as (w, batches):
        (tmp_path / "src").rename(tmp_path / "lib")
        batch = await collect(batches, lambda b: "lib/pkg/x.py" in b.changed)
        assert batch.deleted == {"src"}
        assert w.statistics()["watches"] == 3
        write(tmp_path / "lib" / "pkg" / "y.py")
        later = await collect(batches, lambda b: bool(b.changed))
    assert later.changed == {"lib/pkg/y.py"}


@pytest.mark.anyio
async def test_directory_deleted_drops_its_watches(tmp_path: Path) -> None:
    write(tmp_path / "sub" / "deep" / "x.py")
    async with watching(tmp_path, ("sub", "sub/deep")) as (w, batches):
        shutil.rmtree(tmp_path / "sub")
        batch = await collect(batches, lambda b: "sub" in b.deleted)
        assert {"sub", "sub/deep", "sub/deep/x.py"} <= batch.deleted
        assert w.statistics()["watches"] == 1
    assert not batch.changed


@pytest.mark.anyio
async def test_ignored_paths_are_not_reported_nor_watched(tmp_path: Path) -> None:
    def ignored(rel: str, is_dir: bool) -> bool:
        return rel.split("/")[0] == "build" or rel.endswith(".log")

    async with watching(tmp_path, ignored=ignored) as (w, batches):
        write(tmp_path / "build" / "out" / "a.o")
        write(tmp_path / "debug.log")
        write(tmp_path / "ok.py")
        batch = await collect(batches, lambda b: "ok.py" in b.changed)
        assert (batch.changed, batch.new_dirs) == ({"ok.py"}, set())
        assert w.statistics()["watches"] == 1
        write(tmp_path / "build" / "later.o")
        write(tmp_path / "ok2.py")
        later = await collect(batches, lambda b: "ok2.py" in b.changed)
    assert later.changed == {"ok2.py"}


# -- debounce and idleness --------------------------------------------------------------------


@pytest.mark.anyio
async def test_debounce_collapses_quick_writes(tmp_path: Path) -> None:
    target = tmp_path / "f.py"
    write(target)
    async with watching(tmp_path, debounce_ms=100) as (w, batches):
        for i in range(100):
            target.write_text(str(i))
            await anyio.sleep(0.001)
        batch = await collect(batches, lambda b: bool(b.changed))
        assert batch.changed == {"f.py"}
        assert w.statistics()["batches"] == 1
        await assert_quiet(batches)


@pytest.mark.anyio
async def test_continuous_stream_still_flushes(tmp_path: Path) -> None:
    target = tmp_path / "f.py"
    done = anyio.Event()

    async def keep_writing() -> None:
        for i in range(200):  # every 10 ms for 2 s, well inside the 50 ms debounce
            target.write_text(str(i))
            await anyio.sleep(0.01)
        done.set()

    async with watching(tmp_path, debounce_ms=50) as (_, batches), anyio.create_task_group() as tg:
        tg.start_soon(keep_writing)
        batch = await collect(batches, lambda b: bool(b.changed), within=1.5)  # cap: 10 x 50 ms
        assert batch.changed == {"f.py"}
        assert not done.is_set()
        tg.cancel_scope.cancel()


def our_timers() -> list[asyncio.TimerHandle]:
    return [h for h in asyncio.get_running_loop()._scheduled if not h.cancelled()]  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_idle_watcher_has_no_thread_no_timer_and_never_wakes(tmp_path: Path) -> None:
    threads = threading.active_count()
    send, receive = anyio.create_memory_object_stream[ChangeBatch](10)

    async def consume(batches: Batches) -> None:
        async for batch in batches:
            await send.send(batch)

    async with watching(tmp_path, ("",)) as (w, batches), anyio.create_task_group() as tg, send, receive:
        tg.start_soon(consume, batches)
        await anyio.sleep(1.0)
        assert our_timers() == []
        assert w.statistics()["wakes"] == 0
        assert threading.active_count() == threads

        write(tmp_path / "f.py")
        with anyio.fail_after(5):
            assert "f.py" in (await receive.receive()).changed
        await anyio.sleep(0.5)
        assert our_timers() == []  # the debounce timer is gone once the batch is out
        wakes = w.statistics()["wakes"]
        await anyio.sleep(0.5)
        assert w.statistics()["wakes"] == wakes
        assert threading.active_count() == threads
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_close_ends_a_waiting_consumer(tmp_path: Path) -> None:
    w = ProjectWatcher(tmp_path, ignored=nothing_ignored)
    w.start([])
    seen: list[ChangeBatch] = []

    async def consume() -> None:
        async for batch in w.changes():
            seen.append(batch)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await anyio.sleep(0.1)
            w.close()
    assert seen == []
    assert w.statistics()["watches"] == 0


# -- overflow and the watch limit -------------------------------------------------------------


@pytest.mark.anyio
async def test_queue_overflow_is_reported(tmp_path: Path) -> None:
    async with watching(tmp_path) as (w, batches):
        w._handle(parse_events(raw_event(-1, IN_Q_OVERFLOW)))
        batch = await collect(batches, lambda b: b.overflow)
        assert (batch.changed, batch.deleted) == (set(), set())
        assert w.statistics()["overflows"] == 1
        write(tmp_path / "after.py")
        after = await collect(batches, lambda b: bool(b.changed))
    assert not after.overflow  # the flag belongs to one batch


@pytest.mark.anyio
async def test_watch_limit_keeps_the_watches_added(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    limit = watcher._max_user_watches()
    assert limit is not None
    w = ProjectWatcher(tmp_path, ignored=nothing_ignored)
    assert w._inotify is not None
    real_add = w._inotify.add_watch

    def add_watch(path: str, mask: int) -> int:
        if os.path.basename(path) in ("c", "new"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real_add(path, mask)

    monkeypatch.setattr(w._inotify, "add_watch", add_watch)
    batches = w.changes()
    try:
        w.start(["a", "b", "c"])
        stats = w.statistics()
        assert (stats["watches"], stats["degraded"], stats["dropped"]) == (3, True, 1)
        assert w.limit_error is not None
        message = str(w.limit_error)
        assert "max_user_watches" in message
        assert "sysctl fs.inotify.max_user_watches=524288" in message
        assert f"{limit:,}" in message

        write(tmp_path / "a" / "still.py")
        batch = await collect(batches, lambda b: bool(b.changed))
        assert (batch.changed, batch.overflow) == ({"a/still.py"}, False)  # start() never flags overflow

        os.mkdir(tmp_path / "new")
        write(tmp_path / "new" / "f.py")
        batch = await collect(batches, lambda b: b.overflow)
        assert "new" in batch.new_dirs
        assert w.statistics()["dropped"] == 2
    finally:
        w.close()
        await batches.aclose()  # type: ignore[attr-defined]


# -- fallback ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_watchfiles_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inotify, "available", lambda: False)
    send, receive = anyio.create_memory_object_stream[ChangeBatch](10)

    async def consume(batches: Batches) -> None:
        async for batch in batches:
            await send.send(batch)

    async with watching(tmp_path, debounce_ms=50) as (w, batches), anyio.create_task_group() as tg, send, receive:
        assert w.statistics()["backend"] == "watchfiles"
        tg.start_soon(consume, batches)
        await anyio.sleep(0.5)  # awatch arms its watch only once iterated, in its thread: nothing to wait on
        write(tmp_path / "sub" / "f.py")
        seen = ChangeBatch()
        with anyio.fail_after(10):
            while "sub/f.py" not in seen.changed:
                batch = await receive.receive()
                seen.changed |= batch.changed
                seen.new_dirs |= batch.new_dirs
        assert seen.new_dirs == {"sub"}
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_start_is_idempotent_for_reconcile(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    async with watching(tmp_path, ("", "a")) as (w, batches):
        w.start(["", "a"])  # what a consumer does after reconciling an overflow
        assert w.statistics()["watches"] == 2
        write(tmp_path / "a" / "f.py")
        batch = await collect(batches, lambda b: bool(b.changed))
    assert batch.changed == {"a/f.py"}
