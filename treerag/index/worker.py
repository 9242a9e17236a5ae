"""``python -m treerag.index.worker``: one index build or update in its own process.

The daemon starts a worker per job so that parsers (tree-sitter grammars) and
their memory never enter the daemon, and a crash or a hang costs one job, not
the service. The worker lowers its priority, dies with its parent
(PR_SET_PDEATHSIG), reads one JSON request on stdin and writes JSON lines on
stdout: ``{"progress": {...}}`` and ``{"log": {...}}`` while working, then ``{"result": report}`` or
``{"error": {"code", "message"}}``.

A full build without ``cpu_share`` (one the user asked for and waits for)
parses in ``PARSE_WORKERS`` forked processes when the tree is large enough
(see :func:`parse_workers`); ``"parse_workers": n`` in the request overrides
that. Builds with a CPU cap parse in one forked process, which holds itself
and this process together to the cap.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
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
    """Keep this process under ``share`` of one core by sleeping (background builds).

    Called between files by the parse loop; :meth:`install` also arms a profiling timer (SIGPROF after
    every ``tick_s`` of CPU used) whose handler runs the same check, so the phases that are not a loop
    over files (writing, resolving, ranking) are held to the share too.
    """

    def __init__(self, share: float, window_s: float = 0.25) -> None:
        self.share = share
        self.window_s = window_s
        self._clock: Callable[[], float] = time.process_time
        self._wall = time.monotonic()
        self._cpu = self._clock()

    def __call__(self) -> None:
        wall, cpu = time.monotonic(), self._clock()
        used, elapsed = cpu - self._cpu, wall - self._wall
        if elapsed < self.window_s:
            return
        owed = used / self.share - elapsed  # how long to rest so that used / (elapsed + rest) == share
        if owed > 0:
            time.sleep(min(owed, 2.0))
        self._wall, self._cpu = time.monotonic(), time.process_time()

    def install(self, tick_s: float = 0.05) -> None:
        """Also check after every ``tick_s`` of CPU time, whatever the build is doing (main thread only),
        counting from the process's start so that its interpreter start-up is paid for too."""
        started = _process_started()
        if started is not None:
            self._wall, self._cpu = started, 0.0
        self._arm(tick_s)

    def install_in_child(self, tick_s: float = 0.05) -> None:
        """In a forked parse process: count the parent's CPU as well as this one's, so that the two together
        keep to the share (the parent takes in results while the child parses)."""
        parent = os.getppid()
        self._clock = lambda: time.process_time() + _cpu_seconds_of(parent)
        self._wall, self._cpu = time.monotonic(), self._clock()
        self._arm(tick_s)

    def _arm(self, tick_s: float) -> None:
        signal.signal(signal.SIGPROF, lambda signum, frame: self())
        signal.siginterrupt(signal.SIGPROF, False)  # SA_RESTART: SQLite's and the OS's calls just resume
        signal.setitimer(signal.ITIMER_PROF, tick_s, tick_s)


def _cpu_seconds_of(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux; 0.0 when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _process_started() -> float | None:
    """When this process started, on the ``time.monotonic`` clock (Linux; None elsewhere)."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rpartition(")")[2].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    age = uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    return time.monotonic() - max(0.0, age)


def run_job(request: dict) -> dict:  # type: ignore[type-arg]
    share = request.get("cpu_share")
    throttle = CpuCap(float(share)) if share else None
    if throttle is not None:  # before the imports: they are a good part of a small build
        throttle.install()
    from treerag.index.builder import build_index

    # A build allocates millions of short-lived objects that form no cycles; the cyclic collector would
    # only rescan the rows already held (~5% of a django build). The process ends with the job.
    gc.disable()

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
    return max(1, min(int(wanted), available_cpus()))


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


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
