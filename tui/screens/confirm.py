"""The confirmation modal for destructive actions, and the ``Confirmation`` it carries.

A ``Confirmation`` is built when the key is pressed and captures the target's
identity then (the project root string, never a row index: the table reorders
under the cursor every second). The modal only shows it and answers yes or
no; Cancel has the focus, Escape cancels, the buttons take the mouse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

__all__ = ["ConfirmScreen", "Confirmation"]


@dataclass(frozen=True)
class Confirmation:
    """What a confirmed action will do: call ``method`` with ``params``, about ``target``."""

    title: str
    prompt: str
    verb: str
    method: str
    params: Mapping[str, Any] = field(default_factory=dict)
    target: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    @classmethod
    def evict(cls, root: str, name: str | None = None) -> Confirmation:
        label = f"{name} ({root})" if name else root
        return cls(
            title="Evict project?",
            prompt=f"Evict {label} from memory? Its index stays on disk and reloads on the next request.",
            verb="Evict",
            method="project.evict",
            params={"path": root},
            target=root,
        )

    @classmethod
    def evict_all_but_current(cls, current: str | None) -> Confirmation:
        keep = f"keep only {current}" if current else "no project is current, so all are evicted"
        return cls(
            title="Evict all but the current project?",
            prompt=f"Evict every loaded project from memory ({keep})? Indexes stay on disk.",
            verb="Evict all",
            method="project.evict_all_but_current",
            target=current,
        )

    @classmethod
    def reindex(cls, root: str, name: str | None = None) -> Confirmation:
        label = f"{name} ({root})" if name else root
        return cls(
            title="Re-index project?",
            prompt=f"Re-index {label} from scratch? It keeps answering from the current index meanwhile.",
            verb="Re-index",
            method="project.index",
            params={"path": root, "wait": False},
            target=root,
        )

    @classmethod
    def drain(cls, pending: int | None) -> Confirmation:
        count = f"{pending} pending task(s)" if pending is not None else "every pending task"
        return cls(
            title="Drain the queue?",
            prompt=f"Drop {count} from the enrichment queue? Running tasks finish.",
            verb="Drain",
            method="queue.drain",
        )


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with True (confirmed) or False (cancelled)."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("left", "app.focus_previous", "Previous", show=False),
        Binding("right", "app.focus_next", "Next", show=False),
    ]

    def __init__(self, confirmation: Confirmation) -> None:
        super().__init__()
        self.confirmation = confirmation

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Label(self.confirmation.title, id="confirm-title")
            yield Static(self.confirmation.prompt, id="confirm-prompt", markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="cancel", variant="default")
                yield Button(self.confirmation.verb, id="confirm", variant="error")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")

    def action_cancel(self) -> None:
        self.dismiss(False)
