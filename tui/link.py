"""The dashboard's connection to the daemon: connect, subscribe, pump events, reconnect with backoff.

``DaemonLink.run()`` runs for the app's lifetime in a Textual worker. Each
round it calls the injected ``connect()`` (which returns an ``AsyncClient``
whose ``run()`` has *not* been started: the link runs it in its own task
group), asks ``health`` once, subscribes to ``metrics``, ``log`` and
``progress``, then records every pushed event in ``DashboardState`` and posts a
small message for the app to draw. When the connection closes it says so and
tries again at once; a failed attempt waits 0.5 s, doubling to 5 s, or until
``wake()`` (the app calls it after starting a daemon). Nothing here raises
into the app: failures become ``ConnectionChanged`` messages.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

from treerag.errors import DaemonNotRunning, TreeragError

from .messages import ConnectionChanged, HealthReceived, LogReceived, SampleReceived
from .state import DashboardState

if TYPE_CHECKING:
    from textual.message import Message

    from treerag.client.aio import AsyncClient

__all__ = ["BACKOFF_MAX", "BACKOFF_MIN", "TOPICS", "DaemonLink"]

logger = logging.getLogger(__name__)

TOPICS = ["metrics", "log", "progress"]
BACKOFF_MIN = 0.5
BACKOFF_MAX = 5.0


class DaemonLink:
    def __init__(
        self,
        connect: Callable[[], Awaitable[AsyncClient]],
        state: DashboardState,
        post: Callable[[Message], object],
        *,
        backoff: tuple[float, float] = (BACKOFF_MIN, BACKOFF_MAX),
    ) -> None:
        self._connect = connect
        self._state = state
        self._post = post
        self._backoff = backoff
        self._wake: anyio.Event | None = None
        self.client: AsyncClient | None = None
        self.attempts = 0

    def wake(self) -> None:
        """Retry now instead of at the end of the current backoff."""
        if self._wake is not None:
            self._wake.set()

    async def run(self) -> None:
        delay = self._backoff[0]
        while True:
            self.attempts += 1
            try:
                client = await self._connect()
            except DaemonNotRunning as exc:
                self._post(ConnectionChanged("down", socket=exc.socket, reason=str(exc), not_running=True))
            except (TreeragError, OSError) as exc:
                self._post(ConnectionChanged("down", reason=_reason(exc)))
            else:
                if await self._session(client):
                    delay = self._backoff[0]
                    self._post(ConnectionChanged("lost"))
                    continue
            await self._sleep(delay)
            delay = min(delay * 2, self._backoff[1])

    async def _sleep(self, delay: float) -> None:
        self._wake = anyio.Event()
        with anyio.move_on_after(delay):
            await self._wake.wait()
        self._wake = None

    async def _session(self, client: AsyncClient) -> bool:
        """One connection, from handshake to close; False if the handshake failed."""
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.run)
                try:
                    health = await client.call("health")
                    self._post(HealthReceived(dict(health or {})))
                    await client.call("subscribe", topics=TOPICS)
                except TreeragError as exc:
                    logger.debug("handshake failed: %s", exc)
                    self._post(ConnectionChanged("down", reason=_reason(exc)))
                    tg.cancel_scope.cancel()
                    return False
                self.client = client
                self._post(ConnectionChanged("up"))
                async for event in client.events:
                    self._dispatch(event.event, event.data)
                tg.cancel_scope.cancel()
            return True
        finally:
            self.client = None
            client.events.close()
            with anyio.CancelScope(shield=True):
                try:
                    await client.aclose()
                except Exception as exc:  # closing a dead connection may fail in many ways
                    logger.debug("closing the client: %s", exc)

    def _dispatch(self, event: str, data: Any) -> None:
        state = self._state
        if event == "metrics" and isinstance(data, dict):
            state.add_sample(data)
            self._post(SampleReceived(state.samples_seen))
        elif event == "log" and isinstance(data, dict):
            state.add_log(data)
            self._post(LogReceived(state.logs_seen))
        elif event == "progress" and isinstance(data, dict):
            state.add_progress(data)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}{f': {exc.filename}' if exc.filename else ''}"
    return str(exc) or type(exc).__name__
