"""ContextService: the three kinds of context (session, prompt, file) and ``query``, cached.

It sits between the daemon methods and the loaded projects: it asks the
ProjectManager for the hot set, ranks or renders, and keeps results in the
ContextCache, which the manager's change callbacks invalidate precisely. It
also computes file contexts ahead of the reads likely to ask for them: the
most central files when a project loads, the files a prompt matched, and the
entries an update or a landed enrichment batch made stale. ``on_interest``
callbacks learn which files the user works on (read, or matched by a prompt);
with ``vectors`` set (an embeddings provider is configured) prompt ranking
also uses the prompt's embedding, when it arrives within its deadline.
"""

from __future__ import annotations

import logging
import heapq
import sqlite3
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from treerag.context.cache import ContextCache, normalise
from treerag.context.overview import build_overview, file_neighbours
from treerag.context.render import MAX_CHARS, budget_chars, render_prompt
from treerag.errors import TreeragError

if TYPE_CHECKING:
    from treerag.enrich.prompt_vectors import PromptVectors
    from treerag.index.loaded import LoadedProject
    from treerag.runtime.projects import ProjectEntry, ProjectManager

__all__ = ["ContextService"]

logger = logging.getLogger(__name__)

WARM_CENTRAL_FILES = 64  # file contexts computed when a project loads
REFRESH_LIMIT = 32  # file contexts recomputed after one update
REFRESH_PROMPTS = 8  # prompt answers re-ranked after one update
PREFETCH_CHUNK = 16  # background file contexts computed between two looks at the socket
RECENT_PROMPTS_KEPT = 32
PROMPT_PREFETCH = 6  # file contexts computed for the best files a prompt matched
READ_PREFETCH = 6  # file contexts computed for the closest neighbours of a file just read
PREFETCH_DELAY_S = 0.005
VECTOR_LEXICAL_CANDIDATES = 50  # with vectors: the first pass's best files ...
VECTOR_CENTRAL_CANDIDATES = 150  # ... and the most central ones are scored against the prompt's embedding


