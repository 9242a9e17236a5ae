"""``treerag top``, the Textual dashboard, installed as ``treerag.tui`` (never a bare ``tui``).

``create_app`` is the one entry point: the CLI passes a connect function for
the real socket, the tests pass a scripted daemon. Textual is imported only
when an app is built, so importing this package costs nothing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.app import App

    from treerag.client.aio import AsyncClient

__all__ = ["create_app"]


def create_app(
    connect: Callable[[], Awaitable[AsyncClient]],
    *,
    readonly: bool = False,
    clock: Callable[[], float] = time.time,
    start_daemon: Callable[[], Awaitable[None]] | None = None,
) -> App[None]:
    """Build the dashboard.

    ``connect`` returns a fresh ``AsyncClient`` each time it is awaited, *not*
    yet running: the app runs ``client.run()`` in its own task group and
    calls ``connect`` again (with backoff) whenever the connection is lost or
    the daemon is not running (raise ``DaemonNotRunning``). ``readonly`` hides
    and disables every control. ``clock`` gives "now" for relative times (tests
    freeze it). ``start_daemon``, if given, is what the ``s`` key runs when no
    daemon answers.
    """
    from .app import TreeragTop

    return TreeragTop(connect, readonly=readonly, clock=clock, start_daemon=start_daemon)
