"""ContextService: the three kinds of context (session, prompt, file) and ``query``, cached.

It sits between the daemon methods and the loaded projects: it asks the
ProjectManager for the hot set, ranks or renders, and keeps results in the
ContextCache, which the manager's change callbacks invalidate.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from treerag.context.cache import ContextCache, normalise
from treerag.context.overview import build_overview, file_neighbours
from treerag.context.render import MAX_CHARS, budget_chars, render_prompt

if TYPE_CHECKING:
    from treerag.runtime.projects import ProjectEntry, ProjectManager

__all__ = ["ContextService"]

logger = logging.getLogger(__name__)


class ContextService:
    def __init__(self, manager: ProjectManager, cache: ContextCache, *, default_budget: int = 2000,
                 max_chars: int = MAX_CHARS) -> None:
        self.manager = manager
        self.cache = cache
        self.default_budget = default_budget
        self.max_chars = min(max_chars, MAX_CHARS)
        manager.on_loaded.append(self._loaded)
        manager.on_changed.append(self._changed)
        manager.on_unloaded.append(lambda entry: cache.invalidate(str(entry.root)))

    # -- invalidation ----------------------------------------------------------------

    def _loaded(self, entry: ProjectEntry) -> None:
        self.cache.invalidate(str(entry.root))
        loaded = entry.loaded
        if loaded is not None:  # warm the overview: session starts are served from memory
            limit = budget_chars(self.default_budget, self.max_chars)
            loaded.overview["full"] = build_overview(loaded, limit)
            loaded.overview["compact"] = build_overview(loaded, limit // 2, compact=True)

    def _changed(self, entry: ProjectEntry, changed: list[str]) -> None:
        self.cache.invalidate(str(entry.root), changed or None)

    # -- the three kinds -------------------------------------------------------------

    async def session(self, entry: ProjectEntry, *, compact: bool = False) -> str:
        loaded = await self.manager.get_loaded(entry)
        key = "compact" if compact else "full"
        text = loaded.overview.get(key)
        if text is None:
            self.cache.misses += 1
            entry.misses += 1
            limit = budget_chars(self.default_budget, self.max_chars)
            text = build_overview(loaded, limit // 2 if compact else limit, compact=compact)
            loaded.overview[key] = text
        else:
            self.cache.hits += 1
            entry.hits += 1
        return text

    async def prompt(self, entry: ProjectEntry, text: str, budget: int | None = None) -> tuple[str, list[str]]:
        loaded = await self.manager.get_loaded(entry)
        limit = budget_chars(budget or self.default_budget, self.max_chars)
        key = f"{limit}:{normalise(text)}"
        root = str(entry.root)
        cached = self.cache.get(root, "prompt", key)
        if cached is not None:
            entry.hits += 1
            return cached, []
        entry.misses += 1
        from treerag.context.ranking import rank_files  # with SQLite: only once a project is loaded

        ranked = rank_files(loaded, text, limit=10)
        if not ranked:
            self.cache.put(root, "prompt", key, "", [])
            return "", []
        ids = ",".join(str(loaded.ids[r.index]) for r in ranked)
        docs_by_id = dict(loaded.store.db.execute(f"SELECT id, doc FROM files WHERE id IN ({ids})"))
        docs = {r.path: docs_by_id.get(loaded.ids[r.index], "") for r in ranked}
        rendered = render_prompt(loaded.root.name, loaded.built_at, ranked, docs, limit)
        files = [r.path for r in ranked]
        self.cache.put(root, "prompt", key, rendered, files)
        return rendered, files

    async def file(self, entry: ProjectEntry, rel: str, budget: int | None = None) -> str:
        loaded = await self.manager.get_loaded(entry)
        limit = budget_chars(budget or self.default_budget, self.max_chars)
        root = str(entry.root)
        key = f"{limit}:{rel}"
        cached = self.cache.get(root, "file", key)
        if cached is not None:
            entry.hits += 1
            return cached
        entry.misses += 1
        text, mentioned = file_neighbours(loaded, rel, limit)
        self.cache.put(root, "file", key, text, mentioned)
        return text

    async def query(self, entry: ProjectEntry, text: str, limit: int = 10) -> dict[str, Any]:
        loaded = await self.manager.get_loaded(entry)
        from treerag.context.ranking import rank_files

        ranked = rank_files(loaded, text, limit=limit)
        return {"files": [{"path": r.path, "score": r.score, "symbols": r.symbols} for r in ranked]}
