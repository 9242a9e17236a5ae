"""The filter bar under ``/``: narrows the projects table by name or root as you type.

Enter keeps the filter and returns to the table; Escape clears it.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input

__all__ = ["FilterBar"]


class FilterBar(Input):
    BINDINGS = [Binding("escape", "clear_filter", "Clear filter")]

    class Closed(Message):
        """The user is done with the bar (Enter keeps the text, Escape clears it)."""

    def __init__(self, *, id: str | None = None) -> None:
        # No blinking cursor: a timer less while typing, and stable snapshots.
        super().__init__(placeholder="filter projects by name or root", id=id)
        self.cursor_blink = False

    def action_clear_filter(self) -> None:
        self.value = ""
        self.post_message(self.Closed())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Closed())
