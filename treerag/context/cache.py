"""The context cache: computed hook texts, kept until a file they mention changes.

Keys are (project root, kind, normalised input). Each entry remembers the
paths its text mentions; ``invalidate(root, changed)`` drops exactly the
entries of that project that mention a changed path (plus every overview,
which summarises the whole project); ``invalidate_update`` is the precise
variant after an incremental update. Bounded LRU; hit/miss counters.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

__all__ = ["ContextCache", "normalise"]

_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    return _SPACE.sub(" ", text.strip().lower())


@dataclass(slots=True)
class _Entry:
    text: str
    files: frozenset[str]


class ContextCache:
    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, str, str], _Entry] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.invalidations = 0
        self.misses_by_kind: dict[str, int] = {}
        self.invalidations_by_kind: dict[str, int] = {}

    def _count_invalidated(self, doomed: list[tuple[str, str, str]]) -> None:
        self.invalidations += len(doomed)
        for _, kind, _ in doomed:
            self.invalidations_by_kind[kind] = self.invalidations_by_kind.get(kind, 0) + 1

    def get(self, root: str, kind: str, key: str) -> str | None:
        entry = self._entries.get((root, kind, key))
        if entry is None:
            self.misses += 1
            self.misses_by_kind[kind] = self.misses_by_kind.get(kind, 0) + 1
            return None
        self._entries.move_to_end((root, kind, key))
        self.hits += 1
        return entry.text

    def put(self, root: str, kind: str, key: str, text: str, files: list[str] | set[str], *,
            oldest: bool = False) -> None:
        """Cache ``text`` as the most recently used entry, or as the least recently used one (``oldest``:
        a background refresh that must not push out what was used since)."""
        self._entries[(root, kind, key)] = _Entry(text, frozenset(files))
        self._entries.move_to_end((root, kind, key), last=not oldest)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def invalidate(self, root: str, changed: list[str] | None = None) -> int:
        """Drop this project's entries that mention a changed path; everything of it when ``changed`` is None."""
        changed_set = set(changed) if changed is not None else None
        doomed = [
            key for key, entry in self._entries.items()
            if key[0] == root and (changed_set is None or key[1] == "session" or entry.files & changed_set)
        ]
        for key in doomed:
            del self._entries[key]
        self._count_invalidated(doomed)
        return len(doomed)

    def invalidate_update(self, root: str, affected: set[str], keep_prompts: set[str] | None = None,
                          prompt_affected: set[str] | None = None) -> list[tuple[str, str]]:
        """After an incremental update: drop this project's file contexts that mention an ``affected`` path,
        and its prompt answers except ``keep_prompts`` that do not mention a ``prompt_affected`` path (default:
        ``affected``); ``keep_prompts`` None drops every prompt answer (the ranking may have moved anywhere).
        Returns the dropped (kind, key) pairs, least recently used first."""
        keep = keep_prompts or set()
        for_prompts = affected if prompt_affected is None else prompt_affected
        doomed = [key for key, entry in self._entries.items()
                  if key[0] == root and (key[1] == "session" or (
                      entry.files & for_prompts or key[2] not in keep if key[1] == "prompt"
                      else entry.files & affected))]
        for key in doomed:
            del self._entries[key]
        self._count_invalidated(doomed)
        return [(kind, key) for _, kind, key in doomed]

    def peek(self, root: str, kind: str, key: str) -> bool:
        """Whether an entry is cached, without counting a hit or a miss."""
        return (root, kind, key) in self._entries

    def shrink(self, keep: int) -> None:
        while len(self._entries) > keep:
            self._entries.popitem(last=False)

    def statistics(self) -> dict[str, Any]:
        total = self.hits + self.misses
        return {"hits": self.hits, "misses": self.misses, "entries": len(self._entries),
                "hit_rate": round(self.hits / total, 4) if total else 0.0, "invalidations": self.invalidations,
                "misses_by_kind": dict(self.misses_by_kind), "invalidations_by_kind": dict(self.invalidations_by_kind)}
