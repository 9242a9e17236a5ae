"""The queue panel: pending by priority and by kind, running, done, failed, and whether it is paused."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ..format import fmt_count

__all__ = ["QueuePanel", "queue_summary"]


def queue_summary(queue: Mapping[str, Any]) -> Text:
    """The first line: totals and the paused marker."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if queue.get("paused"):
        text.append(" PAUSED ", style="bold black on yellow")
        text.append("  ")
    for index, (label, style) in enumerate(
        (("pending", "bold"), ("running", "bold cyan"), ("failed", "bold red"), ("done", ""))
    ):
        value = queue.get(label) or 0
        if index:
            text.append("  ")
        text.append(f"{label} ", style="dim")
        text.append(fmt_count(value), style=style if value else "")
    return text


class QueuePanel(Static):
    """Re-renders only when the queue part of the sample changed."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("no data", id=id)
        self.border_title = "queue"
        self._shown: Mapping[str, Any] | None = None

    def show_queue(self, queue: Mapping[str, Any]) -> None:
        if queue == self._shown:
            return
        self._shown = dict(queue)
        self.border_title = "queue · paused" if queue.get("paused") else "queue"
        self.update(self._render_queue(queue), layout=False)  # fixed size: repaint only

    @staticmethod
    def _render_queue(queue: Mapping[str, Any]) -> Table:
        grid = Table.grid()
        grid.add_column()
        grid.add_row(queue_summary(queue))
        by_priority = queue.get("by_priority") or {}
        if by_priority:
            prio = Text(no_wrap=True, overflow="ellipsis")
            prio.append("by priority ", style="dim")
            for key in sorted(by_priority, key=_priority_key):
                prio.append(f"p{key} ", style="dim")
                prio.append(f"{fmt_count(by_priority[key])}  ")
            grid.add_row(prio)
        by_kind = queue.get("by_kind") or {}
        if by_kind:
            kinds = Table(box=None, padding=(0, 1), show_edge=False, header_style="dim", expand=False)
            for heading in ("kind", "pending", "running", "failed"):
                kinds.add_column(heading, justify="left" if heading == "kind" else "right")
            for kind in sorted(by_kind):
                entry = by_kind[kind] or {}
                failed = entry.get("failed") or 0
                kinds.add_row(
                    kind,
                    fmt_count(entry.get("pending") or 0),
                    fmt_count(entry.get("running") or 0),
                    Text(fmt_count(failed), style="red" if failed else ""),
                )
            grid.add_row(kinds)
        if not by_priority and not by_kind:
            grid.add_row(Text("queue is empty", style="dim"))
        return grid


def _priority_key(key: str) -> tuple[int, str]:
    try:
        return (int(key), key)
    except ValueError:
        return (1 << 30, key)
