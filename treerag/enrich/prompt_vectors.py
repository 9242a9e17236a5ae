"""The prompt's embedding at prompt time: a hard deadline and a circuit breaker, so a dead endpoint costs nothing.

Not wired into ``treerag/context/service.py`` yet: the service would build one
:class:`PromptEmbedder` per configured embeddings provider (only then import
the providers), call :meth:`PromptEmbedder.embed` and pass
``treerag.enrich.vectors.similar(...)`` (hashes mapped to file indices) to
``rank_files(similarity=...)``; on None it ranks without vectors.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import anyio
import anyio.to_thread

from treerag.enrich.providers.base import EmbeddingProvider, Usage

__all__ = ["PromptEmbedder"]

logger = logging.getLogger(__name__)


class PromptEmbedder:
    def __init__(
        self,
        provider: EmbeddingProvider,
        *,
        timeout_s: float = 0.25,
        failures_to_open: int = 3,
        open_for_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        self.timeout_s = timeout_s
        self.failures_to_open = failures_to_open
        self.open_for_s = open_for_s
        self._clock = clock
        self._failures = 0
        self._open_until = 0.0
        self.calls = 0
        self.skipped = 0

    @property
    def is_open(self) -> bool:
        return self._clock() < self._open_until

    async def embed(self, text: str) -> list[float] | None:
        """The prompt's vector, or None (deadline passed, error, breaker open)."""
        if self.is_open:
            self.skipped += 1
            return None
        self.calls += 1
        result: list[list[float]] | None = None
        with anyio.move_on_after(self.timeout_s):
            try:
                result = await anyio.to_thread.run_sync(
                    self.provider.embed, [text], Usage(), abandon_on_cancel=True
                )
            except Exception as exc:  # any provider failure: rank without vectors
                logger.debug("prompt embedding failed: %s", exc)
        if result:
            self._failures = 0
            return result[0]
        self._failures += 1
        if self._failures >= self.failures_to_open:
            self._open_until = self._clock() + self.open_for_s
            self._failures = 0
            logger.info("enrich: embeddings endpoint failing; prompt vectors off for %.0f s", self.open_for_s)
        return None
