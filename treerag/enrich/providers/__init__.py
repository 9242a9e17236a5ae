"""Summary and embedding providers behind one small interface (see ``base``).

:func:`make_summary_provider` / :func:`make_embedding_provider` turn ``[enrich]``
config into a provider, or None when there is nothing remote to do
(``local``, ``none``: the offline summariser lives in ``treerag.enrich.local``).
API key policy: a missing ``api_key_env`` variable is an error only when the
base URL is not loopback; local servers (Ollama, llama.cpp) need no key, and
an empty key sends no Authorization header.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import TYPE_CHECKING

from treerag.errors import ConfigError

if TYPE_CHECKING:
    from treerag.config import EnrichConfig
    from treerag.enrich.providers.base import EmbeddingProvider, SummaryProvider

__all__ = ["api_key_for", "embedding_model", "make_embedding_provider", "make_summary_provider"]

LOCAL_EMBEDDING_MODEL = "all-MiniLM-L6-v2"

_NOTHING = frozenset({"local", "none", ""})


def _is_loopback(base_url: str) -> bool:
    host = urllib.parse.urlsplit(base_url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def api_key_for(config: EnrichConfig, base_url: str | None = None) -> str:
    """The key from ``api_key_env``; ConfigError when it is needed (remote endpoint) and missing."""
    url = config.base_url if base_url is None else base_url
    if not config.api_key_env:
        return ""
    key = os.environ.get(config.api_key_env)
    if key is None:
        if url and _is_loopback(url):
            return ""
        raise ConfigError(
            f"enrich.api_key_env: the environment variable {config.api_key_env} is not set "
            f"(needed for {url or 'https://api.openai.com/v1'})",
            key="enrich.api_key_env",
        )
    return key


def make_summary_provider(config: EnrichConfig, *, api_key: str | None = None) -> SummaryProvider | None:
    name = config.provider
    if name in _NOTHING:
        return None
    if name != "openai":
        raise ConfigError(f"enrich.provider: unknown provider {name!r} (choose local or openai)", key="enrich.provider")
    if not config.model:
        raise ConfigError("enrich.model: set the model name for provider openai", key="enrich.model")
    from treerag.enrich.providers.openai import OpenAISummaryProvider

    key = api_key_for(config) if api_key is None else api_key
    return OpenAISummaryProvider(config.base_url, config.model, key, config.request_timeout_s)


def make_embedding_provider(config: EnrichConfig, *, api_key: str | None = None) -> EmbeddingProvider | None:
    name = config.embeddings_provider
    if name in _NOTHING:
        return None
    if name == "openai":
        if not config.embeddings_model:
            raise ConfigError("enrich.embeddings_model: set the embeddings model name", key="enrich.embeddings_model")
        from treerag.enrich.providers.openai import OpenAIEmbeddingProvider

        url = config.embeddings_base_url or config.base_url
        key = api_key_for(config, url) if api_key is None else api_key
        return OpenAIEmbeddingProvider(url, config.embeddings_model, key, config.request_timeout_s)
    if name in ("sentence-transformers", "local_model"):
        from treerag.enrich.providers.local_model import SentenceTransformerProvider

        return SentenceTransformerProvider(embedding_model(config))
    raise ConfigError(
        f"enrich.embeddings_provider: unknown provider {name!r} (choose none, openai or sentence-transformers)",
        key="enrich.embeddings_provider",
    )


def embedding_model(config: EnrichConfig) -> str:
    """The model name vectors are stored under (the local model has a default)."""
    if config.embeddings_provider in ("sentence-transformers", "local_model"):
        return config.embeddings_model or LOCAL_EMBEDDING_MODEL
    return config.embeddings_model
