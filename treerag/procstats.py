"""Process statistics for the metrics sample: RSS, USS, CPU, fds and threads of the daemon and its workers.

psutil is imported inside :func:`process_stats`, so importing this module costs
nothing; the psutil ``Process`` objects are cached per pid so ``cpu_percent``
measures the interval since the previous call. Child processes (the index and
enrichment workers) are found through ``/proc/PID/task/TID/children`` on Linux,
which costs microseconds where psutil's ``children()`` reads every process's
``/proc/N/stat`` (milliseconds on a busy machine, every second).
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["process_stats"]

_procs: dict[int, Any] = {}  # pid -> psutil.Process, kept so cpu_percent() measures since the last call
_children: dict[int, dict[int, Any]] = {}  # root pid -> {child pid: psutil.Process}


def process_stats(pid: int | None = None, children: bool = True) -> dict[str, Any]:
    """Memory, CPU, fds and threads of ``pid`` (default: this process) and of its child processes.

    ``rss_bytes`` is VmRSS (what ``ps -o rss`` shows), ``uss_bytes`` the unique set
    size (None if the kernel will not tell), ``cpu_percent`` of one core since the
    previous call for that pid (0.0 on the first). Raises ProcessLookupError if
    ``pid`` does not exist, PermissionError if it is not ours to inspect. About
    0.4 ms, 0.25 ms of it the USS (``/proc/PID/smaps_rollup``).
    """
    import psutil

    pid = os.getpid() if pid is None else pid
    try:
        proc = _cached(psutil, _procs, pid)
        with proc.oneshot():
            rss = proc.memory_info().rss
            cpu = proc.cpu_percent(None)
            threads = proc.num_threads()
            fds = _or_none(psutil, proc.num_fds)
    except psutil.NoSuchProcess as exc:
        _procs.pop(pid, None)
        _children.pop(pid, None)
        raise ProcessLookupError(f"no process {pid}") from exc
    except psutil.AccessDenied as exc:
        raise PermissionError(f"not allowed to inspect process {pid}") from exc
    full = _or_none(psutil, proc.memory_full_info)
    kids_rss, kids_cpu = 0, 0.0
    kids: dict[int, Any] = {}
    if children:
        previous = _children.get(pid, {})
        for cpid in _child_pids(psutil, proc):
            try:
                child = _cached(psutil, previous, cpid)
                with child.oneshot():
                    kids_rss += child.memory_info().rss
                    kids_cpu += child.cpu_percent(None)
                kids[cpid] = child
            except psutil.Error:
                continue  # it exited meanwhile, or is not ours
        _children[pid] = kids
    return {
        "pid": pid,
        "rss_bytes": rss,
        "uss_bytes": getattr(full, "uss", None),
        "cpu_percent": cpu,
        "num_fds": fds,
        "num_threads": threads,
        "num_children": len(kids),
        "children_rss_bytes": kids_rss,
        "children_cpu_percent": kids_cpu,
        "total_rss_bytes": rss + kids_rss,
    }


def _cached(psutil: Any, cache: dict[int, Any], pid: int) -> Any:
    proc = cache.get(pid)
    if proc is None or not proc.is_running():  # is_running() also catches a reused pid
        proc = cache[pid] = psutil.Process(pid)
    return proc


def _or_none(psutil: Any, method: Any) -> Any:
    try:
        return method()
    except (psutil.AccessDenied, psutil.ZombieProcess, OSError, NotImplementedError):
        return None


def _child_pids(psutil: Any, proc: Any) -> list[int]:
    """Descendants of ``proc``: from /proc/PID/task/TID/children on Linux (~20 µs), else psutil's scan of every pid."""
    root = proc.pid
    if not os.path.exists(f"/proc/{root}/task/{root}/children"):  # no procfs, or no CONFIG_PROC_CHILDREN
        try:
            return [child.pid for child in proc.children(recursive=True)]
        except psutil.Error:
            return []
    found: list[int] = []
    stack = [root]
    while stack:
        parent = stack.pop()
        try:
            tids = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue  # exited meanwhile
        for tid in tids:
            try:
                with open(f"/proc/{parent}/task/{tid}/children", "rb") as f:
                    data = f.read()
            except OSError:
                continue
            for cpid in map(int, data.split()):
                if cpid not in found:
                    found.append(cpid)
                    stack.append(cpid)
    return found
