"""The provider contract: what goes in (nodes), what comes out (summaries, vectors), what fails.

Providers are synchronous and run inside an enrichment worker process, never
in the daemon. The daemon-side runner owns the budget and the circuit breaker
across batches; a provider owns one batch: request(s), retries with backoff on
429/5xx, timeouts, validation of the reply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["EmbeddingProvider", "Node", "ProviderError", "Summary", "SummaryProvider", "Usage"]


@dataclass(frozen=True, slots=True)
class Node:
    """One thing to summarise: a file (``node == ""``) or one of its symbols (``node == qualname``)."""

    path: str  # project-relative, "/"-separated
    node: str  # "" for the file itself, else the symbol's qualname
    kind: str  # "file" or the symbol kind ("class", "function", …)
    language: str
    text: str  # what may be sent: an excerpt of the source (already privacy-checked), bounded in size
    hint: str = ""  # the local summary, if any: context for the model

    @property
    def key(self) -> str:
        return f"{self.path}::{self.node}" if self.node else self.path


@dataclass(frozen=True, slots=True)
class Summary:
    key: str  # Node.key it answers
    summary: str  # one line, plain text, ≤ 200 characters


@dataclass(slots=True)
class Usage:
    """What a batch cost; the worker reports it to the daemon, which adds it up."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    latencies_s: list[float] = field(default_factory=list)  # one per HTTP request

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ProviderError(Exception):
    """A batch could not be done. ``transient`` errors (429, 5xx, timeouts, refused) count toward the
    circuit breaker and the batch is retried later; permanent ones (401, 400, a model that does not
    exist) are reported and the batch is failed."""

    def __init__(self, message: str, *, transient: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.status = status


class SummaryProvider(Protocol):
    name: str  # "local", "openai"
    model: str  # "" for local

    def summarise(self, nodes: list[Node], usage: Usage) -> list[Summary]:
        """Summaries for as many of ``nodes`` as the provider could do (a partial reply is allowed;
        nodes without a valid answer are simply missing). Raises ProviderError when nothing came back."""
        ...


class EmbeddingProvider(Protocol):
    name: str
    model: str

    def embed(self, texts: list[str], usage: Usage) -> list[list[float]]:
        """One vector per text, same order, same dimension; ProviderError otherwise."""
        ...
