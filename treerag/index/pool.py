"""A small pool of forked processes for the parse phase of every build: a grammar never runs in the index worker.

Updates and background builds use one child (under the worker's CPU cap,
which ``init`` re-arms in the child); a requested full build may use a few.
The children are forked from the index worker, so they start with its
modules already loaded, and each takes a chunk of items at a time from the
parent over a pipe. The parent knows which chunk each child holds, so a
child that dies (a crash in a grammar) costs only that chunk: it is retried
one item at a time in a fresh child, and the item that kills its child
again comes back as ``CRASHED``. A child that works on one chunk for longer
than ``chunk_timeout_s`` (a parse that hangs) is killed and treated the
same way, so a hanging file costs that file and about twice the timeout,
not the build. An item whose task raises is logged and comes back as
``CRASHED`` too. If no child can be forked at all, the items are worked on
in the parent, without that protection.

The pool speaks to its children over two plain pipes each, a pickle per
message behind its length, and forks with ``os.fork``: ``multiprocessing``
would cost every update ~25 ms just to import.

Children write nothing to the worker's stdout (the daemon reads JSON lines
there): their log records travel back with their results and are handled by
the parent's loggers. They die with the parent (PR_SET_PDEATHSIG) and leave
when their pipe closes.
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import struct
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["CRASHED", "ForkPool"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

CHUNK = 24  # items per message: enough to make the pipe's cost small, few enough to balance the children
DEPTH = 2  # chunks in flight per child
CHUNK_TIMEOUT_S = 30.0  # one chunk normally takes well under a second; past this its child is stopped
PR_SET_PDEATHSIG = 1
_LENGTH = struct.Struct("<Q")


class _Crashed:
    def __repr__(self) -> str:
        return "CRASHED"

    def __reduce__(self) -> str:
        return "CRASHED"  # unpickles as the module's singleton


CRASHED: Any = _Crashed()
_PENDING: Any = object()


class _Lost(Exception):
    """The child at the other end of a pipe is gone."""


class _Child:
    """One forked child: its pid and the parent's ends of its two pipes."""

    __slots__ = ("pid", "to_child", "from_child")

    def __init__(self, pid: int, to_child: int, from_child: int) -> None:
        self.pid, self.to_child, self.from_child = pid, to_child, from_child


