"""The dashboard driven by a pilot against a scripted daemon: rendering, controls, failures, reconnects."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from rich.console import Console
from textual.message import Message
from textual.notifications import Notify
from textual.widgets import Button

from tests.tui.conftest import ScriptedDaemon
from tests.tui.scripted import (
    SOCKET,
    frozen_clock,
    log_record,
    metrics_sample,
    project_record,
    sample_events,
    two_projects,
    wait_until,
)
from treerag.errors import ProjectNotFound
from treerag.tui import create_app
from treerag.tui.app import TreeragTop
from treerag.tui.messages import ConnectionChanged, LogReceived, SampleReceived
from treerag.tui.screens.confirm import ConfirmScreen
from treerag.tui.screens.help import HelpScreen
from treerag.tui.widgets.header import HeaderBar
from treerag.tui.widgets.log import LogPanel
from treerag.tui.widgets.plots import PlotsPanel
from treerag.tui.widgets.projects import ProjectsTable

pytestmark = pytest.mark.anyio

SIZE = (120, 40)
ALPHA, BETA = "/home/dev/src/alpha", "/home/dev/src/beta"
MakeDaemon = Callable[..., ScriptedDaemon]


class Recorder:
    """``message_hook`` target: keeps every message posted anywhere in the app."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def __call__(self, message: Message) -> None:
        self.messages.append(message)

    def of(self, kind: type[Message]) -> list[Any]:
        return [m for m in self.messages if isinstance(m, kind)]

    def notices(self, severity: str | None = None) -> list[str]:
        return [
            n.notification.message
            for n in self.of(Notify)
            if severity is None or n.notification.severity == severity
        ]


def build(daemon: ScriptedDaemon, **kwargs: Any) -> TreeragTop:
    app = create_app(daemon.connect, clock=frozen_clock, **kwargs)
    assert isinstance(app, TreeragTop)
    return app


def render_text(renderable: Any) -> str:
    console = Console(width=100, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def header_text(app: TreeragTop) -> str:
    return app.main.query_one(HeaderBar).render().plain


def table(app: TreeragTop) -> ProjectsTable:
    return app.main.query_one(ProjectsTable)


def table_roots(app: TreeragTop) -> list[str]:
    t = table(app)
    return [str(t.coordinate_to_cell_key((row, 0)).row_key.value) for row in range(t.row_count)]


async def connected(pilot: Any, app: TreeragTop, samples: int = 0) -> None:
    await wait_until(pilot, lambda: app.state.connected and app.main.rendered_seen >= samples)


# -- rendering ---------------------------------------------------------------------------------


async def test_samples_render_in_header_plots_table_queue_and_log(scripted_daemon: MakeDaemon) -> None:
    daemon = scripted_daemon(on_subscribe=[*sample_events(5), {"event": "log", "data": log_record(0, "hello")}])
    app = build(daemon)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app, 5)
        await wait_until(pilot, lambda: app.main.query_one(LogPanel).line_count == 1)
        assert daemon.calls[:2] == [("health", {}), ("subscribe", {"topics": ["metrics", "log", "progress"]})]
        header = header_text(app)
        for part in ("0.1.0", "pid 4242", "up 1h00m", "limit 100 MB", "normal", "connected", SOCKET):
            assert part in header
        plots = app.main.query_one(PlotsPanel)
        assert str(plots.memory._value.content).endswith("/ 100 MB  42% normal")
        assert len(plots.memory._spark.data or []) == 5
        assert [p.border_title for p in plots.latency] == ["p99 hook", "p99 context", "p99 query", "p99 ping"]
        assert table_roots(app) == [ALPHA, BETA]
        assert table(app).get_row(BETA)[4] == "indexing 42%"
        assert render_text(app.main.query_one("#queue").content).startswith("pending 36  running 2  failed 1  done 304")
        assert "hello" in app.main.query_one(LogPanel).lines[0]


async def test_a_flood_of_samples_collapses_but_every_sample_is_recorded(scripted_daemon: MakeDaemon) -> None:
    assert SampleReceived().can_replace(SampleReceived())
    assert LogReceived().can_replace(LogReceived())
    assert not SampleReceived().can_replace(ConnectionChanged("up"))
    daemon = scripted_daemon(on_subscribe=sample_events(200))
    app = build(daemon)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app, 200)
        assert len(app.state.history.rss_bytes) == 200


async def test_unchanged_order_updates_cells_in_place(scripted_daemon: MakeDaemon) -> None:
    daemon = scripted_daemon(on_subscribe=sample_events(1))
    app = build(daemon)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app, 1)
        rebuilds = table(app).rebuilds
        projects = two_projects()
        projects[0] = {**projects[0], "requests": 999}
        await daemon.push_sample(metrics_sample(1, projects=projects))
        await connected(pilot, app, 2)
        assert table(app).rebuilds == rebuilds
        assert table(app).get_row(ALPHA)[7] == "999"


