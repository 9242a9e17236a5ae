"""Messages the daemon link posts to the app: small dataclasses.

The link records every sample and log line in ``DashboardState`` before it
posts, so a message only says "there is something new to draw". That makes
collapsing a flood lossless: the high-frequency ones implement
``can_replace()`` and a burst renders once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from textual.message import Message

__all__ = ["ConnectionChanged", "HealthReceived", "LogReceived", "SampleReceived"]

Status = Literal["connecting", "up", "lost", "down"]


@dataclass(eq=False)
class ConnectionChanged(Message):
    """``up`` connected; ``lost`` the connection closed; ``down`` a connect attempt failed."""

    status: Status
    socket: str | None = None
    reason: str | None = None
    not_running: bool = False


@dataclass(eq=False)
class HealthReceived(Message):
    health: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class SampleReceived(Message):
    """A new metrics sample is in ``DashboardState``; ``seen`` counts samples so far."""

    seen: int = 0

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SampleReceived)


@dataclass(eq=False)
class LogReceived(Message):
    """New daemon log records wait in ``DashboardState.logs``."""

    seen: int = 0

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LogReceived)
