"""The help screen: every key the dashboard answers to, gathered from the bindings themselves."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["HelpScreen", "help_rows"]

_KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "space": "space",
    "escape": "Esc",
    "enter": "Enter",
}

EXTRA_ROWS: tuple[tuple[str, str], ...] = (
    ("↑ ↓ PgUp PgDn", "move in the projects table"),
    ("click a header", "sort by that column (again: reverse)"),
    ("Tab / Esc", "in a confirmation: move between buttons / cancel (Cancel has the focus)"),
)


def _key_label(key: str) -> str:
    return ", ".join(_KEY_NAMES.get(k.strip(), k.strip()) for k in key.split(","))


def help_rows(sections: Iterable[tuple[str, Sequence[BindingType]]]) -> list[tuple[str, str, str]]:
    """``(section, key, description)`` for every described binding, in declaration order."""
    rows: list[tuple[str, str, str]] = []
    for section, bindings in sections:
        seen: set[str] = set()
        for binding in bindings:
            if not isinstance(binding, Binding):
                binding = Binding(*binding)
            if not binding.description or binding.action.startswith("readonly"):
                continue
            key = _key_label(binding.key_display or binding.key)
            if key in seen:
                continue
            seen.add(key)
            rows.append((section, key, binding.description))
    return rows


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark", "close", "Close"),
    ]

    def __init__(self, rows: Sequence[tuple[str, str, str]], *, readonly: bool = False) -> None:
        super().__init__()
        self.rows = list(rows)
        self.readonly = readonly

    def compose(self) -> ComposeResult:
        table = Table(box=None, padding=(0, 2), show_header=False, expand=True)
        table.add_column("key", style="bold cyan", no_wrap=True, width=16)
        table.add_column("does")
        section = None
        for name, key, description in self.rows:
            if name != section:
                if section is not None:
                    table.add_row("", "")
                table.add_row(Text(name, style="bold underline"), "")
                section = name
            table.add_row(key, description)
        table.add_row("", "")
        table.add_row(Text("moving around", style="bold underline"), "")
        for key, description in EXTRA_ROWS:
            table.add_row(key, description)
        if self.readonly:
            table.add_row("", "")
            table.add_row("", Text("read-only: the controls are disabled", style="bold magenta"))
        with VerticalScroll(id="help-dialog") as scroll:
            scroll.border_title = "treerag top · keys"
            scroll.border_subtitle = "Esc, q or ? to close"
            yield Static(table, id="help-table")

    def action_close(self) -> None:
        self.dismiss(None)