async def test_cursor_follows_its_project_when_rows_reorder(scripted_daemon: MakeDaemon) -> None:
    daemon = scripted_daemon(on_subscribe=sample_events(1))
    app = build(daemon)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app, 1)
        await pilot.press("down")
        assert table(app).selected_root == BETA
        alpha, beta = two_projects()
        await daemon.push_sample(metrics_sample(1, projects=[{**alpha, "name": "zeta"}, beta]))
        await connected(pilot, app, 2)
        assert table_roots(app) == [BETA, ALPHA]
        assert table(app).cursor_row == 0 and table(app).selected_root == BETA


async def test_sort_cycles_by_key_and_by_clicking_a_header(scripted_daemon: MakeDaemon) -> None:
    daemon = scripted_daemon(on_subscribe=sample_events(1))
    app = build(daemon)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app, 1)
        await pilot.press("o", "o")  # name → root → files
        assert table(app).sort_column == "files"
        assert table_roots(app) == [BETA, ALPHA]  # 80 files before 340
        await pilot.press("O")
        assert table_roots(app) == [ALPHA, BETA]
        assert "sort files ▼" in str(table(app).border_title)
        await pilot.click(ProjectsTable, offset=header_offset(table(app), "hit_rate"))
        await wait_until(pilot, lambda: table(app).sort_column == "hit_rate")
        assert table_roots(app) == [BETA, ALPHA]  # a new column sorts ascending: 50% before 91.7%
        await pilot.click(ProjectsTable, offset=header_offset(table(app), "hit_rate"))
        await wait_until(pilot, lambda: table(app).sort_reverse)
        assert table_roots(app) == [ALPHA, BETA]


def header_offset(t: ProjectsTable, key: str) -> tuple[int, int]:
    """Where to click on a column's header label (inside the border)."""
    x = 1
    for column in t.ordered_columns:
        if column.key.value == key:
            return (x + 2, 1)
        x += column.get_render_width(t)
    raise KeyError(key)


async def test_freeze_stops_rendering_but_keeps_recording(scripted_daemon: MakeDaemon) -> None:
    daemon = scripted_daemon(on_subscribe=sample_events(3))
    app = build(daemon)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app, 3)
        await pilot.press("space")
        assert "FROZEN" in header_text(app)
        projects = two_projects()
        projects[0] = {**projects[0], "requests": 777}
        for i in range(3, 6):
            await daemon.push_sample(metrics_sample(i, projects=projects))
        await daemon.push_log(log_record(1, "while frozen"))
        await wait_until(pilot, lambda: app.state.samples_seen == 6 and app.state.logs_seen == 1)
        assert app.main.rendered_seen == 3
        assert table(app).get_row(ALPHA)[7] == "120"
        assert app.main.query_one(LogPanel).line_count == 0
        assert len(app.state.history.rss_bytes) == 6
        await pilot.press("space")
        assert "FROZEN" not in header_text(app)
        assert app.main.rendered_seen == 6
        assert table(app).get_row(ALPHA)[7] == "777"
        assert app.main.query_one(LogPanel).line_count == 1


async def test_filter_narrows_the_table_and_escape_clears_it(scripted_daemon: MakeDaemon) -> None:
    daemon = scripted_daemon(on_subscribe=sample_events(1))
    app = build(daemon)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app, 1)
        await pilot.press("slash", "b", "e", "t")
        assert table_roots(app) == [BETA]
        assert "filter “bet”" in str(table(app).border_title)
        await pilot.press("enter")
        assert app.focused is table(app)
        assert table_roots(app) == [BETA]
        await pilot.press("slash", "escape")
        assert table_roots(app) == [ALPHA, BETA]
        assert app.focused is table(app)


async def test_filter_matches_the_root_too(scripted_daemon: MakeDaemon) -> None:
    projects = [project_record("one", root="/srv/work/api"), project_record("two", root="/srv/play/api")]
    daemon = scripted_daemon(on_subscribe=sample_events(1, projects))
    app = build(daemon)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app, 1)
        await pilot.press("slash", *"play")
        assert table_roots(app) == ["/srv/play/api"]


# -- controls ----------------------------------------------------------------------------------


