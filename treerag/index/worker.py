"""``python -m treerag.index.worker``: one index build or update in its own process.

The daemon starts a worker per job so that parsers (tree-sitter grammars) and
their memory never enter the daemon, and a crash or a hang costs one job, not
the service. The worker lowers its priority, dies with its parent
(PR_SET_PDEATHSIG), reads one JSON request on stdin and writes JSON lines on
stdout: ``{"progress": {...}}`` and ``{"log": {...}}`` while working, then ``{"result": report}`` or
``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["main", "parse_workers", "run_job"]

PR_SET_PDEATHSIG = 1
PARSE_WORKERS = 2  # parse processes of a requested full build (background builds keep their CPU cap)


def _die_with_parent() -> None:
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the daemon kills workers on shutdown instead


def _emit(obj: object) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class CpuCap:
    """Keep this process under ``share`` of one core by sleeping between files (background builds)."""

    def __init__(self, share: float, window_s: float = 0.25) -> None:
        self.share = share
        self.window_s = window_s
        self._wall = time.monotonic()
        self._cpu = time.process_time()

    def __call__(self) -> None:
        wall, cpu = time.monotonic(), time.process_time()
        used, elapsed = cpu - self._cpu, wall - self._wall
        if elapsed < self.window_s:
            return
        owed = used / self.share - elapsed  # how long to rest so that used / (elapsed + rest) == share
        if owed > 0:
            time.sleep(min(owed, 2.0))
        self._wall, self._cpu = time.monotonic(), time.process_time()


def run_job(request: dict) -> dict:  # type: ignore[type-arg]
    from treerag.index.builder import build_index

    # A build allocates millions of short-lived objects that form no cycles; the cyclic collector would
    # only rescan the rows already held (~5% of a django build). The process ends with the job.
    gc.disable()

    share = request.get("cpu_share")
    throttle = CpuCap(float(share)) if share else None

    paths = request.get("paths")
    report = build_index(
        Path(request["root"]),
        Path(request["db"]),
        paths=paths,
        max_file_bytes=int(request.get("max_file_bytes", 1 << 20)),
        progress=lambda phase, done, total: _emit({"progress": {"phase": phase, "done": done, "total": total}}),
        throttle=throttle,
        workers=parse_workers(request),
    )
    return report.to_dict()


def parse_workers(request: dict) -> int:  # type: ignore[type-arg]
    """Processes for the parse phase: ``parse_workers`` when the request says, else ``PARSE_WORKERS``
    for a full build without a CPU cap (one somebody asked for and waits for), else 1; never more
    than the CPUs this process may use."""
    wanted = request.get("parse_workers")
    if wanted is None:
        wanted = PARSE_WORKERS if request.get("paths") is None and not request.get("cpu_share") else 1
    if int(wanted) <= 1:
        return 1
    from treerag.index.pool import available_cpus

    return max(1, min(int(wanted), available_cpus()))


class _ForwardLogs(logging.Handler):
    """Send the worker's log records to the daemon, which writes them to its own log."""

    def emit(self, record: logging.LogRecord) -> None:
        from treerag.logs import record_fields

        _emit({"log": record_fields(record)})


def main() -> int:
    return serve_one_job(run_job)


def serve_one_job(job: Callable[[dict], dict]) -> int:  # type: ignore[type-arg]
    """A worker process's life: die with the parent, forward logs, read one JSON request from stdin,
    print its result (or one error record) as a JSON line. Shared by the index and enrichment workers."""
    _die_with_parent()
    root_logger = logging.getLogger("treerag")
    root_logger.addHandler(_ForwardLogs(logging.INFO))
    root_logger.setLevel(logging.INFO)
    root_logger.propagate = False
    try:
        request = json.loads(sys.stdin.readline())
        if request.get("nice"):
            os.nice(int(request["nice"]))
        _emit({"result": job(request)})
        return 0
    except Exception as exc:
        from treerag.errors import TreeragError

        code = exc.code if isinstance(exc, TreeragError) else "internal"
        _emit({"error": {"code": code, "message": f"{type(exc).__name__}: {exc}"}})
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
