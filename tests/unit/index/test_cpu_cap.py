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