async def test_evict_confirms_the_root_captured_when_the_key_was_pressed(scripted_daemon: MakeDaemon) -> None:
    daemon = scripted_daemon(on_subscribe=sample_events(1))
    app = build(daemon)
    recorder = Recorder()
    async with app.run_test(size=SIZE, message_hook=recorder) as pilot:
        await connected(pilot, app, 1)
        await pilot.press("down", "e")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        modal = app.screen
        assert isinstance(modal, ConfirmScreen)
        assert modal.confirmation.target == BETA
        assert app.focused is not None and app.focused.id == "cancel"
        # The rows reorder and the cursor moves while the modal is open.
        alpha, beta = two_projects()
        await daemon.push_sample(metrics_sample(1, projects=[{**alpha, "name": "zeta"}, beta]))
        await connected(pilot, app, 2)
        table(app).move_cursor(row=1)
        assert table(app).selected_root == ALPHA
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: daemon.calls_to("project.evict"))
        assert daemon.calls_to("project.evict") == [{"path": BETA}]
        await wait_until(pilot, lambda: any("evicted beta" in n for n in recorder.notices()))


async def test_enter_on_the_default_button_cancels(scripted_daemon: MakeDaemon) -> None:
    daemon = scripted_daemon(on_subscribe=sample_events(1))
    app = build(daemon)
    recorder = Recorder()
    async with app.run_test(size=SIZE, message_hook=recorder) as pilot:
        await connected(pilot, app, 1)
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.press("E")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert daemon.calls_to("project.evict") == [] and daemon.calls_to("project.evict_all_but_current") == []
        assert "evict cancelled" in recorder.notices() and "evict all cancelled" in recorder.notices()


@pytest.mark.parametrize(
    ("key", "method", "params", "notice"),
    [
        pytest.param("E", "project.evict_all_but_current", {}, "evicted 1 project(s); kept /home/dev/src/alpha", id="evict-others"),
        pytest.param("d", "queue.drain", {}, "queue drained: 7 task(s) dropped", id="drain"),
    ],
)
async def test_destructive_controls_confirm_then_call(
    scripted_daemon: MakeDaemon, key: str, method: str, params: dict[str, Any], notice: str
) -> None:
    daemon = scripted_daemon(on_subscribe=sample_events(1))
    app = build(daemon)
    recorder = Recorder()
    async with app.run_test(size=SIZE, message_hook=recorder) as pilot:
        await connected(pilot, app, 1)
        await pilot.press(key)
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert daemon.calls_to(method) == []
        await pilot.press("tab", "enter")  # focus moves from Cancel to the action button
        await wait_until(pilot, lambda: notice in recorder.notices())
        assert daemon.calls_to(method) == [params]


async def test_pause_toggles_by_the_queue_state(scripted_daemon: MakeDaemon) -> None:
    daemon = scripted_daemon(on_subscribe=sample_events(1))
    app = build(daemon)
    recorder = Recorder()
    async with app.run_test(size=SIZE, message_hook=recorder) as pilot:
        await connected(pilot, app, 1)
        await pilot.press("p")
        await wait_until(pilot, lambda: "enrichment paused" in recorder.notices())
        await pilot.press("p")
        await wait_until(pilot, lambda: "enrichment resumed" in recorder.notices())
        assert [m for m, _ in daemon.calls if m.startswith("queue.")] == ["queue.pause", "queue.resume"]


async def test_reindex_asks_for_the_selected_root_without_waiting(scripted_daemon: MakeDaemon) -> None:
    daemon = scripted_daemon(on_subscribe=sample_events(1))
    app = build(daemon)
    recorder = Recorder()
    async with app.run_test(size=SIZE, message_hook=recorder) as pilot:
        await connected(pilot, app, 1)
        await pilot.press("down", "r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.confirmation.target == BETA
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: "re-indexing beta…" in recorder.notices())
        assert daemon.calls_to("project.index") == [{"path": BETA, "wait": False}]


async def test_an_error_reply_becomes_an_error_notification(scripted_daemon: MakeDaemon) -> None:
    daemon = scripted_daemon(results={"project.evict": ProjectNotFound(BETA)}, on_subscribe=sample_events(1))
    app = build(daemon)
    recorder = Recorder()
    async with app.run_test(size=SIZE, message_hook=recorder) as pilot:
        await connected(pilot, app, 1)
        await pilot.press("down", "e")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: recorder.notices("error"))
        (error,) = recorder.notices("error")
        assert error.startswith("evict failed: ") and error.endswith(str(ProjectNotFound(BETA)))
        assert app.is_running


