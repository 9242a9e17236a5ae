"""The loaded form of a project: only what the hot path needs, in compact arrays.

A ``LoadedProject`` holds the sorted relative paths (``PathTable``, found by
bisection rather than through a dict of path objects), per-file flags,
language codes and ranks, file ids with a dense id → index array, and
the file graph as CSR arrays (``array`` module, 1–8 bytes an entry rather
than a Python object per edge). Symbols, docstrings and FTS stay in SQLite
and are read on demand through the read-only ``Store`` connection, with
SQLite's page cache rather than mmap (see ``_unmap``). ``scripts/bench --only memory`` measures the result
with tracemalloc against a dict-per-file-and-symbol loader.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, SupportsIndex

from treerag.errors import TreeragError
from treerag.index.store import EDGE_IMPORT, FLAG_ENTRY, FLAG_GENERATED, FLAG_TEST, Store

logger = logging.getLogger(__name__)

__all__ = ["IdIndex", "LoadedProject", "PathIndex", "PathTable", "load_project"]

_NOT_CODE = frozenset({"", "markdown"})
#: a dense id → index array is used while ids span at most this many slots per file (else a dict)
_DENSE_SPAN = 4


class PathTable(list[str]):
    """The project's relative paths in sorted order; ``find`` bisects instead of keeping a path → index dict.

    A list, so that indexing and iteration (a prompt's ranking reads ~2,000
    paths of django) run at C speed; packing the paths into one string with
    an offsets array held ~35 bytes a file less but made each read a Python
    call, 0.3 ms more per uncached prompt. Sorted in code-point order, which
    is SQLite's BINARY ``ORDER BY path`` of the same UTF-8 text. Not to be
    mutated: the order is what lookups rely on.
    """

    __slots__ = ()

    def find(self, path: str) -> int | None:
        i = bisect_left(self, path)
        return i if i < len(self) and self[i] == path else None

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self.find(path) is not None

    def index(self, path: str, start: SupportsIndex = 0, stop: SupportsIndex = sys.maxsize) -> int:
        i = self.find(path) if isinstance(path, str) else None
        if i is None or not int(start) <= i < int(stop):
            raise ValueError(f"{path!r} is not in the project")
        return i

    def nbytes(self) -> int:
        return sys.getsizeof(self) + sum(sys.getsizeof(p) for p in self)


class PathIndex(Mapping[str, int]):
    """path → dense index, answered by the ``PathTable`` itself (no second copy of the paths)."""

    __slots__ = ("_table",)

    def __init__(self, table: PathTable) -> None:
        self._table = table

    def __getitem__(self, path: str) -> int:
        i = self._table.find(path)
        if i is None:
            raise KeyError(path)
        return i

    def get(self, path: str, default: Any = None) -> Any:  # type: ignore[override]
        i = self._table.find(path)
        return default if i is None else i

    def __contains__(self, path: object) -> bool:
        return path in self._table

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)


class IdIndex(Mapping[int, int]):
    """file id → dense index: an ``array`` offset by the smallest id while ids are dense, else a dict."""

    __slots__ = ("_base", "_dict", "_slots")

    def __init__(self, ids: Sequence[int]) -> None:
        self._base = min(ids) if ids else 0
        span = (max(ids) - self._base + 1) if ids else 0
        self._dict: dict[int, int] | None = None
        self._slots = array("i")
        if span <= _DENSE_SPAN * len(ids) + 64:
            self._slots = array("i", [-1]) * span
            for i, fid in enumerate(ids):
                self._slots[fid - self._base] = i
        else:
            self._dict = {fid: i for i, fid in enumerate(ids)}

    def get(self, fid: int, default: Any = None) -> Any:  # type: ignore[override]
        if self._dict is not None:
            return self._dict.get(fid, default)
        k = fid - self._base
        if 0 <= k < len(self._slots):
            i = self._slots[k]
            if i >= 0:
                return i
        return default

    def __getitem__(self, fid: int) -> int:
        i = self.get(fid)
        if i is None:
            raise KeyError(fid)
        return int(i)

    def __contains__(self, fid: object) -> bool:
        return isinstance(fid, int) and self.get(fid) is not None

    def __iter__(self) -> Iterator[int]:
        if self._dict is not None:
            return iter(self._dict)
        return (self._base + k for k, i in enumerate(self._slots) if i >= 0)

    def __len__(self) -> int:
        if self._dict is not None:
            return len(self._dict)
        return sum(1 for i in self._slots if i >= 0)

    def nbytes(self) -> int:
        if self._dict is not None:
            return sys.getsizeof(self._dict)
        return self._slots.itemsize * len(self._slots) + 64


@dataclass
class LoadedProject:
    root: Path
    store: Store
    paths: PathTable
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
    index_of_path: PathIndex
    index_of_id: IdIndex
    symbols: int
    languages: dict[str, int]
    dirs_json: str  # the indexed directories, parsed only by the watcher that needs them
    built_at: float
    loaded_at: float = field(default_factory=time.time)
    overview: dict[str, str] = field(default_factory=dict)
    term_counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # ranking's document counts

    @property
    def files(self) -> int:
        return len(self.paths)

    @property
    def dirs(self) -> list[str]:
        return json.loads(self.dirs_json)  # type: ignore[no-any-return]

    @cached_property
    def test_indices(self) -> array:  # type: ignore[type-arg]
        return array("i", (i for i in range(self.files) if self.flags[i] & FLAG_TEST))

    @cached_property
    def max_rank(self) -> float:
        return max(self.rank) if len(self.rank) else 0.0

    @cached_property
    def c_family_languages(self) -> frozenset[int]:
        """Language codes of C and C++ files, whose headers and sources ranking tells apart."""
        return frozenset(code for code, name in enumerate(self.language_names) if name in ("c", "cpp"))

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

    def neighbours(self, i: int, limit: int | None = None) -> list[tuple[int, float]]:
        """Both directions: relevance flows from a file to what it uses and to what uses it. With ``limit``,
        only the first ``limit`` of that list are built (a hub imported by thousands costs no more)."""
        a, b = self.out_start[i], self.out_start[i + 1]
        c, d = self.in_start[i], self.in_start[i + 1]
        if limit is not None:
            b = min(b, a + limit)
            d = min(d, c + max(0, limit - (b - a)))
        return (list(zip(self.out_dst[a:b], self.out_w[a:b], strict=True))
                + [(j, 0.7 * w) for j, w in zip(self.in_src[c:d], self.in_w[c:d], strict=True)])

    def memory_bytes(self) -> int:
        """Approximate heap held by this project (arrays, the path table, the id index, overview text)."""
        total = self.paths.nbytes() + self.index_of_id.nbytes() + sys.getsizeof(self.dirs_json)
        for arr in (self.ids, self.flags, self.language, self.rank, self.import_count, self.out_start, self.out_dst,
                    self.out_w, self.in_start, self.in_src, self.in_w, self.out_kind, self.in_kind):
            total += arr.itemsize * len(arr) + 64
        total += sum(len(v) for v in self.overview.values())
        return total

    def close(self) -> None:
        self.store.close()

    def summary(self) -> dict[str, Any]:
        return {"files": self.files, "symbols": self.symbols, "languages": self.languages}


#: the file graph in dense indices (position in path order), both directions sorted as CSR wants them
_EDGES_SQL = """
WITH f AS (SELECT id, row_number() OVER (ORDER BY path) - 1 AS i FROM files)
SELECT {a}.i, {b}.i, e.weight, e.kind FROM edges e JOIN f fs ON fs.id = e.src JOIN f fd ON fd.id = e.dst
ORDER BY {a}.i, {b}.i, e.weight, e.kind
"""


def _csr(n: int, rows: Iterable[tuple[int, int, float, int]],
         import_count: array | None = None) -> tuple[array, array, array, array]:  # type: ignore[type-arg]
    """CSR arrays from (row, column, weight, kind) already sorted by row, streamed without a list of tuples."""
    start = array("i", [0]) * (n + 1)
    col, weight, kind = array("i"), array("f"), array("b")
    for a, b, w, k in rows:
        start[a + 1] += 1
        col.append(b)
        weight.append(w)
        kind.append(k)
        if import_count is not None and k == EDGE_IMPORT:
            import_count[a] += 1
    for i in range(n):
        start[i + 1] += start[i]
    return start, col, weight, kind


def _unmap(store: Store) -> None:
    """Read the index through SQLite's own page cache (1 MiB a connection) rather than mmap.

    A mapped page a query touches stays counted in this process's RSS (and
    the kernel maps 16 neighbours with each fault) for as long as the
    connection lives, and RSS is what the memory limit and the targets
    measure: the ``PRAGMA quick_check`` of ``Store``'s open reads every page,
    so a django index (19 MB) was resident whole from the start; unmapped
    after load it crept back page by page, +9 MB over 100 distinct prompts
    (FTS reads much of it). Without mmap the same pages are read with
    ``pread`` from the kernel's page cache, shared and reclaimable, and the
    heap holds at most the 1 MiB page cache; ranking over django measured no
    slower (``scripts/bench --only memory,context``). Setting ``mmap_size`` to
    0 also unmaps what the integrity check touched.
    """
    store.db.execute("PRAGMA mmap_size=0")


def load_project(root: Path, db_path: Path) -> LoadedProject:
    """Read the hot set of one project from its index (read-only connection kept open)."""
    store = Store(db_path, readonly=True)
    if store.needs_upgrade:  # an index from an earlier version: one writable open brings it up to date
        try:
            Store(db_path).close()
        except (TreeragError, OSError) as exc:  # a read-only or full disk: serve it as it is, a little slower
            logger.info("could not bring the index %s up to date (%s); serving it as it is", db_path, exc)
        else:
            store.close()
            store = Store(db_path, readonly=True)
    db = store.db
    language_names = sorted(r[0] for r in db.execute("SELECT DISTINCT language FROM files"))
    language_code = {name: i for i, name in enumerate(language_names)}
    ids, flags, language, rank = array("q"), array("B"), array("B"), array("f")
    paths = PathTable()
    for fid, path, flag, file_rank, lang in db.execute(
            "SELECT id, path, flags, rank, language FROM files ORDER BY path"):
        ids.append(fid)
        paths.append(path)
        flags.append(flag & 0xFF)
        language.append(language_code[lang])
        rank.append(file_rank)
    n = len(ids)
    import_count = array("i", [0]) * n
    out_start, out_dst, out_w, out_kind = _csr(n, db.execute(_EDGES_SQL.format(a="fs", b="fd")))
    in_start, in_src, in_w, in_kind = _csr(n, db.execute(_EDGES_SQL.format(a="fd", b="fs")), import_count)
    meta = store.meta()
    counts = store.counts()
    languages = store.languages()
    _unmap(store)
    return LoadedProject(
        root=root,
        store=store,
        paths=paths,
        ids=ids,
        flags=flags,
        language=language,
        language_names=language_names,
        rank=rank,
        import_count=import_count,
        out_start=out_start, out_dst=out_dst, out_w=out_w, out_kind=out_kind,
        in_start=in_start, in_src=in_src, in_w=in_w, in_kind=in_kind,
        index_of_path=PathIndex(paths),
        index_of_id=IdIndex(ids),
        symbols=counts["symbols"],
        languages=languages,
        dirs_json=meta.get("dirs", "[]") or "[]",
        built_at=float(meta.get("built_at", 0) or 0),
    )
