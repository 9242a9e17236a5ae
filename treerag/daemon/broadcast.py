"""Subscriptions: who listens to which topic, and the 1 Hz metrics sampler.

Topics: ``metrics`` (one sample a second), ``log`` (daemon log records),
``progress`` (indexing and queue progress). Publishing to a topic nobody
listens to costs one dict lookup. The sampler task exists only while at least
one connection is subscribed to ``metrics``: an idle daemon has no timer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from treerag.protocol import Event

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from treerag.daemon.server import Connection

__all__ = ["TOPICS", "Broadcaster"]

logger = logging.getLogger(__name__)

TOPICS = frozenset({"metrics", "log", "progress"})
SAMPLE_INTERVAL_S = 1.0


class Broadcaster:
    def __init__(self, sample: Callable[[], dict[str, Any]]) -> None:
        self._sample = sample
        self._subscribers: dict[str, set[Connection]] = {topic: set() for topic in TOPICS}
        self._tg: TaskGroup | None = None
        self._sampler_running = False
        self.published = 0

    def attach(self, tg: TaskGroup) -> None:
        """Give the broadcaster the root task group it starts the sampler in."""
        self._tg = tg

    def subscribe(self, connection: Connection, topics: set[str]) -> None:
        connection.start_events(topics)
        for topic in topics:
            self._subscribers[topic].add(connection)
        if "metrics" in topics and not self._sampler_running and self._tg is not None:
            self._sampler_running = True
            self._tg.start_soon(self._sampler)

    def unsubscribe(self, connection: Connection, topics: set[str] | None = None) -> None:
        for topic in topics or TOPICS:
            self._subscribers[topic].discard(connection)
        connection.topics -= topics or set(TOPICS)

    def listeners(self, topic: str) -> int:
        return len(self._subscribers.get(topic, ()))

    def publish(self, topic: str, data: Any) -> int:
        """Queue ``data`` for every subscriber of ``topic``; returns how many got it."""
        subscribers = self._subscribers.get(topic)
        if not subscribers:
            return 0
        event = Event(topic, data)
        delivered = sum(1 for conn in list(subscribers) if conn.push(event))
        self.published += delivered
        return delivered

    async def _sampler(self) -> None:
        try:
            while self._subscribers["metrics"]:
                try:
                    self.publish("metrics", self._sample())
                except Exception:
                    logger.exception("metrics sample failed")
                await anyio.sleep(SAMPLE_INTERVAL_S)
        finally:
            self._sampler_running = False