class ContextService:
    def __init__(self, manager: ProjectManager, cache: ContextCache, *, default_budget: int = 2000,
                 max_chars: int = MAX_CHARS) -> None:
        self.manager = manager
        self.cache = cache
        self.default_budget = default_budget
        self.max_chars = min(max_chars, MAX_CHARS)
        self.prefetched = 0
        self.vectors: PromptVectors | None = None
        self.on_interest: list[Callable[[Path, list[str]], None]] = []
        self._recent_prompts: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._graph_shape: dict[str, tuple[int, bytes]] = {}  # root -> (files, ranks) when last compared
        manager.on_loaded.append(self._loaded)
        manager.on_changed.append(self._changed)
        manager.on_unloaded.append(self._unloaded)

    def _unloaded(self, entry: ProjectEntry) -> None:
        self.cache.invalidate(str(entry.root))
        self._graph_shape.pop(str(entry.root), None)

    # -- invalidation and prefetch ---------------------------------------------------

    def _loaded(self, entry: ProjectEntry) -> None:
        loaded = entry.loaded
        if entry.load_reason != "update":  # a first load or a full build: anything may have changed
            self.cache.invalidate(str(entry.root))
        if loaded is None:
            return
        if entry.load_reason != "update":  # an update compares against this in _changed
            self._graph_shape[str(entry.root)] = (loaded.files, loaded.rank.tobytes())
        # Warm the overview (session starts are served from memory) and the neighbours of the most
        # central files, which are the ones Claude reads first.
        limit = budget_chars(self.default_budget, self.max_chars)
        loaded.overview["full"] = build_overview(loaded, limit)
        loaded.overview["compact"] = build_overview(loaded, limit // 2, compact=True)
        if entry.load_reason != "update":
            central = sorted((i for i in range(loaded.files) if loaded.is_code(i) and not loaded.is_test(i)),
                             key=lambda i: -loaded.rank[i])[:WARM_CENTRAL_FILES]
            self._prefetch(entry, [loaded.paths[i] for i in central])

    def _changed(self, entry: ProjectEntry, changed: list[str]) -> None:
        """After an update: prompt answers may rank differently anywhere, so they go; file contexts that
        mention a changed file or one of its neighbours are recomputed now rather than on the next read."""
        root = str(entry.root)
        if not changed:  # a full build: _loaded has dropped and re-warmed everything already
            return
        affected = set(changed)
        loaded = entry.loaded
        if loaded is not None:
            for rel in changed:
                i = loaded.index_of_path.get(rel)
                if i is not None:
                    affected.update(loaded.paths[j] for j, _ in loaded.neighbours(i))
        self._refresh(entry, changed, affected, self._prompts_still_valid(entry, changed))

    def _prompts_still_valid(self, entry: ProjectEntry, changed: list[str]) -> set[str] | None:
        """Keys of cached prompt answers that ``changed`` cannot have moved, or None when any may have.

        With the same files and the same ranks (so the same edges: the builder recomputes ranks when an
        edit changes them), only the changed files' own lexical scores moved. An answer stays when it
        does not show a changed file (``invalidate_update`` checks that) and no changed file matches
        its prompt's words or paths now."""
        loaded = entry.loaded
        root = str(entry.root)
        if loaded is None:
            return None
        shape = (loaded.files, loaded.rank.tobytes())
        before, self._graph_shape[root] = self._graph_shape.get(root), shape
        if before != shape:
            return None
        from treerag.context.ranking import extract_terms, fts_query

        ids = [loaded.ids[i] for rel in changed if (i := loaded.index_of_path.get(rel)) is not None]
        marks = ",".join(str(fid) for fid in ids)
        valid: set[str] = set()
        for (r, key), text in self._recent_prompts.items():
            if r != root or not self.cache.peek(root, "prompt", key):
                continue
            terms = extract_terms(text)
            if any(t and (t in rel) for t in terms.paths for rel in changed):
                continue
            match = fts_query(terms.words)
            if match and ids:
                try:
                    hit = loaded.store.db.execute(
                        f"SELECT 1 FROM fts WHERE fts MATCH ? AND rowid IN ({marks}) LIMIT 1", (match,)).fetchone()
                except sqlite3.OperationalError:
                    continue  # a query FTS refuses: do not keep what could not be checked
                if hit:
                    continue
            valid.add(key)
        return valid

    def summaries_changed(self, entry: ProjectEntry, paths: list[str]) -> None:
        """An enrichment batch wrote summaries (and FTS text, vectors) for ``paths``: what shows them is stale."""
        loaded = entry.loaded
        if loaded is None:
            return
        limit = budget_chars(self.default_budget, self.max_chars)
        loaded.overview["full"] = build_overview(loaded, limit)
        loaded.overview["compact"] = build_overview(loaded, limit // 2, compact=True)
        changed = [p for p in paths if p in loaded.index_of_path]
        self._refresh(entry, changed, set(paths), self._prompts_still_valid(entry, changed))

    def _refresh(self, entry: ProjectEntry, changed: list[str], affected: set[str],
                 keep_prompts: set[str] | None = None) -> None:
        """Drop what ``affected`` made stale and recompute it: the changed files and the most recently used
        file contexts now, the other file contexts and the most recent prompt answers just after. Recomputed
        entries go back in their old LRU order, so the next update refreshes the same recent ones."""
        # least recently used first; a prompt answer shows only its files, so neighbours do not make it stale
        dropped = self.cache.invalidate_update(str(entry.root), affected, keep_prompts, set(changed))
        files = [key.split(":", 1)[1] for kind, key in dropped if kind == "file"]
        now, later = files[-REFRESH_LIMIT:], files[:-REFRESH_LIMIT]
        self._prefetch(entry, [p for p in now if p not in changed] + changed)
        if later:
            self._prefetch_soon(entry, later, oldest=True)
        prompts = [key for kind, key in dropped if kind == "prompt"][-REFRESH_PROMPTS:]
        if prompts:
            self._rerank_soon(entry, prompts)

    def _interest(self, entry: ProjectEntry, paths: list[str]) -> None:
        for callback in self.on_interest:
            callback(entry.root, paths)

    def _rerank_soon(self, entry: ProjectEntry, keys: list[str]) -> None:
        """Recompute the most recent prompt answers an update dropped (oldest first, so they keep their
        order), so a re-asked question stays fast; requests may run between two of them."""
        async def later() -> None:
            await anyio.sleep(PREFETCH_DELAY_S)
            for key in keys:
                text = self._recent_prompts.get((str(entry.root), key))
                if text and entry.loaded is not None and not self.cache.peek(str(entry.root), "prompt", key):
                    await self._rank_prompt(entry, entry.loaded, text, int(key.partition(":")[0]), key)
                    self.prefetched += 1
                await anyio.sleep(0)

        self._spawn(later)

    def _spawn(self, fn: Callable[[], Awaitable[None]]) -> None:
        """Run background work in the manager's task group; it must never take the daemon down."""
        async def guarded() -> None:
            try:
                await fn()
            except Exception:
                logger.exception("context prefetch failed")

        try:
            self.manager.spawn(guarded)
        except TreeragError:  # no task group (a bare service): not worth doing
            pass

    def _prefetch_soon(self, entry: ProjectEntry, paths: list[str], *, oldest: bool = False) -> None:
        # as the oldest entries they go in newest first, so that the least recently used ends up in front
        ordered = paths[::-1] if oldest else paths

        async def later() -> None:
            await anyio.sleep(PREFETCH_DELAY_S)  # let the answer that asked for it go out first
            for start in range(0, len(ordered), PREFETCH_CHUNK):
                self._prefetch(entry, ordered[start : start + PREFETCH_CHUNK], oldest=oldest)
                await anyio.sleep(0)

        self._spawn(later)

    def _prefetch(self, entry: ProjectEntry, paths: list[str], *, oldest: bool = False) -> None:
        """Compute file contexts ahead of the reads that will ask for them (counted as neither hit nor miss)."""
        loaded = entry.loaded
        if loaded is None:
            return
        limit = budget_chars(self.default_budget, self.max_chars)
        root = str(entry.root)
        for rel in dict.fromkeys(paths):
            key = f"{limit}:{rel}"
            if self.cache.peek(root, "file", key) or rel not in loaded.index_of_path:
                continue
            text, mentioned = file_neighbours(loaded, rel, limit)
            self.cache.put(root, "file", key, text, mentioned, oldest=oldest)
            self.prefetched += 1

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
        rendered, files = await self._rank_prompt(entry, loaded, text, limit, key)
        self._prefetch_soon(entry, files[:PROMPT_PREFETCH])  # Claude tends to read what the prompt matched
        self._interest(entry, files[:PROMPT_PREFETCH])
        return rendered, files

    async def _similarity(self, loaded: LoadedProject, text: str) -> dict[int, float] | None:
        """Cosine of the prompt's embedding with the likely files' (None: no vectors, or too slow)."""
        vectors = self.vectors
        if vectors is None or not vectors.available:
            return None
        from treerag.context.ranking import rank_files

        candidates = [r.index for r in rank_files(loaded, text, limit=VECTOR_LEXICAL_CANDIDATES)]
        candidates += heapq.nlargest(VECTOR_CENTRAL_CANDIDATES, range(loaded.files), key=loaded.rank.__getitem__)
        return await vectors.similarity(loaded, text, list(dict.fromkeys(candidates)))

    async def _rank_prompt(self, entry: ProjectEntry, loaded: LoadedProject, text: str, limit: int,
                           key: str) -> tuple[str, list[str]]:
        similarity = await self._similarity(loaded, text)
        if entry.loaded is not loaded:  # swapped while the embedding was on its way
            loaded = entry.loaded or loaded
            similarity = None
        return self._answer_prompt(entry, loaded, text, limit, key, similarity)

    def _answer_prompt(self, entry: ProjectEntry, loaded: LoadedProject, text: str, limit: int,
                       key: str, similarity: dict[int, float] | None = None) -> tuple[str, list[str]]:
        from treerag.context.ranking import rank_files  # with SQLite: only once a project is loaded

        root = str(entry.root)
        self._recent_prompts[(root, key)] = text  # as typed: case matters to identifier detection
        self._recent_prompts.move_to_end((root, key))
        while len(self._recent_prompts) > RECENT_PROMPTS_KEPT:
            self._recent_prompts.popitem(last=False)
        ranked = rank_files(loaded, text, limit=10, similarity=similarity)
        if not ranked:
            self.cache.put(root, "prompt", key, "", [])
            return "", []
        ids = ",".join(str(loaded.ids[r.index]) for r in ranked)
        docs_by_id = dict(loaded.store.db.execute(  # the summary when there is one, else the docstring
            f"SELECT id, CASE WHEN summary != '' THEN summary ELSE doc END FROM files WHERE id IN ({ids})"))
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
        self._interest(entry, [rel])
        cached = self.cache.get(root, "file", key)
        if cached is not None:
            entry.hits += 1
        else:
            entry.misses += 1
            cached, mentioned = file_neighbours(loaded, rel, limit)
            self.cache.put(root, "file", key, cached, mentioned)
        self._prefetch_neighbours(entry, loaded, rel, limit)
        return cached

    def _prefetch_neighbours(self, entry: ProjectEntry, loaded: LoadedProject, rel: str, limit: int) -> None:
        """After a read, Claude tends to read what that file imports or is imported by: compute the closest
        of those now unless they are cached already (a peek per neighbour; no task when all are)."""
        i = loaded.index_of_path.get(rel)
        if i is None:
            return
        closest = sorted(loaded.neighbours(i), key=lambda jw: -jw[1])
        root = str(entry.root)
        wanted = [loaded.paths[j] for j, _ in closest if loaded.is_code(j)][:READ_PREFETCH]
        wanted = [p for p in wanted if not self.cache.peek(root, "file", f"{limit}:{p}")]
        if wanted:
            self._prefetch_soon(entry, wanted)

    async def query(self, entry: ProjectEntry, text: str, limit: int = 10) -> dict[str, Any]:
        loaded = await self.manager.get_loaded(entry)
        from treerag.context.ranking import rank_files

        ranked = rank_files(loaded, text, limit=limit)
        return {"files": [{"path": r.path, "score": r.score, "symbols": r.symbols} for r in ranked]}
