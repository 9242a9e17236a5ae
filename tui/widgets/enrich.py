"""The enrichment panel: provider and model, backlog by priority, outcomes, spend left this hour, breaker.

It reads the sample's ``enrich`` map (docs/PROTOCOL.md; published by
``treerag/enrich/runner.py``). A daemon that sends none (an older one, or the
offline ``local`` provider that never calls out) shows "local summaries
(offline)" instead of a row of dashes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from ..format import DASH, fmt_count

__all__ = ["OFFLINE", "EnrichPanel", "enrich_lines"]

OFFLINE = "local summaries (offline)"
_BREAKER_STYLE = {"closed": "green", "half-open": "bold yellow", "open": "bold white on red"}
MAX_ERROR = 200


def _priority_key(key: str) -> tuple[int, str]:
    try:
        return (-int(key), key)  # highest priority first: 100 (entry points), 50, 1
    except ValueError:
        return (1 << 30, key)


def _ms(value: Any) -> str:
    if value is None:
        return DASH
    ms = float(value)
    return f"{ms:.0f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def _pair(text: Text, label: str, value: str, style: str = "") -> None:
    text.append(f"{label} ", style="dim")
    text.append(value, style=style)
    text.append("  ")


def enrich_lines(enrich: Mapping[str, Any] | None) -> list[Text]:
    """The panel's lines for one ``enrich`` map (or None: the offline line)."""
    if not enrich:
        return [Text(OFFLINE, style="dim")]
    lines: list[Text] = []

    head = Text(no_wrap=True, overflow="ellipsis")
    if enrich.get("paused"):
        head.append(" PAUSED ", style="bold black on yellow")
        head.append(" ")
    head.append(str(enrich.get("provider") or "?"), style="bold")
    if enrich.get("model"):
        head.append(f" · {enrich['model']}")
    lines.append(head)

    backlog = Text(no_wrap=True, overflow="ellipsis")
    _pair(backlog, "backlog", fmt_count(enrich.get("backlog") or 0), "bold")
    by_priority = enrich.get("backlog_by_priority") or {}
    for key in sorted(by_priority, key=lambda k: _priority_key(str(k))):
        backlog.append(f"p{key} ", style="dim")
        backlog.append(f"{fmt_count(by_priority[key])} ")
    lines.append(backlog)

    outcome = Text(no_wrap=True, overflow="ellipsis")
    failed = enrich.get("failed") or 0
    _pair(outcome, "done", fmt_count(enrich.get("done") or 0))
    _pair(outcome, "failed", fmt_count(failed), "bold red" if failed else "")
    _pair(outcome, "cached", fmt_count(enrich.get("cached") or 0))
    _pair(outcome, "skipped", fmt_count(enrich.get("skipped") or 0))
    lines.append(outcome)

    spend = Text(no_wrap=True, overflow="ellipsis")
    _pair(spend, "requests", fmt_count(enrich.get("requests") or 0))
    _pair(spend, "tokens", fmt_count(enrich.get("tokens") or 0))
    lines.append(spend)

    left = Text(no_wrap=True, overflow="ellipsis")
    left.append("left this hour ", style="dim")
    left.append(f"{_left(enrich.get('requests_per_hour_left'))} req · {_left(enrich.get('tokens_per_hour_left'))} tok")
    lines.append(left)

    health = Text(no_wrap=True, overflow="ellipsis")
    breaker = str(enrich.get("breaker") or DASH)
    health.append("breaker ", style="dim")
    health.append(f" {breaker} " if breaker in ("open", "half-open") else breaker, style=_BREAKER_STYLE.get(breaker, ""))
    health.append("  ")
    _pair(health, "p50", _ms(enrich.get("latency_p50_ms")))
    _pair(health, "p99", _ms(enrich.get("latency_p99_ms")))
    lines.append(health)

    error = enrich.get("last_error")
    if error:
        message = " ".join(str(error).split())
        if len(message) > MAX_ERROR:
            message = message[: MAX_ERROR - 1] + "…"
        line = Text(overflow="fold")
        line.append("last error ", style="dim")
        line.append(message, style="red")
        lines.append(line)
    return lines


def _left(value: Any) -> str:
    """Budget left; None means the provider sets no limit."""
    return "∞" if value is None else fmt_count(value)


class EnrichPanel(Static):
    """Re-renders only when the ``enrich`` part of the sample changed."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(OFFLINE, id=id, markup=False)
        self.border_title = "enrichment"
        self._shown: Mapping[str, Any] | None | bool = False  # False: nothing drawn yet

    def show_enrich(self, enrich: Mapping[str, Any] | None) -> None:
        if enrich == self._shown and self._shown is not False:
            return
        self._shown = dict(enrich) if enrich else None
        title = "enrichment"
        if enrich and enrich.get("paused"):
            title += " · paused"
        if enrich and enrich.get("breaker") == "open":
            title += " · breaker open"
        self.border_title = title
        self.update(Group(*enrich_lines(enrich)), layout=False)  # fixed size: repaint only
