"""Shared plumbing: result rows, statistics, /proc readers, isolated sandboxes and real daemons.

Every benchmark returns a list of :class:`Row`. A row's ``peer`` is the floor or
peer measured in the same run (never a typed-in number); ``status`` is ``pass``
or ``short`` against the row's target, ``info`` when the row has no target,
``error`` when the benchmark failed.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BENCH_DIR = REPO / ".bench"
PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Options:
    quick: bool = False

    def pick(self, full: Any, quick: Any) -> Any:
        return quick if self.quick else full


@dataclass
class Row:
    bench: str
    metric: str
    value: str
    target: str = ""
    peer: str = ""
    status: str = "info"  # pass | short | info | error
    raw: dict[str, Any] = field(default_factory=dict)


def verdict(ok: bool) -> str:
    return "pass" if ok else "short"


def error_row(bench: str, exc: BaseException, metric: str = "(benchmark)") -> Row:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ").replace("|", "/")
    return Row(bench, metric, f"error: {text[:300]}", status="error", raw={"error": text})


# -- statistics ------------------------------------------------------------------------


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(samples: Sequence[float]) -> dict[str, float]:
    if not samples:
        return {"n": 0}
    return {"n": len(samples), "p50": percentile(samples, 50), "p99": percentile(samples, 99),
            "mean": statistics.fmean(samples), "min": min(samples), "max": max(samples)}


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs"


def ms(seconds: float, digits: int = 2) -> str:
    return f"{seconds * 1e3:.{digits}f} ms"


def mb(nbytes: float | None) -> str:
    return "n/a" if nbytes is None else f"{nbytes / (1 << 20):.1f} MB"


def ratio(a: float, b: float) -> float:
    return a / b if b else math.inf


# -- /proc -------------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, str]:
    out: dict[str, str] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def rss_bytes(pid: int) -> int:
    """VmRSS, what ``ps -o rss`` shows."""
    return int(proc_status(pid)["VmRSS"].split()[0]) * 1024


def uss_bytes(pid: int) -> int | None:
    import psutil

    try:
        return int(psutil.Process(pid).memory_full_info().uss)
    except (psutil.Error, AttributeError):
        return None


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def context_switches(pid: int) -> tuple[int, int]:
    """(voluntary, involuntary) context switches summed over every thread."""
    vol = invol = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            status = _task_status(pid, tid)
        except FileNotFoundError:
            continue
        vol += int(status.get("voluntary_ctxt_switches", 0))
        invol += int(status.get("nonvoluntary_ctxt_switches", 0))
    return vol, invol


def _task_status(pid: int, tid: str) -> dict[str, str]:
    out: dict[str, str] = {}
    with open(f"/proc/{pid}/task/{tid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def num_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def num_threads(pid: int) -> int:
    return int(proc_status(pid)["Threads"])


def child_pids(pid: int) -> list[int]:
    kids: list[int] = []
    with contextlib.suppress(FileNotFoundError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(x) for x in f.read().split()]
    return kids


# -- sandboxes and daemons -----------------------------------------------------------------


class Sandbox:
    """A short temp dir (for the 108-byte AF_UNIX limit) with its own HOME and XDG dirs.

    Its processes cache bytecode as an installed package has it (pip compiles on install), in
    ``.bench/pycache``: a shell exporting ``PYTHONDONTWRITEBYTECODE=1`` would otherwise have every
    daemon, worker and CLI run recompile each treerag module it imports (~0.1 s a process)."""

    def __init__(self, prefix: str = "trb-") -> None:
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
        home = self.path / "home"
        for sub in ("", ".config", ".local/state", ".cache"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("TREERAG_")
               and k not in ("CLAUDE_PROJECT_DIR", "XDG_RUNTIME_DIR", "PYTHONDONTWRITEBYTECODE")}
        env.update(PYTHONPYCACHEPREFIX=str(BENCH_DIR / "pycache"), HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
                   XDG_STATE_HOME=str(home / ".local/state"), XDG_CACHE_HOME=str(home / ".cache"))
        self.env = env
        self.socket = self.path / "t.sock"
        self.cache = home / ".cache"

    def fresh_cache(self) -> dict[str, str]:
        """Empty the cache dir (a cold index) and return the env that points at it."""
        shutil.rmtree(self.cache, ignore_errors=True)
        self.cache.mkdir(parents=True)
        return self.env

    def cleanup(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


_LIVE: set[DaemonProcess] = set()  # stopped at exit if a benchmark could not (a safety net)


@atexit.register
def _stop_leftovers() -> None:
    for daemon in list(_LIVE):
        daemon.stop(timeout=5)


class DaemonProcess:
    """A real ``python -m treerag.daemon`` started in a sandbox; ready when it writes "ok" to a pipe."""

    def __init__(self, sandbox: Sandbox, ready_timeout: float = 30.0) -> None:
        self.sandbox = sandbox
        self.socket = sandbox.socket
        self.log = sandbox.path / "daemon.log"
        self.stderr_path = sandbox.path / "daemon.stderr"
        read_fd, write_fd = os.pipe()
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "treerag.daemon", "--socket", str(self.socket), "--log-file", str(self.log),
                 "--ready-fd", str(write_fd)],
                pass_fds=(write_fd,), env=sandbox.env, cwd=sandbox.path,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            )
        os.close(write_fd)
        _LIVE.add(self)
        try:
            ready, _, _ = select.select([read_fd], [], [], ready_timeout)
            answer = os.read(read_fd, 4096).decode() if ready else ""
        finally:
            os.close(read_fd)
        if answer.strip() != "ok":
            self.stop()
            raise RuntimeError(f"daemon did not start: {answer.strip()!r} {self.stderr_tail()}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def client(self, timeout: float = 600.0):  # type: ignore[no-untyped-def]
        from treerag.client import connect

        return connect(self.socket, timeout=timeout)

    def call(self, method: str, timeout: float = 600.0, **params: Any) -> Any:
        with self.client(timeout) as c:
            return c.call(method, **params)

    def stderr_tail(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-800:]
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        _LIVE.discard(self)
        kids = child_pids(self.proc.pid) if self.proc.poll() is None else []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=timeout)
        for kid in kids:  # index workers it may have left behind
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(kid, signal.SIGKILL)


@contextlib.contextmanager
def sandbox(prefix: str = "trb-") -> Iterator[Sandbox]:
    box = Sandbox(prefix)
    try:
        yield box
    finally:
        box.cleanup()


@contextlib.contextmanager
def running_daemon(box: Sandbox | None = None) -> Iterator[DaemonProcess]:
    """A daemon in ``box`` (or in a fresh sandbox removed afterwards); always stopped on exit."""
    with contextlib.ExitStack() as stack:
        if box is None:
            box = stack.enter_context(sandbox())
        daemon = DaemonProcess(box)
        try:
            yield daemon
        finally:
            daemon.stop()


@contextlib.contextmanager
def background(argv: list[str], env: dict[str, str] | None = None, **kwargs: Any) -> Iterator[subprocess.Popen[bytes]]:
    """A helper process killed on exit."""
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, **kwargs)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def wait_until(predicate, timeout: float, interval: float = 0.01):  # type: ignore[no-untyped-def]
    """Poll an external state (benchmarks may poll; the product may not)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
