"""The log panel: the daemon's ``log`` events as one line each, bounded to the last few hundred."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from textual.widgets import Log

from ..state import LOG_LINES

__all__ = ["LogPanel", "format_log"]

_STANDARD = frozenset({"ts", "level", "logger", "msg", "message", "time"})
MAX_LINE = 400


def format_log(record: Mapping[str, Any]) -> str:
    """``12:00:01 INFO    daemon.server  client connected peer=1234`` (local time)."""
    ts = record.get("ts") or record.get("time")
    stamp = time.strftime("%H:%M:%S", time.localtime(float(ts))) if isinstance(ts, (int, float)) else "--:--:--"
    level = str(record.get("level") or "").upper()
    logger = str(record.get("logger") or "")
    if logger.startswith("treerag."):
        logger = logger[len("treerag.") :]
    msg = str(record.get("msg") or record.get("message") or "")
    fields = " ".join(f"{k}={v}" for k, v in record.items() if k not in _STANDARD)
    line = f"{stamp} {level:<7} {logger}  {msg}" + (f"  {fields}" if fields else "")
    line = line.replace("\n", " ⏎ ")
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


class LogPanel(Log):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(max_lines=LOG_LINES, auto_scroll=True, id=id)
        self.border_title = "log"

    def append_records(self, records: Iterable[Mapping[str, Any]]) -> None:
        lines = [format_log(r) for r in records]
        if lines:
            self.write_lines(lines)
