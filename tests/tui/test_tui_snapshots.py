"""SVG snapshots of the dashboard built by ``create_app`` against the scripted daemon (baselines in snapshots/).

Deterministic by construction: a fixed terminal size; a frozen clock (``frozen_clock``) and
uptime (it comes from the scripted samples); every sample is pushed right after ``subscribe``
and the screenshot is taken only once the screen has drawn the last one, so no timer updates
anything meanwhile; no log lines (their timestamps are local time); the link's reconnect timer
only runs in the disconnected case, where the screen does not change between attempts.
Update the baselines with ``pytest tests/tui/test_tui_snapshots.py --snapshot-update``
(docs/DEVELOPMENT.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.tui.scripted import (
    ScriptedDaemon,
    enrich_record,
    frozen_clock,
    metrics_sample,
    project_record,
)
from treerag.tui import create_app
from treerag.tui.app import TreeragTop

SAMPLES = 40
REFERENCE = (120, 40)
NARROW = (80, 24)
WIDE = (200, 50)
Snap = Callable[..., bool]


def several_projects() -> list[dict[str, Any]]:
    return [
        project_record("alpha", files=340, symbols=2900, memory_mb=12.5, last_used_ago=5, requests=120,
                       hits=110, misses=10, current=True),
        project_record("beta", files=80, symbols=610, memory_mb=4.2, last_used_ago=700, requests=12, hits=6,
                       misses=6, state="indexing", progress={"done": 21, "total": 50}),
        project_record("gamma", root="/srv/work/gamma-service", files=1250, symbols=11800, memory_mb=21.0,
                       last_used_ago=95, requests=48, hits=40, misses=8),
        project_record("delta", files=15, symbols=90, memory_mb=0.0, last_used_ago=7200, requests=0, hits=0,
                       misses=0, state="evicted"),
    ]


def scripted(pressure: str = "normal", enrich: dict[str, Any] | bool = True, **kwargs: Any) -> ScriptedDaemon:
    events = []
    for i in range(SAMPLES):
        data = metrics_sample(i, projects=several_projects(), pressure=pressure, enrich=enrich, **kwargs)
        events.append({"event": "metrics", "data": data})
    return ScriptedDaemon(on_subscribe=events)


def build(daemon: ScriptedDaemon) -> TreeragTop:
    app = create_app(daemon.connect, clock=frozen_clock)
    assert isinstance(app, TreeragTop)
    return app


def drawn(app: TreeragTop, samples: int = SAMPLES) -> Callable[[Any], Any]:
    """``run_before``: wait (on the app's own progress, not a sleep) until every sample is drawn."""

    async def run_before(pilot: Any) -> None:
        deadline = time.monotonic() + 10
        while not (app.state.connected and app.main.rendered_seen >= samples):
            assert time.monotonic() < deadline, "the scripted samples were not drawn"
            await pilot.pause(0.01)
        await pilot.pause()

    return run_before


@pytest.mark.parametrize(
    ("pressure", "size"),
    [
        pytest.param("normal", REFERENCE, id="normal-120x40"),
        pytest.param("warning", REFERENCE, id="warning-120x40"),
        pytest.param("critical", REFERENCE, id="critical-120x40"),
        pytest.param("normal", NARROW, id="normal-80x24"),
        pytest.param("warning", WIDE, id="warning-200x50"),
    ],
)
def test_main_screen(snap_compare: Snap, pressure: str, size: tuple[int, int]) -> None:
    app = build(scripted(pressure))
    assert snap_compare(app, terminal_size=size, run_before=drawn(app))


def test_enrichment_offline(snap_compare: Snap) -> None:
    """No ``enrich`` key (an older daemon, or the local provider): "local summaries (offline)"."""
    app = build(scripted(enrich=False))
    assert snap_compare(app, terminal_size=REFERENCE, run_before=drawn(app))


def test_enrichment_breaker_open_with_an_error(snap_compare: Snap) -> None:
    enrich = enrich_record(5, paused=True, breaker="open", last_error="HTTP 429 Too Many Requests: rate limit hit")
    app = build(scripted(enrich=enrich, paused=True))
    assert snap_compare(app, terminal_size=REFERENCE, run_before=drawn(app))


@pytest.mark.parametrize("size", [pytest.param(REFERENCE, id="120x40"), pytest.param(NARROW, id="80x24")])
def test_help_screen(snap_compare: Snap, size: tuple[int, int]) -> None:
    app = build(scripted())
    assert snap_compare(app, terminal_size=size, press=["question_mark", "wait:50"], run_before=drawn(app))


@pytest.mark.parametrize(
    "keys",
    [
        pytest.param(["down", "e"], id="evict"),
        pytest.param(["E"], id="evict-others"),
        pytest.param(["d"], id="drain"),
        pytest.param(["down", "r"], id="reindex"),
    ],
)
def test_confirmation_dialog(snap_compare: Snap, keys: list[str]) -> None:
    app = build(scripted())
    assert snap_compare(app, terminal_size=REFERENCE, press=[*keys, "wait:50"], run_before=drawn(app))


@pytest.mark.parametrize("size", [pytest.param(REFERENCE, id="120x40"), pytest.param(NARROW, id="80x24")])
def test_disconnected_no_daemon(snap_compare: Snap, size: tuple[int, int]) -> None:
    daemon = ScriptedDaemon(up=False)
    app = build(daemon)

    async def run_before(pilot: Any) -> None:
        deadline = time.monotonic() + 10
        while app.state.status != "down":
            assert time.monotonic() < deadline
            await pilot.pause(0.01)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_disconnected_after_the_daemon_went_away(snap_compare: Snap) -> None:
    """Connected, then the daemon hangs up and stays down: the banner over the last picture."""
    daemon = scripted()
    app = build(daemon)
    wait = drawn(app)

    async def run_before(pilot: Any) -> None:
        await wait(pilot)
        daemon.up = False
        await daemon.hang_up()
        deadline = time.monotonic() + 10
        while app.state.status != "down":
            assert time.monotonic() < deadline
            await pilot.pause(0.01)
        await pilot.pause()

    assert snap_compare(app, terminal_size=REFERENCE, run_before=run_before)
