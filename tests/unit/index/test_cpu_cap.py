"""The background-build CPU cap keeps a busy worker under its share of a core."""

from __future__ import annotations

import time

from treerag.index.worker import CpuCap


def test_busy_loop_is_held_under_the_share():
    cap = CpuCap(0.45, window_s=0.05)
    wall0, cpu0 = time.monotonic(), time.process_time()
    while time.monotonic() - wall0 < 1.5:
        sum(range(20_000))  # one "file" of work
        cap()
    share = (time.process_time() - cpu0) / (time.monotonic() - wall0)
    assert share < 0.55, share


def test_installed_cap_holds_work_that_never_calls_it():
    """One long computation with no per-file calls (a write or graph phase): the SIGPROF timer holds it."""
    import subprocess
    import sys

    code = ("import time\nfrom treerag.index.worker import CpuCap\nCpuCap(0.3).install()\n"
            "w, c = time.monotonic(), time.process_time()\n"
            "while time.monotonic() - w < 1.5:\n    sum(range(20_000))\n"
            "print((time.process_time() - c) / (time.monotonic() - w))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert float(out.stdout) < 0.4, out.stdout


def test_a_forked_parse_process_counts_its_parent_in_the_share():
    """The child of a throttled build holds itself and its parent together to the share: the parent
    busy a third of the time leaves the child the rest, not a full share of its own."""
    import subprocess
    import sys

    code = ("import os, time\nfrom treerag.index.worker import CpuCap\n"
            "def busy(seconds):\n    end = time.monotonic() + seconds\n"
            "    while time.monotonic() < end:\n        sum(range(20_000))\n"
            "pid = os.fork()\n"
            "if pid == 0:\n    CpuCap(0.6).install_in_child()\n    busy(2.0)\n    os._exit(0)\n"
            "w, c = time.monotonic(), time.process_time()\n"
            "while time.monotonic() - w < 2.0:\n    busy(0.05)\n    time.sleep(0.1)\n"
            "os.waitpid(pid, 0)\n"
            "t = os.times()\n"
            "print((t.user + t.system + t.children_user + t.children_system) / (time.monotonic() - w))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert float(out.stdout) < 0.75, out.stdout
