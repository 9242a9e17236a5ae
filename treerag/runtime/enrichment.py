"""Connects remote enrichment to the rest of the daemon: what gets queued when, and what it refreshes.

Built only when ``[enrich]`` names a remote summary provider or an embeddings
provider. With ``enrich.auto`` (the default) a project is queued when it is
loaded or rebuilt (only the files still missing a summary or vector), and the
changed files after each update; ``treerag enrich PATH`` queues by hand either
way. Files the user reads or a prompt matches move to the front of the queue.
When a batch lands, the context cache drops and recomputes what showed the old
summaries. With an embeddings endpoint, prompt ranking gets the prompt's
vector under ``enrich.embed_timeout_ms``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from treerag.errors import TreeragError

if TYPE_CHECKING:
    from treerag.context.service import ContextService
    from treerag.enrich.runner import EnrichmentRunner
    from treerag.runtime.projects import ProjectEntry, ProjectManager

__all__ = ["connect", "queue_entry", "runner_for"]

logger = logging.getLogger(__name__)


def runner_for(config: Any, submit: Any) -> EnrichmentRunner | None:
    """The runner for ``[enrich]``, or None when nothing remote is configured or the key is missing."""
    if config is None or (config.provider in ("local", "none", "")
                          and config.embeddings_provider in ("local", "none", "")):
        return None
    from treerag.enrich.providers import api_key_for
    from treerag.enrich.runner import EnrichmentRunner

    remote_summaries = config.provider not in ("local", "none", "")
    try:
        key = api_key_for(config, None if remote_summaries else (config.embeddings_base_url or config.base_url))
    except TreeragError as exc:
        logger.warning("enrichment disabled: %s", exc)
        return None
    return EnrichmentRunner(config, submit, api_key=key)


async def queue_entry(runner: EnrichmentRunner, entry: ProjectEntry, paths: list[str] | None = None) -> int:
    """Queue ``entry``'s files that still need enrichment (all, or the changed ``paths``)."""
    db = entry.db_path
    if not db.exists():
        return 0
    missing, gone = await anyio.to_thread.run_sync(runner.missing, db, paths)
    return runner.push(entry.root, db, missing, gone, changed=paths is not None)


def connect(manager: ProjectManager, context: ContextService, runner: EnrichmentRunner, *, auto: bool) -> None:
    """Wire the runner to the manager's load/update callbacks and the context service."""

    def spawn_queue(entry: ProjectEntry, paths: list[str] | None) -> None:
        async def go() -> None:
            try:
                await queue_entry(runner, entry, paths)
            except Exception:  # a locked or vanished database: the next load or edit tries again
                logger.exception("could not queue %s for enrichment", entry.root)

        try:
            manager.spawn(go)
        except TreeragError:
            pass

    if auto:
        def loaded(entry: ProjectEntry) -> None:
            if entry.load_reason != "update":
                spawn_queue(entry, None)

        def changed(entry: ProjectEntry, paths: list[str]) -> None:
            if paths:
                spawn_queue(entry, paths)

        manager.on_loaded.append(loaded)
        manager.on_changed.append(changed)

    def batch_landed(root: Path, paths: list[str]) -> None:
        entry = manager.entries.get(root)
        if entry is not None and entry.loaded is not None:
            context.summaries_changed(entry, paths)

    runner.on_batch.append(batch_landed)
    context.on_interest.append(runner.boost)
    context.vectors = _prompt_vectors(runner.config)


def _prompt_vectors(config: Any) -> Any:
    """PromptVectors for an HTTP embeddings endpoint. A local sentence-transformers model is not loaded
    into the daemon (hundreds of MB): its file vectors are made in the worker but prompts rank without."""
    if config.embeddings_provider != "openai":
        if config.embeddings_provider not in ("local", "none", ""):
            logger.info("enrich: prompt-time vectors need an HTTP embeddings endpoint (embeddings_provider = "
                        "\"openai\", e.g. Ollama or llama.cpp); %s vectors are stored but prompts rank without them",
                        config.embeddings_provider)
        return None
    from treerag.enrich.prompt_vectors import PromptEmbedder, PromptVectors
    from treerag.enrich.providers import make_embedding_provider

    try:
        provider = make_embedding_provider(config)
    except TreeragError as exc:
        logger.warning("prompt vectors disabled: %s", exc)
        return None
    if provider is None:
        return None
    embedder = PromptEmbedder(provider, timeout_s=config.embed_timeout_ms / 1000.0)
    return PromptVectors(embedder, config.embeddings_provider, config.embeddings_model)
