"""EnrichmentQueue: which files of one project to enrich next.

Entry points first (priority 100), then files by how many files import them
(priority ``min(count, 50)``), then the rest (1). Files the user works on are
boosted. A binary heap holds ``(-priority, seq, path)``; a dict holds the live
priority of each queued path. Re-prioritising or removing a path never touches
the heap in place: the old heap entry goes stale and is skipped when it reaches
the top (lazy deletion), so pushing n paths costs O(n log n) and nobody scans
the queue per node. Pure: no I/O, no clock.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import sqlite3
from collections.abc import Iterable

__all__ = [
    "PRIORITY_ENTRY",
    "PRIORITY_IMPORT_CAP",
    "PRIORITY_REST",
    "EnrichmentQueue",
    "band",
    "priorities_from_db",
]

logger = logging.getLogger(__name__)

PRIORITY_ENTRY = 100
PRIORITY_IMPORT_CAP = 50
PRIORITY_REST = 1
_FLAG_ENTRY = 1  # treerag.index.store.FLAG_ENTRY (not imported: keep this module light)
_COMPACT_FACTOR = 4  # rebuild the heap when stale entries outnumber live ones this much


def band(priority: int) -> str:
    """The status band a priority falls in: "100" (entry or boosted past it), "50"
    (imported), "1" (the rest)."""
    if priority >= PRIORITY_ENTRY:
        return "100"
    if priority > PRIORITY_REST:
        return "50"
    return "1"


def priority_for(*, entry: bool, importers: int) -> int:
    if entry:
        return PRIORITY_ENTRY
    if importers > 0:
        return max(PRIORITY_REST, min(importers, PRIORITY_IMPORT_CAP))
    return PRIORITY_REST


def priorities_from_db(conn: sqlite3.Connection, paths: Iterable[str] | None = None) -> dict[str, int]:
    """Base priority of each file (or of ``paths`` only) from ``files.flags`` and
    the import edges (kind 1): one grouped query, not one per file."""
    counts = dict(
        conn.execute(
            "SELECT dst, COUNT(DISTINCT src) FROM edges WHERE kind = 1 AND src != dst GROUP BY dst"
        ).fetchall()
    )
    wanted = None if paths is None else set(paths)
    out: dict[str, int] = {}
    for fid, path, flags in conn.execute("SELECT id, path, flags FROM files"):
        if wanted is not None and path not in wanted:
            continue
        out[path] = priority_for(entry=bool(flags & _FLAG_ENTRY), importers=int(counts.get(fid, 0)))
    return out


class EnrichmentQueue:
    """Max-priority queue of paths; ties pop in insertion order."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, str]] = []
        self._live: dict[str, tuple[int, int]] = {}  # path -> (priority, seq of its live heap entry)
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, path: object) -> bool:
        return path in self._live

    def priority(self, path: str) -> int | None:
        live = self._live.get(path)
        return None if live is None else live[0]

    def push(self, path: str, priority: int) -> None:
        """Queue ``path``; if it is already queued, it keeps the higher priority."""
        current = self._live.get(path)
        if current is not None and current[0] >= priority:
            return
        self._set(path, priority)

    def push_many(self, items: dict[str, int]) -> int:
        """Queue many paths; returns how many were new."""
        new = 0
        for path, priority in items.items():
            if path not in self._live:
                new += 1
            self.push(path, priority)
        return new

    def boost(self, paths: Iterable[str], amount: int) -> int:
        """Raise the priority of the queued ``paths`` by ``amount`` (the user works
        there); paths not queued are ignored. Returns how many moved."""
        moved = 0
        for path in dict.fromkeys(paths):
            current = self._live.get(path)
            if current is None or amount <= 0:
                continue
            self._set(path, current[0] + amount)
            moved += 1
        return moved

    def discard(self, path: str) -> bool:
        """Remove ``path`` if queued (its heap entry goes stale)."""
        return self._live.pop(path, None) is not None

    def pop_batch(self, n: int) -> list[str]:
        """Up to ``n`` paths, highest priority first."""
        out: list[str] = []
        heap = self._heap
        while heap and len(out) < n:
            neg, seq, path = heapq.heappop(heap)
            if self._live.get(path) == (-neg, seq):
                del self._live[path]
                out.append(path)
        return out

    def peek(self, n: int) -> list[str]:
        """The next ``n`` paths without removing them (O(m log n) over the live entries)."""
        live = heapq.nsmallest(n, ((-p, seq, path) for path, (p, seq) in self._live.items()))
        return [path for _, _, path in live]

    def drop(self) -> int:
        """Forget the whole backlog; returns how many paths were dropped."""
        count = len(self._live)
        self._heap.clear()
        self._live.clear()
        return count

    def counts_by_band(self) -> dict[str, int]:
        counts = {"100": 0, "50": 0, "1": 0}
        for priority, _ in self._live.values():
            counts[band(priority)] += 1
        return counts

    def statistics(self) -> dict[str, object]:
        return {"backlog": len(self._live), "heap": len(self._heap), "by_priority": self.counts_by_band()}

    # -- internals -------------------------------------------------------------

    def _set(self, path: str, priority: int) -> None:
        seq = next(self._seq)
        self._live[path] = (priority, seq)
        heapq.heappush(self._heap, (-priority, seq, path))
        if len(self._heap) > _COMPACT_FACTOR * max(len(self._live), 16):
            self._compact()

    def _compact(self) -> None:
        self._heap = [(-p, seq, path) for path, (p, seq) in self._live.items()]
        heapq.heapify(self._heap)
