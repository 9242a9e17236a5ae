"""Embeddings from a local sentence-transformers model, for users who installed one (imported only here)."""

from __future__ import annotations

import time
from typing import Any

from treerag.enrich.providers.base import ProviderError, Usage

__all__ = ["SentenceTransformerProvider"]


class SentenceTransformerProvider:
    name = "sentence-transformers"

    def __init__(self, model: str) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ProviderError(
                "enrich.embeddings_provider = sentence-transformers needs `pip install sentence-transformers`",
                transient=False,
            ) from exc
        self.model = model
        self._model: Any = SentenceTransformer(model)

    def embed(self, texts: list[str], usage: Usage) -> list[list[float]]:
        started = time.monotonic()
        vectors = self._model.encode(texts, normalize_embeddings=True)
        usage.requests += 1
        usage.latencies_s.append(time.monotonic() - started)
        return [[float(x) for x in v] for v in vectors]
