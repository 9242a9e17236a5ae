"""The one-line header: version, uptime, pid, socket, memory limit, pressure, connection, markers."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ..format import fmt_duration

__all__ = ["HeaderBar"]

_PRESSURE_STYLE = {"normal": "bold green", "warning": "bold yellow", "critical": "bold white on red"}
_STATUS_TEXT = {
    "connecting": ("connecting…", "yellow"),
    "up": ("● connected", "green"),
    "lost": ("disconnected, reconnecting…", "bold yellow"),
    "down": ("not connected", "bold red"),
}


class HeaderBar(Widget):
    """Renders from reactives, so a sample that changes nothing visible costs no repaint."""

    version = reactive("?")
    pid = reactive("?")
    socket = reactive("?")
    uptime_s = reactive[float | None](None)
    limit_mb = reactive[int | None](None)
    pressure = reactive("")
    status = reactive("connecting")
    frozen = reactive(False)
    readonly = reactive(False)

    def show_health(self, health: dict[str, Any]) -> None:
        self.version = str(health.get("version") or "?")
        self.pid = str(health.get("pid") or "?")
        self.socket = str(health.get("socket") or "?")
        if health.get("uptime_s") is not None and self.uptime_s is None:
            self.uptime_s = float(health["uptime_s"])

    def show_sample(self, sample: dict[str, Any]) -> None:
        if sample.get("uptime_s") is not None:
            self.uptime_s = int(sample["uptime_s"])
        if sample.get("memory_limit_mb") is not None:
            self.limit_mb = int(sample["memory_limit_mb"])
        self.pressure = str((sample.get("resources") or {}).get("pressure") or "")

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" treerag ", style="bold reverse")
        text.append(f" {self.version} ")
        if self.frozen:
            text.append(" FROZEN ", style="bold black on cyan")
            text.append(" ")
        if self.readonly:
            text.append(" READ-ONLY ", style="bold black on magenta")
            text.append(" ")
        self._field(text, "pid", self.pid)
        self._field(text, "up", fmt_duration(self.uptime_s))
        self._field(text, "limit", f"{self.limit_mb} MB" if self.limit_mb is not None else "—")
        if self.pressure:
            text.append(" ")
            text.append(f" {self.pressure} ", style=_PRESSURE_STYLE.get(self.pressure, "bold"))
            text.append(" ")
        words, style = _STATUS_TEXT.get(self.status, (self.status, ""))
        text.append("│ ", style="dim")
        text.append(words + " ", style=style)
        text.append("│ ", style="dim")
        text.append(self.socket, style="dim")
        return text

    @staticmethod
    def _field(text: Text, label: str, value: str) -> None:
        text.append("│ ", style="dim")
        text.append(f"{label} ", style="dim")
        text.append(f"{value} ")
