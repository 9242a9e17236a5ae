"""The main screen: header, plots, projects, queue, enrichment and log, plus the controls that act on the daemon.

It draws from ``DashboardState`` when the app says something new arrived, and
not at all while frozen (the state keeps recording). Controls are bindings on
this screen; destructive ones go through ``ConfirmScreen`` with their target
captured when the key is pressed. In read-only mode the controls are hidden
from the footer and their keys only say so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from ..state import DashboardState
from ..widgets.enrich import EnrichPanel
from ..widgets.filter import FilterBar
from ..widgets.header import HeaderBar
from ..widgets.log import LogPanel
from ..widgets.plots import PlotsPanel
from ..widgets.projects import ProjectsTable
from ..widgets.queue import QueuePanel
from .confirm import Confirmation, ConfirmScreen

if TYPE_CHECKING:
    from textual.timer import Timer

    from ..app import TreeragTop

__all__ = ["CONTROLS", "MainScreen"]

CONTROLS = frozenset({"evict", "evict_others", "drain", "pause", "reindex", "start_daemon"})
START_HINT = "treerag serve --headless --detach"
LOG_FLUSH_S = 1.0


def _control(key: str, action: str, description: str, show: bool = True) -> list[Binding]:
    """The control, and a hidden twin that answers "read-only" when the control is disabled."""
    return [
        Binding(key, action, description, show=show),
        Binding(key, f"readonly('{description.lower()}')", show=False),
    ]


class MainScreen(Screen[None]):
    AUTO_FOCUS = "#projects"
    # Layout classes for app.tcss: narrow terminals drop the log, short ones the latency row.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-normal"), (180, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]

    BINDINGS = [
        *_control("e", "evict", "Evict"),
        *_control("E", "evict_others", "Evict others"),
        *_control("d", "drain", "Drain queue"),
        *_control("p", "pause", "Pause/resume"),
        *_control("r", "reindex", "Re-index"),
        *_control("s", "start_daemon", "Start daemon"),
        Binding("space", "freeze", "Freeze"),
        Binding("slash", "filter", "Filter"),
    ]

    frozen = reactive(False, init=False)

    def __init__(self, state: DashboardState, *, readonly: bool, clock: Callable[[], float]) -> None:
        super().__init__()
        self.state = state
        self.readonly = readonly
        self.clock = clock
        self.rendered_seen = 0  # samples_seen at the last render (tests wait on it)
        self._log_timer: Timer | None = None
        # Built once and updated in place for the life of the screen.
        self.header = HeaderBar(id="header")
        self.header.readonly = readonly
        self.banner = Static(id="banner", markup=False)
        self.offline = Static("Connecting to the treerag daemon…", id="offline", markup=False)
        self.body = Vertical(id="body")
        self.plots = PlotsPanel(id="plots")
        self.filter_bar = FilterBar(id="filter")
        self.table = ProjectsTable(id="projects")
        self.queue = QueuePanel(id="queue")
        self.enrich = EnrichPanel(id="enrich")
        self.log_panel = LogPanel(id="log")

    @property
    def top(self) -> TreeragTop:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield self.header
        yield self.banner
        yield self.offline
        with self.body:
            yield self.plots
            yield self.filter_bar
            yield self.table
            with Horizontal(id="bottom"):
                yield self.queue
                yield self.enrich
                yield self.log_panel
        yield Footer(compact=True, show_command_palette=False)

    # -- drawing -----------------------------------------------------------------------------

    def render_state(self) -> None:
        """Draw the latest sample (called for each, collapsed when they pile up)."""
        if self.frozen or self.state.sample is None:
            return
        state, sample = self.state, self.state.sample
        self.header.show_sample(sample)
        self.plots.show(state.history, sample)
        process = sample.get("process") or {}
        total = process.get("total_rss_bytes") or (sample.get("resources") or {}).get("usage_bytes")
        self.table.show_projects(state.projects, self.clock(), total, state.progress)
        self.queue.show_queue(sample.get("queue") or {})
        enrich = sample.get("enrich")
        self.enrich.show_enrich(enrich if isinstance(enrich, dict) else None)
        self._flush_logs()  # in the same frame: one repaint a second, not one per log line
        self.rendered_seen = state.samples_seen

    def render_logs(self) -> None:
        """New log records: drawn with the next sample, or within a second if none comes."""
        if not self.frozen and self._log_timer is None:
            self._log_timer = self.set_timer(LOG_FLUSH_S, self._flush_logs)

    def _flush_logs(self) -> None:
        if self._log_timer is not None:
            self._log_timer.stop()
            self._log_timer = None
        if not self.frozen:
            self.log_panel.append_records(self.state.take_logs())

    def show_health(self, health: dict[str, Any]) -> None:
        self.header.show_health(health)

    def show_connection(self) -> None:
        state = self.state
        # Once connected, any later failure reads as "disconnected, reconnecting…".
        self.header.status = "lost" if state.ever_connected and state.status == "down" else state.status
        banner, offline = self.banner, self.offline
        if state.status == "up":
            banner.display = False
            offline.display = False
            self.body.display = True
            self.table.focus()
        elif state.ever_connected:
            banner.update("disconnected, reconnecting…" + (f" — {self._down_text()}" if state.status == "down" else ""))
            banner.display = True
        else:
            self.body.display = False
            offline.update(self._down_text() if state.status == "down" else "Connecting to the treerag daemon…")
            offline.display = True
        self.refresh_bindings()

    def _down_text(self) -> str:
        state = self.state
        if state.not_running:
            text = f"treerag daemon is not running at {state.socket_label}."
            if self.readonly:
                return f"{text} Start it with `{START_HINT}` (this dashboard is read-only)."
            return f"{text} Press s to start it."
        return f"cannot reach the treerag daemon at {state.socket_label}: {state.reason}. Retrying…"

    def watch_frozen(self, frozen: bool) -> None:
        self.header.frozen = frozen
        if not frozen:
            self.render_state()
            self._flush_logs()

    # -- filter ------------------------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.table.filter_text = event.value

    def on_filter_bar_closed(self, event: FilterBar.Closed) -> None:
        if not self.filter_bar.value:
            self.filter_bar.display = False
        self.table.focus()

    # -- actions -----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "readonly":
            return self.readonly
        if action in CONTROLS and self.readonly:
            return False  # hidden; the key falls through to its "readonly" twin
        if action == "start_daemon":
            return not self.state.connected
        return True

    def action_readonly(self, what: str) -> None:
        self.notify(f"read-only: {what} is disabled", title="read-only", severity="warning")

    def action_freeze(self) -> None:
        self.frozen = not self.frozen
        self.notify("display frozen (samples are still recorded)" if self.frozen else "display live again")

    def action_filter(self) -> None:
        self.filter_bar.display = True
        self.filter_bar.focus()

    def action_evict(self) -> None:
        record = self.table.selected_record()
        if record is None:
            self.notify("no project selected", severity="warning")
            return
        root = str(record.get("root"))
        name = str(record.get("name") or root)

        def done(result: Any) -> str:
            evicted = result.get("evicted", root) if isinstance(result, dict) else root
            return f"evicted {name} ({evicted})"

        self._confirm(Confirmation.evict(root, name), done)

    def action_evict_others(self) -> None:
        current = next((str(p.get("root")) for p in self.state.projects if p.get("current")), None)

        def done(result: Any) -> str:
            evicted = (result.get("evicted") or []) if isinstance(result, dict) else []
            kept = result.get("current") if isinstance(result, dict) else None
            return f"evicted {len(evicted)} project(s)" + (f"; kept {kept}" if kept else "")

        self._confirm(Confirmation.evict_all_but_current(current), done)

    def action_drain(self) -> None:
        pending = ((self.state.sample or {}).get("queue") or {}).get("pending")

        def done(result: Any) -> str:
            dropped = result.get("dropped", 0) if isinstance(result, dict) else 0
            return f"queue drained: {dropped} task(s) dropped"

        self._confirm(Confirmation.drain(pending), done)

    def action_pause(self) -> None:
        resume = self.state.paused
        method = "queue.resume" if resume else "queue.pause"

        def done(result: Any) -> str:
            paused = bool(result.get("paused", not resume)) if isinstance(result, dict) else not resume
            queue = (self.state.sample or {}).get("queue")
            if isinstance(queue, dict):
                queue["paused"] = paused  # until the next sample says so
            return "enrichment paused" if paused else "enrichment resumed"

        self.top.call_daemon("resume" if resume else "pause", method, {}, done)

    def action_reindex(self) -> None:
        record = self.table.selected_record()
        if record is None:
            self.notify("no project selected", severity="warning")
            return
        root = str(record.get("root"))
        name = str(record.get("name") or root)
        self._confirm(Confirmation.reindex(root, name), lambda _: f"re-indexing {name}…")

    def action_start_daemon(self) -> None:
        self.top.start_daemon_now()

    def _confirm(self, confirmation: Confirmation, done: Callable[[Any], str]) -> None:
        def answered(confirmed: bool | None) -> None:
            if not confirmed:
                self.notify(f"{confirmation.verb.lower()} cancelled")
                return
            self.top.call_daemon(confirmation.verb.lower(), confirmation.method, dict(confirmation.params), done)

        self.app.push_screen(ConfirmScreen(confirmation), answered)
