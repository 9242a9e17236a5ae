"""The dashboard's own cost: CPU of a real ``treerag top`` (in a tmux pseudo-terminal) attached at 1 Hz.

A daemon with three indexed projects pushes one sample a second; the ``top``
process's user+system CPU (psutil ``cpu_times``) is taken over the window.
Target (issue 7): under 5% of one core.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time

import psutil

from benchlib.common import PYTHON, REPO, Options, Row, mb, rss_bytes, running_daemon, sandbox, verdict

__all__ = ["bench_top"]


def bench_top(opts: Options) -> list[Row]:
    window = opts.pick(60.0, 20.0)
    if shutil.which("tmux") is None:
        return [Row("top", "treerag top CPU", "skipped", "< 5 %", "tmux is not installed", "info")]
    with sandbox() as box, running_daemon(box) as daemon:
        for sub in ("treerag", "tui", "tests/tui"):
            daemon.call("project.index", path=str(REPO / sub), wait=True)
        server = f"treerag-bench-{daemon.pid}"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in box.env.items() if k.startswith(("XDG_", "HOME", "PATH")))
        command = f"env {exports} {shlex.quote(PYTHON)} -m treerag top --socket {shlex.quote(str(daemon.socket))}"
        subprocess.run(["tmux", "-L", server, "new-session", "-d", "-x", "120", "-y", "40", command], check=True)
        try:
            time.sleep(5.0)  # start-up and the first samples
            pane = subprocess.run(["tmux", "-L", server, "list-panes", "-F", "#{pane_pid}"], capture_output=True,
                                  text=True, check=True).stdout.split()[0]
            shell = psutil.Process(int(pane))
            proc = next((p for p in [shell, *shell.children(recursive=True)] if "top" in " ".join(p.cmdline())
                         and "python" in p.name()), shell)
            t0, w0 = proc.cpu_times(), time.monotonic()
            time.sleep(window)
            t1, w1 = proc.cpu_times(), time.monotonic()
            cpu = 100 * ((t1.user - t0.user) + (t1.system - t0.system)) / (w1 - w0)
            rss = rss_bytes(proc.pid)
        finally:
            subprocess.run(["tmux", "-L", server, "kill-server"], capture_output=True)
    return [
        Row("top", f"treerag top CPU over {window:.0f} s at 1 Hz (3 projects)", f"{cpu:.2f} %", "< 5 %",
            f"RSS {mb(rss)}", verdict(cpu < 5)),
    ]