async def test_readonly_hides_controls_and_only_says_so(scripted_daemon: MakeDaemon) -> None:
    daemon = scripted_daemon(on_subscribe=sample_events(1))
    app = build(daemon, readonly=True)
    recorder = Recorder()
    async with app.run_test(size=SIZE, message_hook=recorder) as pilot:
        await connected(pilot, app, 1)
        assert "READ-ONLY" in header_text(app)
        shown = {b.binding.action for b in app.screen.active_bindings.values() if b.binding.show}
        assert not shown & {"evict", "evict_others", "drain", "pause", "reindex", "start_daemon"}
        await pilot.press("e", "E", "d", "p", "r")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert [m for m, _ in daemon.calls] == ["health", "subscribe"]
        readonly = [n for n in recorder.notices("warning") if n.startswith("read-only")]
        assert len(readonly) == 5
        await pilot.press("space", "slash")  # watching still works
        assert "FROZEN" in header_text(app)


async def test_help_lists_every_key(scripted_daemon: MakeDaemon) -> None:
    daemon = scripted_daemon(on_subscribe=sample_events(1))
    app = build(daemon)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app, 1)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        keys = {key for _, key, _ in app.screen.rows}
        assert {"e", "E", "d", "p", "r", "s", "space", "/", "o", "O", "?", "q", "Enter", "Esc"} <= keys
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, HelpScreen))


async def test_quit(scripted_daemon: MakeDaemon) -> None:
    daemon = scripted_daemon(on_subscribe=sample_events(1))
    app = build(daemon)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app, 1)
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running)


# -- connection handling -----------------------------------------------------------------------


def offline_text(app: TreeragTop) -> str:
    return str(app.main.query_one("#offline").content)


async def test_no_daemon_says_so_then_connects_when_it_comes_up(scripted_daemon: MakeDaemon) -> None:
    daemon = scripted_daemon(up=False, on_subscribe=sample_events(2))
    app = build(daemon)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.state.status == "down")
        assert offline_text(app) == f"treerag daemon is not running at {SOCKET}. Press s to start it."
        assert app.main.query_one("#offline").display and not app.main.query_one("#body").display
        assert "s" in app.screen.active_bindings
        daemon.up = True  # comes up by itself; the backoff retry finds it
        await connected(pilot, app, 2)
        assert not app.main.query_one("#offline").display and app.main.query_one("#body").display
        assert "s" not in app.screen.active_bindings


async def test_s_starts_the_daemon_and_connects_at_once(scripted_daemon: MakeDaemon) -> None:
    daemon = scripted_daemon(up=False, on_subscribe=sample_events(1))
    started: list[bool] = []

    async def start_daemon() -> None:
        started.append(True)
        daemon.up = True

    app = create_app(daemon.connect, clock=frozen_clock, start_daemon=start_daemon)
    assert isinstance(app, TreeragTop)
    app.link._backoff = (30.0, 30.0)  # only the wake-up after starting can reconnect in time
    recorder = Recorder()
    async with app.run_test(size=SIZE, message_hook=recorder) as pilot:
        await wait_until(pilot, lambda: app.state.status == "down")
        await pilot.press("s")
        await connected(pilot, app, 1)
        assert started == [True]
        assert "treerag daemon started" in recorder.notices()


async def test_readonly_without_a_daemon_does_not_offer_to_start_one(scripted_daemon: MakeDaemon) -> None:
    daemon = scripted_daemon(up=False)
    app = build(daemon, readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.state.status == "down")
        assert "Press s" not in offline_text(app)
        assert "treerag serve --headless --detach" in offline_text(app)


async def test_a_closed_connection_reconnects_without_crashing(scripted_daemon: MakeDaemon) -> None:
    daemon = scripted_daemon(on_subscribe=sample_events(2))
    app = build(daemon)
    recorder = Recorder()
    async with app.run_test(size=SIZE, message_hook=recorder) as pilot:
        await connected(pilot, app, 2)
        daemon.up = False
        await daemon.hang_up()
        await wait_until(pilot, lambda: app.state.status in ("lost", "down"))
        banner = app.main.query_one("#banner")
        assert banner.display and str(banner.content).startswith("disconnected, reconnecting…")
        assert "disconnected, reconnecting…" in header_text(app)
        assert app.main.query_one("#body").display  # the last data stays on screen
        await pilot.press("e")  # a control while disconnected is refused politely
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: "evict: not connected to the daemon" in recorder.notices("warning"))
        daemon.up = True
        await wait_until(pilot, lambda: app.state.connected and app.state.samples_seen >= 4)
        assert not banner.display
        assert daemon.connects >= 2
        statuses = [m.status for m in recorder.of(ConnectionChanged)]
        assert statuses[0] == "up" and "lost" in statuses and statuses[-1] == "up"
        assert app.is_running


async def test_buttons_take_the_mouse(scripted_daemon: MakeDaemon) -> None:
    daemon = scripted_daemon(on_subscribe=sample_events(1))
    app = build(daemon)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app, 1)
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert isinstance(app.screen.query_one("#cancel"), Button)
        await pilot.click("#cancel")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert daemon.calls_to("project.evict") == []
