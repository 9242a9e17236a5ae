"""The loaded form of a project: only what the hot path needs, in compact arrays.

A ``LoadedProject`` holds interned paths, per-file flags and ranks, and the
file graph as CSR arrays (``array`` module, 4–8 bytes an entry rather than a
Python object per edge). Symbols, docstrings and FTS stay in SQLite and are
read on demand through the read-only ``Store`` connection, which pages them
in by mmap.
"""

from __future__ import annotations

import json
import sys
import time
from array import array
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from treerag.index.store import EDGE_IMPORT, FLAG_ENTRY, FLAG_GENERATED, FLAG_TEST, Store

__all__ = ["LoadedProject", "load_project"]

_NOT_CODE = frozenset({"", "markdown"})


@dataclass
class LoadedProject:
    root: Path
    store: Store
    paths: list[str]
    ids: array  # type: ignore[type-arg]  # file id per dense index
    flags: array  # type: ignore[type-arg]
    language: array  # type: ignore[type-arg]  # index into language_names
    language_names: list[str]
    rank: array  # type: ignore[type-arg]
    import_count: array  # type: ignore[type-arg]
    out_start: array  # type: ignore[type-arg]
    out_dst: array  # type: ignore[type-arg]
    out_w: array  # type: ignore[type-arg]
    in_start: array  # type: ignore[type-arg]
    in_src: array  # type: ignore[type-arg]
    in_w: array  # type: ignore[type-arg]
    out_kind: array  # type: ignore[type-arg]
    in_kind: array  # type: ignore[type-arg]
    index_of_path: dict[str, int]
    index_of_id: dict[int, int]
    symbols: int
    languages: dict[str, int]
    dirs: list[str]
    built_at: float
    loaded_at: float = field(default_factory=time.time)
    overview: dict[str, str] = field(default_factory=dict)

    @property
    def files(self) -> int:
        return len(self.paths)

    @cached_property
    def test_indices(self) -> list[int]:
        return [i for i in range(self.files) if self.flags[i] & FLAG_TEST]

    def is_test(self, i: int) -> bool:
        return bool(self.flags[i] & FLAG_TEST)

    def is_entry(self, i: int) -> bool:
        return bool(self.flags[i] & FLAG_ENTRY)

    def language_of(self, i: int) -> str:
        return self.language_names[self.language[i]]

    def is_code(self, i: int) -> bool:
        return self.language_of(i) not in _NOT_CODE

    def is_generated(self, i: int) -> bool:
        return bool(self.flags[i] & FLAG_GENERATED)

    def out_edges(self, i: int) -> list[tuple[int, float]]:
        a, b = self.out_start[i], self.out_start[i + 1]
        return list(zip(self.out_dst[a:b], self.out_w[a:b], strict=True))

    def in_edges(self, i: int) -> list[tuple[int, float]]:
        a, b = self.in_start[i], self.in_start[i + 1]
        return list(zip(self.in_src[a:b], self.in_w[a:b], strict=True))

    def imports_of(self, i: int) -> list[int]:
        a, b = self.out_start[i], self.out_start[i + 1]
        return [self.out_dst[k] for k in range(a, b) if self.out_kind[k] == EDGE_IMPORT]

    def importers_of(self, i: int) -> list[int]:
        a, b = self.in_start[i], self.in_start[i + 1]
        return [self.in_src[k] for k in range(a, b) if self.in_kind[k] == EDGE_IMPORT]

    def neighbours(self, i: int) -> list[tuple[int, float]]:
        """Both directions: relevance flows from a file to what it uses and to what uses it."""
        return self.out_edges(i) + [(j, 0.7 * w) for j, w in self.in_edges(i)]

    def memory_bytes(self) -> int:
        """Approximate heap held by this project (arrays, path strings, dicts)."""
        total = sum(sys.getsizeof(s) for s in self.paths) + sys.getsizeof(self.paths)
        for arr in (self.ids, self.flags, self.language, self.rank, self.import_count, self.out_start, self.out_dst, self.out_w,
                    self.in_start, self.in_src, self.in_w, self.out_kind, self.in_kind):
            total += arr.itemsize * len(arr) + 64
        total += sys.getsizeof(self.index_of_path) + sys.getsizeof(self.index_of_id)
        total += sum(len(v) for v in self.overview.values())
        return total

    def close(self) -> None:
        self.store.close()

    def summary(self) -> dict[str, Any]:
        return {"files": self.files, "symbols": self.symbols, "languages": self.languages}


def _csr(n: int, pairs: list[tuple[int, int, float, int]]) -> tuple[array, array, array, array]:  # type: ignore[type-arg]
    pairs.sort()
    start = array("i", [0]) * (n + 1)
    for a, _, _, _ in pairs:
        start[a + 1] += 1
    for i in range(n):
        start[i + 1] += start[i]
    return (start, array("i", [p[1] for p in pairs]), array("f", [p[2] for p in pairs]),
            array("b", [p[3] for p in pairs]))


def load_project(root: Path, db_path: Path) -> LoadedProject:
    """Read the hot set of one project from its index (read-only connection kept open)."""
    store = Store(db_path, readonly=True)
    db = store.db
    rows = db.execute("SELECT id, path, flags, rank, language FROM files ORDER BY path").fetchall()
    language_names = sorted({r[4] for r in rows})
    language_code = {name: i for i, name in enumerate(language_names)}
    paths = [sys.intern(r[1]) for r in rows]
    ids = array("q", [r[0] for r in rows])
    index_of_id = {r[0]: i for i, r in enumerate(rows)}
    n = len(rows)
    forward: list[tuple[int, int, float, int]] = []
    backward: list[tuple[int, int, float, int]] = []
    import_count = array("i", [0]) * n
    for src, dst, kind, weight in db.execute("SELECT src, dst, kind, weight FROM edges"):
        a, b = index_of_id.get(src), index_of_id.get(dst)
        if a is None or b is None:
            continue
        forward.append((a, b, weight, kind))
        backward.append((b, a, weight, kind))
        if kind == EDGE_IMPORT:
            import_count[b] += 1
    out_start, out_dst, out_w, out_kind = _csr(n, forward)
    in_start, in_src, in_w, in_kind = _csr(n, backward)
    meta = store.meta()
    counts = store.counts()
    return LoadedProject(
        root=root,
        store=store,
        paths=paths,
        ids=ids,
        flags=array("B", [r[2] & 0xFF for r in rows]),
        language=array("B", [language_code[r[4]] for r in rows]),
        language_names=language_names,
        rank=array("f", [r[3] for r in rows]),
        import_count=import_count,
        out_start=out_start, out_dst=out_dst, out_w=out_w, out_kind=out_kind,
        in_start=in_start, in_src=in_src, in_w=in_w, in_kind=in_kind,
        index_of_path={p: i for i, p in enumerate(paths)},
        index_of_id=index_of_id,
        symbols=counts["symbols"],
        languages=store.languages(),
        dirs=json.loads(meta.get("dirs", "[]")),
        built_at=float(meta.get("built_at", 0) or 0),
    )
