"""Watch one project's tree and hand out debounced batches of changed paths, at no cost while idle.

Threading and timer model
-------------------------
On Linux each ``ProjectWatcher`` owns one inotify instance (one fd; closing it
drops every watch, so a project unloads without cross-project bookkeeping —
at the price of one fd and one of the per-user ``max_user_instances``, 128 by
default, per loaded project). The fd is non-blocking and read on the
caller's event loop: ``changes()`` awaits ``anyio.wait_readable(fd)``, which is
``loop.add_reader`` on asyncio. While nothing happens there is no thread, no
timer and no wake-up — the task sleeps in the loop's selector. Once events
are pending the task stops watching the fd and sleeps one debounce window at
a time, draining the queue after each: a window with new events restarts the
debounce, a quiet one flushes the batch (so a batch goes out between one and
two windows after its last event), and ``MAX_WAIT_FACTOR * debounce_ms`` after
the first event it flushes anyway, so a continuous stream still flushes. That
sleep is the only timer and exists only while events are pending; a burst
costs one wake-up per window rather than one per event. The bookkeeping,
including listing a directory that appears, runs inline on the loop thread
(a few ms per thousand entries).

Elsewhere, or when no inotify instance can be opened, the watcher falls back
to watchfiles' ``awatch``, which costs a worker thread pinned per project,
``1000 / debounce_ms`` wake-ups per second even when idle, one OS watch per
directory including ignored ones, and never reports a queue overflow.

Consumer contract
-----------------
Apply a batch's ``deleted`` before its ``changed`` (a path deleted then
re-created within one batch is in both). ``deleted`` holds directories too:
drop everything under them. A path in ``changed`` may be gone again by the time
it is read. ``overflow`` means events were lost: reconcile with a stat walk,
then pass the directories found back to ``start()``, which is idempotent, to
re-arm the watches the lost events would have added. ``start()`` never flags
an overflow itself, so that reconcile cannot loop.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from treerag.errors import TreeragError
from treerag.index import inotify
from treerag.index.inotify import (
    IN_CLOSE_WRITE,
    IN_CREATE,
    IN_DELETE,
    IN_DELETE_SELF,
    IN_DONT_FOLLOW,
    IN_EXCL_UNLINK,
    IN_IGNORED,
    IN_ISDIR,
    IN_MOVE_SELF,
    IN_MOVED_FROM,
    IN_MOVED_TO,
    IN_ONLYDIR,
    IN_Q_OVERFLOW,
    IN_UNMOUNT,
    Inotify,
    InotifyEvent,
)

__all__ = ["ChangeBatch", "ProjectWatcher", "WatchLimitReached"]

logger = logging.getLogger(__name__)

MAX_WAIT_FACTOR = 10
MAX_READS_PER_DRAIN = 16  # x inotify.READ_SIZE: more than the default queue of 16,384 events
MAX_USER_WATCHES = "/proc/sys/fs/inotify/max_user_watches"
_DIR_MASK = (
    IN_CLOSE_WRITE
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_MOVE_SELF
    | IN_ONLYDIR
    | IN_DONT_FOLLOW
    | IN_EXCL_UNLINK
)
_VANISHED = (errno.ENOENT, errno.ENOTDIR)


class WatchLimitReached(TreeragError):
    """The per-user inotify watch limit is used up: directories past it go unwatched."""

    code = "watch_limit"
    path: str | None = None
    limit: int | None = None

    def __init__(self, path: str, limit: int | None) -> None:
        self.path = path
        self.limit = limit
        shown = f"{limit:,}" if limit is not None else "unknown"
        super().__init__(
            f"inotify watch limit reached (fs.inotify.max_user_watches = {shown}) while watching "
            f"{path or '.'!r}; changes in unwatched directories are missed until a rescan. "
            "Raise it with: sudo sysctl fs.inotify.max_user_watches=524288 "
            "(persist it in /etc/sysctl.d/)"
        )


@dataclass
class ChangeBatch:
    """What changed during one debounce window (paths relative posix to the project root)."""

    changed: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    overflow: bool = False
    new_dirs: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.changed or self.deleted or self.new_dirs or self.overflow)

    def _delete(self, rel: str, is_dir: bool) -> None:
        self.changed.discard(rel)
        if is_dir:
            self.new_dirs.discard(rel)
            prefix = rel + "/"
            if any(p.startswith(prefix) for p in self.changed):
                self.changed = {p for p in self.changed if not p.startswith(prefix)}
            if any(d.startswith(prefix) for d in self.new_dirs):
                self.new_dirs = {d for d in self.new_dirs if not d.startswith(prefix)}
        self.deleted.add(rel)


def _max_user_watches() -> int | None:
    try:
        return int(Path(MAX_USER_WATCHES).read_text())
    except (OSError, ValueError):
        return None


class ProjectWatcher:
    """Watches the directories of one project and yields ``ChangeBatch``es from ``changes()``.

    ``ignored(rel, is_dir)`` filters every reported path and every directory
    that would be watched. Call ``start``, ``changes`` and ``close`` from the
    event loop's thread; ``changes()`` has one consumer at a time.
    """

    def __init__(self, root: Path, *, ignored: Callable[[str, bool], bool], debounce_ms: int = 50) -> None:
        self.root = Path(root)
        self._root = os.fspath(root)
        self._ignored = ignored
        self._debounce_ms = debounce_ms
        self._inotify: Inotify | None = None
        if inotify.available():
            try:
                self._inotify = Inotify()
            except OSError as exc:
                logger.warning("inotify unavailable (%s); watching %s with watchfiles instead", exc, root)
        self._wds: dict[int, str] = {}
        self._dirs: dict[str, int] = {}
        self._pending = ChangeBatch()
        self._closed = False
        self._waiting = False
        self._stop = threading.Event()  # the watchfiles fallback's stop signal
        self.degraded = False
        self.limit_error: WatchLimitReached | None = None
        self._counts = dict.fromkeys(("events", "batches", "overflows", "dropped", "wakes"), 0)

    # -- public API -------------------------------------------------------------------------

    def start(self, dirs: Iterable[str]) -> None:
        """Watch the root and each directory given; idempotent, so it also re-arms after a reconcile."""
        if self._inotify is None:
            return  # watchfiles watches the whole tree from the root
        self._watch("", report=False)
        for rel in dirs:
            self._watch(rel, report=False)

    async def changes(self) -> AsyncIterator[ChangeBatch]:
        """Yield a batch per debounce window until ``close()``."""
        if self._inotify is None:
            async for fallback_batch in self._watchfiles_changes():
                yield fallback_batch
            return
        while (batch := await self._next_batch()) is not None:
            yield batch

    def close(self) -> None:
        """Drop every watch and close the fd; a pending ``changes()`` ends."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._inotify is not None:
            if self._waiting:
                anyio.notify_closing(self._inotify.fd)
            self._inotify.close()
        self._wds.clear()
        self._dirs.clear()

    def statistics(self) -> dict[str, int | bool | str]:
        """A snapshot of counters since creation.

        ``watches`` held now; ``events`` read; ``batches`` yielded; ``overflows``
        (kernel queue overflows); ``dropped`` (directories that could not be
        watched); ``degraded`` (some directory is unwatched: reconcile on
        request); ``wakes`` (times the loop woke to read the fd — 0 while idle);
        ``pending`` (a debounce is running); ``backend`` (inotify or watchfiles).
        """
        return {
            "backend": "inotify" if self._inotify is not None else "watchfiles",
            "watches": len(self._wds),
            **self._counts,
            "degraded": self.degraded,
            "pending": bool(self._pending),
        }

    # -- waiting and debouncing --------------------------------------------------------------

    async def _next_batch(self) -> ChangeBatch | None:
        while not self._pending:  # idle: no timer, just the fd in the selector
            if not await self._read_more():
                return None
        # Pending: sleep a window, drain; flush after a quiet window or at the cap.
        first = anyio.current_time()
        debounce = self._debounce_ms / 1000
        cap = first + debounce * MAX_WAIT_FACTOR
        deadline = min(first + debounce, cap)
        while True:
            await anyio.sleep_until(deadline)
            if self._closed:
                return None
            now = anyio.current_time()
            if not self._drain() or now >= cap:
                break
            deadline = min(now + debounce, cap)
        batch, self._pending = self._pending, ChangeBatch()
        self._counts["batches"] += 1
        return batch

    async def _read_more(self) -> bool:
        """Wait for the fd, then handle what is queued; ``False`` once closed."""
        assert self._inotify is not None
        if self._closed:
            return False
        self._waiting = True
        try:
            await anyio.wait_readable(self._inotify.fd)
        except anyio.ClosedResourceError:
            return False
        finally:
            self._waiting = False
        self._drain()
        return not self._closed

    def _drain(self) -> bool:
        """Handle everything queued now; whether there was anything."""
        assert self._inotify is not None
        self._counts["wakes"] += 1
        got = False
        for _ in range(MAX_READS_PER_DRAIN):  # bounded: a producer faster than us cannot pin the loop
            if not (events := self._inotify.read()):
                break
            got = True
            self._handle(events)
        return got

    # -- events ------------------------------------------------------------------------------

    def _handle(self, events: Iterable[InotifyEvent]) -> None:
        for ev in events:
            self._counts["events"] += 1
            if ev.mask & IN_Q_OVERFLOW:
                self._counts["overflows"] += 1
                self._pending.overflow = True
                continue
            parent = self._wds.get(ev.wd)
            if parent is None:
                continue  # a watch already dropped
            if not ev.name:
                self._handle_self(ev, parent)
                continue
            rel = f"{parent}/{ev.name}" if parent else ev.name
            is_dir = bool(ev.mask & IN_ISDIR)
            if self._ignored(rel, is_dir):
                continue
            if ev.mask & (IN_DELETE | IN_MOVED_FROM):
                self._pending._delete(rel, is_dir)
                if is_dir and ev.mask & IN_MOVED_FROM:
                    self._forget(rel)  # its watches live on under the old names: drop them
                elif is_dir:
                    self._drop(rel)  # deleted: the kernel drops the watch itself
            elif is_dir:  # created or moved in: watch it and report what is already inside
                self._watch_tree(rel)
            elif ev.mask & (IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO):
                self._pending.changed.add(rel)

    def _handle_self(self, ev: InotifyEvent, rel: str) -> None:
        if ev.mask & IN_MOVE_SELF:  # moved somewhere we did not see (the parent would have told us)
            logger.warning("watched directory %s moved away; reconciling", os.path.join(self._root, rel))
            if rel:
                self._forget(rel)
            self._pending.overflow = True
        elif ev.mask & (IN_DELETE_SELF | IN_IGNORED | IN_UNMOUNT):
            self._drop(rel, ev.wd)
            if ev.mask & IN_UNMOUNT or (rel == "" and ev.mask & IN_DELETE_SELF):
                self._pending.overflow = True

    # -- watches -----------------------------------------------------------------------------

    def _watch(self, rel: str, *, report: bool) -> None:
        assert self._inotify is not None
        path = os.path.join(self._root, rel) if rel else self._root
        try:
            wd = self._inotify.add_watch(path, _DIR_MASK)
        except OSError as exc:
            if exc.errno in _VANISHED:
                return  # already gone; its deletion is queued behind
            self._counts["dropped"] += 1
            self.degraded = True
            if report:
                self._pending.overflow = True
            if exc.errno == errno.ENOSPC:
                if self.limit_error is None:
                    self.limit_error = WatchLimitReached(rel, _max_user_watches())
                    logger.warning("%s", self.limit_error)
            else:
                logger.warning("cannot watch %s: %s", path, exc.strerror)
            return
        # Re-arming after lost events: the path may hold another directory, or the directory another name.
        old, stale = self._dirs.get(rel), self._wds.get(wd)
        if old is not None and old != wd:
            self._wds.pop(old, None)
        if stale is not None and stale != rel and self._dirs.get(stale) == wd:
            del self._dirs[stale]
        self._wds[wd] = rel
        self._dirs[rel] = wd

    def _watch_tree(self, top: str) -> None:
        """Watch a new directory and everything under it, reporting the files already there."""
        stack = [top]
        while stack:
            rel = stack.pop()
            if self._inotify is not None:
                self._watch(rel, report=True)  # before listing, so nothing falls in between
            try:
                with os.scandir(os.path.join(self._root, rel)) as entries:
                    found = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
            except OSError:
                continue  # gone again
            self._pending.new_dirs.add(rel)
            for name, is_dir in found:
                child = f"{rel}/{name}"
                if self._ignored(child, is_dir):
                    continue
                if is_dir:
                    stack.append(child)
                else:
                    self._pending.changed.add(child)

    def _drop(self, rel: str, wd: int | None = None) -> None:
        """Forget one directory's watch (the kernel has dropped or is dropping it)."""
        current = self._dirs.get(rel)
        wd = current if wd is None else wd
        if wd is None:
            return
        self._wds.pop(wd, None)
        if current == wd:
            del self._dirs[rel]

    def _forget(self, top: str) -> None:
        """Remove the watches on ``top`` and everything under it."""
        assert self._inotify is not None
        prefix = top + "/"
        for rel in [d for d in self._dirs if d == top or d.startswith(prefix)]:
            wd = self._dirs.pop(rel)
            self._wds.pop(wd, None)
            try:
                self._inotify.rm_watch(wd)
            except OSError as exc:
                logger.debug("rm_watch %s: %s", rel, exc)

    # -- fallback ----------------------------------------------------------------------------

    async def _watchfiles_changes(self) -> AsyncIterator[ChangeBatch]:
        from watchfiles import Change, awatch

        def relative(path: str) -> str | None:
            rel = os.path.relpath(path, self._root)
            return None if rel == "." or rel.startswith("..") else Path(rel).as_posix()

        def keep(change: Change, path: str) -> bool:
            rel = relative(path)
            is_dir = change != Change.deleted and os.path.isdir(path)
            return rel is not None and not self._ignored(rel, is_dir)

        # watchfiles' `step` is our debounce (quiet time before yielding), its `debounce` our cap.
        async for raw in awatch(
            self._root,
            watch_filter=keep,
            step=self._debounce_ms,
            debounce=self._debounce_ms * MAX_WAIT_FACTOR,
            stop_event=self._stop,
        ):
            for change, path in sorted(raw, key=lambda c: c[0] != Change.deleted):
                self._note_watchfiles(change == Change.deleted, path, relative(path))
            batch, self._pending = self._pending, ChangeBatch()
            self._counts["batches"] += 1
            yield batch

    def _note_watchfiles(self, deleted: bool, path: str, rel: str | None) -> None:
        if rel is None:
            return
        if deleted:
            self._pending._delete(rel, False)
        elif os.path.isdir(path):
            self._watch_tree(rel)
        else:
            self._pending.changed.add(rel)
