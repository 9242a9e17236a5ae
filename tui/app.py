"""``treerag top``: the Textual app that watches and steers the daemon.

The big picture::

    connect() ──> DaemonLink (worker) ──records──> DashboardState
                       │ posts ConnectionChanged / HealthReceived / SampleReceived / LogReceived
                       v
                  TreeragTop (this app) ──> MainScreen.render_* ──> widgets (updated in place)
                  MainScreen actions ──> TreeragTop.call_daemon (worker) ──> notification

Every daemon call runs in a worker; nothing here blocks the UI, and a failure
is a notification, never a crash. Build it with ``treerag.tui.create_app``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.binding import Binding
from textual.worker import Worker, WorkerState

from treerag.errors import DaemonAlreadyRunning, TreeragError

from .link import DaemonLink
from .messages import ConnectionChanged, HealthReceived, LogReceived, SampleReceived
from .screens.help import HelpScreen, help_rows
from .screens.main import MainScreen
from .state import DashboardState
from .widgets.filter import FilterBar
from .widgets.projects import ProjectsTable

if TYPE_CHECKING:
    from treerag.client.aio import AsyncClient

__all__ = ["TreeragTop"]

logger = logging.getLogger(__name__)

LINK_RESTART_S = 1.0
ERROR_TIMEOUT_S = 10.0


class TreeragTop(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "treerag top"
    ENABLE_COMMAND_PALETTE = False

    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        connect: Callable[[], Awaitable[AsyncClient]],
        *,
        readonly: bool = False,
        clock: Callable[[], float] = time.time,
        start_daemon: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__()
        self.readonly = readonly
        self.clock = clock
        self.start_daemon = start_daemon
        self.state = DashboardState()
        self.link = DaemonLink(connect, self.state, self.post_message)
        self.main = MainScreen(self.state, readonly=readonly, clock=clock)
        self._starting = False

    def get_default_screen(self) -> MainScreen:
        return self.main

    def on_mount(self) -> None:
        self._start_link()

    def _start_link(self) -> None:
        self.run_worker(self.link.run(), name="daemon link", group="link", exclusive=True, exit_on_error=False)

    # -- what the link reports ---------------------------------------------------------------

    def on_connection_changed(self, message: ConnectionChanged) -> None:
        state = self.state
        state.status = message.status
        if message.socket:
            state.socket = message.socket
        state.reason = message.reason
        state.not_running = message.not_running
        if message.status == "up":
            state.ever_connected = True
        self.main.show_connection()

    def on_health_received(self, message: HealthReceived) -> None:
        self.state.health = message.health
        self.main.show_health(message.health)

    def on_sample_received(self, message: SampleReceived) -> None:
        self.main.render_state()

    def on_log_received(self, message: LogReceived) -> None:
        self.main.render_logs()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        worker = event.worker
        logger.debug("worker %s failed", worker.name, exc_info=worker.error)
        self.notify(f"{worker.name} failed: {worker.error}", severity="error", timeout=ERROR_TIMEOUT_S, markup=False)
        if worker.group == "link":
            self.set_timer(LINK_RESTART_S, self._start_link)

    # -- calls to the daemon -----------------------------------------------------------------

    def call_daemon(self, what: str, method: str, params: dict[str, Any], describe: Callable[[Any], str]) -> None:
        """Call ``method`` in a worker; notify ``describe(result)``, or the reason it failed."""
        self.run_worker(self._call(what, method, params, describe), name=what, group="calls", exit_on_error=False)

    async def _call(self, what: str, method: str, params: dict[str, Any], describe: Callable[[Any], str]) -> None:
        client = self.link.client
        if client is None:
            self.notify(f"{what}: not connected to the daemon", severity="warning")
            return
        try:
            result = await client.call(method, **params)
        except TreeragError as exc:
            self.notify(f"{what} failed: {exc}", title="error", severity="error", timeout=ERROR_TIMEOUT_S, markup=False)
            return
        except Exception as exc:  # a broken connection surfaces as whatever the transport raises
            self.notify(f"{what} failed: {exc!r}", title="error", severity="error", timeout=ERROR_TIMEOUT_S, markup=False)
            return
        self.notify(describe(result), markup=False)

    def start_daemon_now(self) -> None:
        if self.state.connected:
            self.notify("the daemon is already running")
            return
        if self.start_daemon is None:
            self.notify(f"start the daemon with `treerag serve --headless --detach`", severity="warning", markup=False)
            return
        if self._starting:
            self.notify("the daemon is starting…")
            return
        self._starting = True
        self.notify("starting the treerag daemon…")
        self.run_worker(self._start(self.start_daemon), name="start daemon", group="start", exit_on_error=False)

    async def _start(self, start: Callable[[], Awaitable[None]]) -> None:
        try:
            await start()
        except DaemonAlreadyRunning:
            self.notify("a treerag daemon is already running; connecting")
        except TreeragError as exc:
            self.notify(f"could not start the daemon: {exc}", severity="error", timeout=ERROR_TIMEOUT_S, markup=False)
        else:
            self.notify("treerag daemon started")
        finally:
            self._starting = False
        self.link.wake()

    # -- app-level actions -------------------------------------------------------------------

    def action_help(self) -> None:
        filter_keys = [Binding("enter", "", "keep the filter, back to the table"), *FilterBar.BINDINGS]
        rows = help_rows(
            [
                ("dashboard", [*MainScreen.BINDINGS, *self.BINDINGS]),
                ("projects table", ProjectsTable.BINDINGS),
                ("filter bar (after /)", filter_keys),
            ]
        )
        self.push_screen(HelpScreen(rows, readonly=self.readonly))
