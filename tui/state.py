"""Everything the dashboard knows about the daemon, in one plain object the widgets read from.

The daemon link writes it (every sample, log record and progress event, even
while the display is frozen); the main screen reads it when it renders.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from .history import HISTORY, MetricsHistory

__all__ = ["LOG_LINES", "DashboardState"]

LOG_LINES = 500  # log records kept while waiting to be drawn (and lines the log panel keeps)


class DashboardState:
    def __init__(self, capacity: int = HISTORY) -> None:
        self.history = MetricsHistory(capacity)
        self.sample: dict[str, Any] | None = None
        self.health: dict[str, Any] | None = None
        self.logs: deque[dict[str, Any]] = deque(maxlen=LOG_LINES)
        self.progress: dict[str, dict[str, Any]] = {}
        self.samples_seen = 0
        self.logs_seen = 0
        self.status = "connecting"
        self.socket: str | None = None
        self.reason: str | None = None
        self.not_running = False
        self.ever_connected = False

    def add_sample(self, sample: dict[str, Any]) -> None:
        self.sample = sample
        self.history.add(sample)
        self.samples_seen += 1
        # A finished index makes its progress event stale.
        for record in sample.get("projects") or ():
            if record.get("state") != "indexing":
                self.progress.pop(str(record.get("root")), None)

    def add_log(self, record: dict[str, Any]) -> None:
        self.logs.append(record)
        self.logs_seen += 1

    def add_progress(self, event: dict[str, Any]) -> None:
        root = str(event.get("root"))
        if event.get("phase") in ("done", "error"):
            self.progress.pop(root, None)
        else:
            self.progress[root] = event

    def take_logs(self) -> list[dict[str, Any]]:
        records = list(self.logs)
        self.logs.clear()
        return records

    @property
    def connected(self) -> bool:
        return self.status == "up"

    @property
    def projects(self) -> list[dict[str, Any]]:
        return list((self.sample or {}).get("projects") or [])

    @property
    def paused(self) -> bool:
        return bool(((self.sample or {}).get("queue") or {}).get("paused"))

    @property
    def socket_label(self) -> str:
        return str((self.health or {}).get("socket") or self.socket or "?")