class ForkPool(Generic[T, R]):
    """``map(items)`` → ``task(item)`` for each item, in order, computed in ``processes`` forked children."""

    def __init__(self, task: Callable[[T], R], processes: int, *, chunk: int | None = None,
                 chunk_timeout_s: float | None = None, init: Callable[[], None] | None = None) -> None:
        self.task = task
        self.init = init  # run in each child before its first item (a CPU cap's timer is not inherited)
        self.chunk_timeout_s = CHUNK_TIMEOUT_S if chunk_timeout_s is None else chunk_timeout_s
        self.processes = max(1, processes)
        self.chunk = max(1, CHUNK if chunk is None else chunk)
        self.crashes = 0  # children that died working on a chunk (statistics, tests)
        self.hangs = 0  # children stopped for taking longer than chunk_timeout_s on one chunk
        self._spawned = 0
        self._pid = os.getpid()
        self._children: list[_Child] = []

    def __enter__(self) -> ForkPool[T, R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def map(self, items: Sequence[T]) -> Iterator[R]:
        """Results in the order of ``items``, each yielded as soon as it and those before it are in."""
        results: list[Any] = [_PENDING] * len(items)
        ready = 0  # results[:ready] were yielded
        todo: deque[list[int]] = deque(
            list(range(i, min(i + self.chunk, len(items)))) for i in range(0, len(items), self.chunk)
        )
        # Chunks sent to each child, oldest first; a child works on its oldest while the next waits in
        # its pipe, so it never idles while the parent reads a result.
        busy: dict[_Child, deque[list[int]]] = {}
        started: dict[_Child, float] = {}  # when each busy child began its oldest chunk
        budget = self.processes + 2 * len(items)  # each item can kill at most two children
        while todo or busy:
            while todo:
                child = self._child_with_room(busy)
                if child is None and not busy:  # no child could be forked: work here, unprotected
                    for i in todo.popleft():
                        results[i] = _run(self.task, items[i])
                    continue
                if child is None:
                    break
                if self._spawned > budget:
                    raise RuntimeError("parse processes keep dying before they take any work")
                indexes = todo.popleft()
                try:
                    _send(child.to_child, [items[i] for i in indexes])
                except _Lost:
                    todo.appendleft(indexes)
                    self._lost(child, busy, todo, results)
                    continue
                if child not in busy:
                    started[child] = time.monotonic()
                busy.setdefault(child, deque()).append(indexes)
            for child in self._wait(busy, started):
                try:
                    outcomes, records = _receive(child.from_child)
                except _Lost:
                    self._lost(child, busy, todo, results)
                    continue
                indexes = busy[child].popleft()
                started[child] = time.monotonic()
                if not busy[child]:
                    del busy[child]
                for record in records:
                    logging.getLogger(record.name).handle(record)
                for i, outcome in zip(indexes, outcomes, strict=True):
                    results[i] = outcome
            while ready < len(results) and results[ready] is not _PENDING:
                yield results[ready]
                results[ready] = None  # the caller holds it now
                ready += 1
        assert ready == len(results)

    def _wait(self, busy: dict[_Child, deque[list[int]]], started: dict[_Child, float]) -> list[_Child]:
        """The busy children with a result to read (or gone); a child past its chunk's deadline is killed
        first, so that reading it reports it lost."""
        if not busy:
            return []
        deadline = min(started[c] for c in busy) + self.chunk_timeout_s
        poll = select.poll()
        by_fd = {child.from_child: child for child in busy}
        for fd in by_fd:
            poll.register(fd, select.POLLIN)
        timeout_ms = max(0, int((deadline - time.monotonic()) * 1000) + 1)
        ready = [by_fd[fd] for fd, _ in poll.poll(timeout_ms)]
        now = time.monotonic()
        for child in busy:
            if child not in ready and now - started[child] >= self.chunk_timeout_s:
                logger.warning("a parse process worked on %d file(s) for over %.0f s; stopped it (the file that "
                               "hangs is indexed without symbols)", len(busy[child][0]), self.chunk_timeout_s,
                               extra={"reason": "parse_hang"})
                self.hangs += 1
                _kill(child.pid)
                ready.append(child)
        return ready

    def _lost(self, child: _Child, busy: dict[_Child, deque[list[int]]], todo: deque[list[int]],
              results: list[Any]) -> None:
        """A child died: the chunk it was working on holds the culprit; the chunks behind it were not started."""
        self._bury(child, kill=True)
        sent = busy.pop(child, deque())
        if not sent:
            return
        self.crashes += 1
        current = sent.popleft()
        todo.extendleft(reversed(sent))
        if len(current) == 1:
            results[current[0]] = CRASHED
        else:  # find the culprit: one item at a time
            todo.extendleft([i] for i in reversed(current))

    def close(self) -> None:
        """Tell the children to leave and reap them."""
        for child in list(self._children):
            try:
                _send(child.to_child, None)
            except _Lost:
                pass
            self._bury(child, kill=False)

    def _child_with_room(self, busy: dict[_Child, deque[list[int]]]) -> _Child | None:
        """An idle child, else a new one while there are fewer than ``processes``, else the child with the
        fewest chunks in flight if below ``DEPTH``; None when all are full (or no child can be forked)."""
        for child in self._children:
            if child not in busy:
                return child
        if len(self._children) >= self.processes:  # all at work: queue behind the least loaded
            if not self._children:
                return None
            child = min(self._children, key=lambda c: len(busy[c]))
            return child if len(busy[child]) < DEPTH else None
        try:
            child = self._fork()
        except OSError as exc:  # out of processes or memory: carry on with the children there are
            logger.warning("could not fork a parse process: %s", exc)
            self.processes = len(self._children)  # and do not try again
            return None
        self._spawned += 1
        self._children.append(child)
        return child

    def _fork(self) -> _Child:
        down_read, down_write = os.pipe()  # parent → child
        up_read, up_write = os.pipe()  # child → parent
        try:
            pid = _fork()
        except OSError:
            for fd in (down_read, down_write, up_read, up_write):
                os.close(fd)
            raise
        if pid == 0:  # the child: never returns
            code = 1
            try:
                for other in self._children:  # so that each child's pipes close when it dies
                    os.close(other.to_child)
                    os.close(other.from_child)
                os.close(down_write)
                os.close(up_read)
                _child_main(down_read, up_write, self.task, self.init, self._pid)
                code = 0
            finally:
                os._exit(code)
        os.close(down_read)
        os.close(up_write)
        return _Child(pid, down_write, up_read)

    def _bury(self, child: _Child, *, kill: bool) -> None:
        self._children.remove(child)
        os.close(child.to_child)
        os.close(child.from_child)
        if kill:
            _kill(child.pid)
        deadline = time.monotonic() + 5
        while True:
            try:
                pid, _ = os.waitpid(child.pid, os.WNOHANG)
            except ChildProcessError:
                return
            if pid:
                return
            if time.monotonic() > deadline:
                _kill(child.pid)
                deadline = float("inf")  # and wait for it
            time.sleep(0.002)


def _fork() -> int:
    return os.fork()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass


def _send(fd: int, obj: Any) -> None:
    data = pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)
    view = memoryview(_LENGTH.pack(len(data)) + data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except OSError as exc:  # EPIPE: the reader is gone
        raise _Lost from exc


def _receive(fd: int) -> Any:
    (length,) = _LENGTH.unpack(_read_exactly(fd, _LENGTH.size))
    return pickle.loads(_read_exactly(fd, length))


def _read_exactly(fd: int, n: int) -> bytes:
    parts: list[bytes] = []
    while n:
        try:
            part = os.read(fd, min(n, 1 << 20))
        except OSError as exc:
            raise _Lost from exc
        if not part:
            raise _Lost
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


class _Capture(logging.Handler):
    """Keep a child's log records, made picklable, to send them back with its results."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        record.msg = record.getMessage()
        record.args = None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = text
            record.exc = text  # the field treerag.logs.record_fields gives an exception
            record.exc_info = None
        self.records.append(record)


def _child_main(down: int, up: int, task: Callable[[Any], Any], init: Callable[[], None] | None,
                parent: int) -> None:
    _die_with_parent(parent)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):  # the parent's stdout carries the worker protocol; stdin is not ours
        os.dup2(devnull, fd)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the child's life (sys.stdout may not be fd 1)
    # Every record a logger lets through ends at the root, where it is kept for the parent's handlers.
    for existing in logging.Logger.manager.loggerDict.values():
        if isinstance(existing, logging.Logger):
            existing.handlers = []
            existing.propagate = True
    capture = _Capture()
    logging.getLogger().handlers = [capture]
    if init is not None:
        init()
    while True:
        try:
            chunk = _receive(down)
        except _Lost:
            return
        if chunk is None:
            return
        outcomes = [_run(task, item) for item in chunk]
        records, capture.records = capture.records, []
        try:
            _send(up, (outcomes, records))
        except _Lost:
            return


def _run(task: Callable[[Any], Any], item: Any) -> Any:
    try:
        return task(item)
    except Exception:
        logger.exception("parse task failed for %r", item)
        return CRASHED


def _die_with_parent(parent: int) -> None:
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before the prctl
        os._exit(1)
