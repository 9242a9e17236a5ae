"""The prompt's embedding at prompt time: a hard deadline and a circuit breaker, so a dead endpoint costs nothing.

:class:`PromptVectors` is what ``ContextService.vectors`` holds when an
embeddings endpoint is configured: it embeds the prompt through a
:class:`PromptEmbedder` and scores the candidate files' stored vectors
(``treerag.enrich.vectors.similar_files``), keyed by file index for
``rank_files(similarity=...)``. On None the service ranks without vectors.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from treerag.enrich.limits import CircuitBreaker
from treerag.enrich.providers.base import EmbeddingProvider, Usage

if TYPE_CHECKING:
    from treerag.index.loaded import LoadedProject

__all__ = ["PromptEmbedder", "PromptVectors"]

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
        # open_for_s is also the ceiling: a prompt-time endpoint is retried every minute, never less often
        self.breaker = CircuitBreaker(failures_to_open, open_for_s, open_for_s, clock=clock)
        self.calls = 0
        self.skipped = 0

    @property
    def is_open(self) -> bool:
        return self.breaker.state == CircuitBreaker.OPEN

    async def embed(self, text: str) -> list[float] | None:
        """The prompt's vector, or None (deadline passed, error, breaker open)."""
        if not self.breaker.allow():
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
            self.breaker.success()
            return result[0]
        before = self.breaker.state
        self.breaker.failure(transient=True)
        if self.breaker.state == CircuitBreaker.OPEN and before != CircuitBreaker.OPEN:
            logger.info("enrich: embeddings endpoint failing; prompt vectors off for %.0f s", self.breaker.base_cooldown_s)
        return None


class PromptVectors:
    """Prompt-time similarity for one embeddings provider/model (the names vectors are stored under)."""

    def __init__(self, embedder: PromptEmbedder, provider: str, model: str) -> None:
        self.embedder = embedder
        self.provider = provider
        self.model = model
        self.used = 0  # prompts ranked with vectors

    @property
    def available(self) -> bool:
        return not self.embedder.is_open

    async def similarity(self, loaded: LoadedProject, text: str, candidates: list[int]) -> dict[int, float] | None:
        """File index -> cosine for the ``candidates`` (file indices) that have vectors; None without a vector."""
        from treerag.enrich.vectors import similar_files

        if not candidates:
            return None
        vec = await self.embedder.embed(text)
        if vec is None:
            return None
        ids = [loaded.ids[i] for i in candidates]
        by_id = similar_files(loaded.store.db, self.provider, self.model, vec, ids)
        if not by_id:
            return None
        self.used += 1
        return {loaded.index_of_id[fid]: cos for fid, cos in by_id.items() if fid in loaded.index_of_id}

    def statistics(self) -> dict[str, int | bool]:
        return {"calls": self.embedder.calls, "skipped": self.embedder.skipped, "used": self.used,
                "open": self.embedder.is_open}
