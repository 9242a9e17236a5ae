"""A small pool of forked processes for the parse phase of a build someone waits for (``treerag index``).

Background builds stay in the index worker under their CPU cap; a requested
full build may use a few cores. The children are forked from the index
worker, so they start with its modules (grammars included) already loaded,
and each takes a chunk of items at a time from the parent over a pipe. The
parent knows which chunk each child holds, so a child that dies (a crash in
a grammar) costs only that chunk: it is retried one item at a time in a
fresh child, and the item that kills its child again comes back as
``CRASHED``. A child that works on one chunk for longer than
``chunk_timeout_s`` (a parse that hangs) is killed and treated the same way,
so a hanging file costs that file and about twice the timeout, not the build.
An item whose task raises is logged and comes back as ``CRASHED`` too. If no child can be forked at all, the items are worked on
in the parent, without that protection.

Children write nothing to the worker's stdout (the daemon reads JSON lines
there): their log records travel back with their results and are handled by
the parent's loggers. They die with the parent (PR_SET_PDEATHSIG) and leave
when their pipe closes.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any, Generic, TypeVar

__all__ = ["CRASHED", "ForkPool"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

CHUNK = 24  # items per message: enough to make the pipe's cost small, few enough to balance the children
DEPTH = 2  # chunks in flight per child
CHUNK_TIMEOUT_S = 30.0  # one chunk normally takes well under a second; past this its child is stopped
PR_SET_PDEATHSIG = 1


class _Crashed:
    def __repr__(self) -> str:
        return "CRASHED"

    def __reduce__(self) -> str:
        return "CRASHED"  # unpickles as the module's singleton


CRASHED: Any = _Crashed()
_PENDING: Any = object()


class ForkPool(Generic[T, R]):
    """``map(items)`` → ``task(item)`` for each item, in order, computed in ``processes`` forked children."""

    def __init__(self, task: Callable[[T], R], processes: int, *, chunk: int | None = None,
                 chunk_timeout_s: float | None = None) -> None:
        self.task = task
        self.chunk_timeout_s = CHUNK_TIMEOUT_S if chunk_timeout_s is None else chunk_timeout_s
        self.processes = max(1, processes)
        self.chunk = max(1, CHUNK if chunk is None else chunk)
        self.crashes = 0  # children that died working on a chunk (statistics, tests)
        self.hangs = 0  # children stopped for taking longer than chunk_timeout_s on one chunk
        self._spawned = 0
        self._context = multiprocessing.get_context("fork")
        self._pid = os.getpid()
        self._children: dict[Connection, multiprocessing.process.BaseProcess] = {}

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
        busy: dict[Connection, deque[list[int]]] = {}
        started: dict[Connection, float] = {}  # when each busy child began its oldest chunk
        budget = self.processes + 2 * len(items)  # each item can kill at most two children
        while todo or busy:
            while todo:
                conn = self._child_with_room(busy)
                if conn is None and not busy:  # no child could be forked: work here, unprotected
                    for i in todo.popleft():
                        results[i] = _run(self.task, items[i])
                    continue
                if conn is None:
                    break
                if self._spawned > budget:
                    raise RuntimeError("parse processes keep dying before they take any work")
                indexes = todo.popleft()
                try:
                    conn.send([items[i] for i in indexes])
                except (BrokenPipeError, ConnectionResetError, EOFError):
                    todo.appendleft(indexes)
                    self._lost(conn, busy, todo, results)
                    continue
                if conn not in busy:
                    started[conn] = time.monotonic()
                busy.setdefault(conn, deque()).append(indexes)
            for conn in self._wait(busy, started):
                try:
                    outcomes, records = conn.recv()
                except (EOFError, ConnectionResetError, OSError):
                    self._lost(conn, busy, todo, results)
                    continue
                indexes = busy[conn].popleft()
                started[conn] = time.monotonic()
                if not busy[conn]:
                    del busy[conn]
                for record in records:
                    logging.getLogger(record.name).handle(record)
                for i, outcome in zip(indexes, outcomes, strict=True):
                    results[i] = outcome
            while ready < len(results) and results[ready] is not _PENDING:
                yield results[ready]
                results[ready] = None  # the caller holds it now
                ready += 1
        assert ready == len(results)

    def _wait(self, busy: dict[Connection, deque[list[int]]], started: dict[Connection, float]) -> list[Connection]:
        """The busy children with a result to read; a child past its chunk's deadline is killed first, so
        that reading it reports it lost."""
        if not busy:
            return []
        deadline = min(started[c] for c in busy) + self.chunk_timeout_s
        ready = wait(list(busy), timeout=max(0.0, deadline - time.monotonic()))
        now = time.monotonic()
        for conn in busy:
            if conn not in ready and now - started[conn] >= self.chunk_timeout_s:
                logger.warning("a parse process worked on %d file(s) for over %.0f s; stopped it (the file that "
                               "hangs is indexed without symbols)", len(busy[conn][0]), self.chunk_timeout_s,
                               extra={"reason": "parse_hang"})
                self.hangs += 1
                self._children[conn].kill()
                ready.append(conn)
        return ready  # type: ignore[return-value]

    def _lost(
        self, conn: Connection, busy: dict[Connection, deque[list[int]]], todo: deque[list[int]], results: list[Any]
    ) -> None:
        """A child died: the chunk it was working on holds the culprit; the chunks behind it were not started."""
        self._bury(conn)
        sent = busy.pop(conn, deque())
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
        for conn, process in list(self._children.items()):
            try:
                conn.send(None)
            except OSError:
                pass
            conn.close()
            process.join(timeout=5)
            if process.exitcode is None:
                process.kill()
                process.join()
        self._children.clear()

    def _child_with_room(self, busy: dict[Connection, deque[list[int]]]) -> Connection | None:
        """An idle child, else a new one while there are fewer than ``processes``, else the child with the
        fewest chunks in flight if below ``DEPTH``; None when all are full (or no child can be forked)."""
        for conn in self._children:
            if conn not in busy:
                return conn
        if len(self._children) >= self.processes:  # all at work: queue behind the least loaded
            if not self._children:
                return None
            conn = min(self._children, key=lambda c: len(busy[c]))
            return conn if len(busy[conn]) < DEPTH else None
        parent_end, child_end = self._context.Pipe()
        process = self._context.Process(target=_child_main, args=(child_end, parent_end, self.task, self._pid),
                                        daemon=True)
        try:
            process.start()
        except OSError as exc:  # out of processes or memory: carry on with the children there are
            parent_end.close()
            child_end.close()
            logger.warning("could not fork a parse process: %s", exc)
            self.processes = len(self._children)  # and do not try again
            return None
        self._spawned += 1
        child_end.close()
        self._children[parent_end] = process
        return parent_end

    def _bury(self, conn: Connection) -> None:
        process = self._children.pop(conn)
        conn.close()
        process.join(timeout=5)
        if process.exitcode is None:
            process.kill()
            process.join()


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


def _child_main(conn: Connection, parent_end: Connection, task: Callable[[Any], Any], parent: int) -> None:
    parent_end.close()
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
    while True:
        try:
            chunk = conn.recv()
        except (EOFError, OSError):
            break
        if chunk is None:
            break
        outcomes = [_run(task, item) for item in chunk]
        records, capture.records = capture.records, []
        try:
            conn.send((outcomes, records))
        except (BrokenPipeError, OSError):
            break
    conn.close()
    os._exit(0)


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
