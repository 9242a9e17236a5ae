"""The on-disk index: one SQLite database per project, with FTS5 over what a prompt can name.

Layout (schema version ``SCHEMA_VERSION``)::

    meta(key, value)                      schema_version, root, built_at, …
    files(id, path, language, size, mtime_ns, hash, flags, doc, summary, rank)
    symbols(id, file_id, name, qualname, kind, signature, doc, line, end_line, summary)
                                          indexed by file, by name and by name ignoring case
    imports(file_id, target, line, names, resolved) as written + the (first) file it resolved to
    refs(file_id, name)                            identifiers a file uses
    edges(src, dst, kind, weight)                  file graph: 1 = import, 2 = reference
    fts(path, names, signatures, docs)             FTS5, rowid = files.id; docs includes summaries
    enrichment(hash, node, provider, model, summary, created)   summaries by content, any provider
    embeddings(hash, provider, model, dim, scale, vec)          int8 vectors by content
    body(text) + body_rows(file_id, body_id)    contentless FTS5 of whole code files (treerag/index/bodies.py)

The database runs in WAL mode with a small page cache and ``mmap_size`` so
symbol rows are paged from the file, not copied into the heap. A build or an
update is one transaction: a kill -9 leaves the old or the new state. A file
that is not a treerag index of the current schema (corrupt, foreign, older)
is moved aside with a timestamp and rebuilt, with one log line.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from treerag.errors import DiskFull, StoreCorrupt, StoreError
from treerag.index.bodies import BODY_SCHEMA

__all__ = [
    "FLAG_ENTRY",
    "FLAG_GENERATED",
    "FLAG_TEST",
    "SCHEMA_VERSION",
    "Store",
    "fts_text",
    "split_identifier",
]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2
_INDEXES = frozenset({"symbols_name_nocase"})  # indexes _upgrade adds to an older database of this version
FLAG_ENTRY = 1
FLAG_TEST = 2
FLAG_GENERATED = 4
EDGE_IMPORT = 1
EDGE_REFERENCE = 2

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE files(
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    language TEXT NOT NULL DEFAULT '',
    size INTEGER NOT NULL DEFAULT 0,
    mtime_ns INTEGER NOT NULL DEFAULT 0,
    hash TEXT NOT NULL DEFAULT '',
    flags INTEGER NOT NULL DEFAULT 0,
    doc TEXT NOT NULL DEFAULT '',
    summary TEXT NOT NULL DEFAULT '',
    rank REAL NOT NULL DEFAULT 0
);
CREATE TABLE symbols(
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    name TEXT NOT NULL, qualname TEXT NOT NULL, kind TEXT NOT NULL,
    signature TEXT NOT NULL, doc TEXT NOT NULL, line INTEGER NOT NULL, end_line INTEGER NOT NULL,
    summary TEXT NOT NULL DEFAULT ''
);
CREATE INDEX symbols_file ON symbols(file_id);
CREATE INDEX symbols_name ON symbols(name);
CREATE INDEX symbols_name_nocase ON symbols(name COLLATE NOCASE);
CREATE TABLE imports(
    file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    target TEXT NOT NULL, line INTEGER NOT NULL, names TEXT NOT NULL DEFAULT '', resolved INTEGER
);
CREATE INDEX imports_file ON imports(file_id);
CREATE TABLE refs(
    file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    PRIMARY KEY(file_id, name)
) WITHOUT ROWID;
CREATE INDEX refs_name ON refs(name);
CREATE TABLE edges(
    src INTEGER NOT NULL, dst INTEGER NOT NULL, kind INTEGER NOT NULL, weight REAL NOT NULL,
    PRIMARY KEY(src, dst, kind)
) WITHOUT ROWID;
CREATE INDEX edges_dst ON edges(dst);
CREATE TABLE enrichment(
    hash TEXT NOT NULL, node TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
    summary TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY(hash, node, provider, model)
) WITHOUT ROWID;
CREATE TABLE embeddings(
    hash TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
    dim INTEGER NOT NULL, scale REAL NOT NULL, vec BLOB NOT NULL,
    PRIMARY KEY(hash, provider, model)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE fts USING fts5(path, names, signatures, docs, tokenize = 'porter unicode61 remove_diacritics 2');
"""

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA cache_size=-1024",  # 1 MiB of page cache per connection; mmap does the rest
    "PRAGMA mmap_size=268435456",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA busy_timeout=5000",
)

_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]+")


def split_identifier(name: str) -> list[str]:
    """``parseHTTPResponse_v2`` → [parse, http, response, v2-parts]; lower-case sub-words."""
    parts: list[str] = []
    for chunk in _NON_ALNUM.split(name):
        if chunk:
            parts.extend(p.lower() for p in _CAMEL.findall(chunk))
    return parts


def fts_text(words: Iterable[str]) -> str:
    """Index both the identifiers as written and their sub-words, so `TokenBucket` matches `token`."""
    return " ".join([_fts_word(word) for word in words if word])


@functools.lru_cache(maxsize=1 << 14)
def _fts_word(word: str) -> str:
    """``word`` then its sub-words when they differ from it (cached: a build repeats path parts and names)."""
    subs = [sub for chunk in _NON_ALNUM.split(word) if chunk for sub in _chunk_words(chunk)]  # = split_identifier
    if len(subs) > 1 or (subs and subs[0] != word.lower()):
        return " ".join([word, *subs])
    return word


@functools.lru_cache(maxsize=1 << 14)
def _chunk_words(chunk: str) -> tuple[str, ...]:
    return tuple(p.lower() for p in _CAMEL.findall(chunk))


class Store:
    """One project's index database. Not thread-safe: one Store per thread or process."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self.needs_upgrade = False  # read-only, and missing what a writable open would add (see _upgrade)
        self.db = self._open()

    # -- opening, checking, quarantining -------------------------------------------

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            try:
                db = self._connect()
                self._check_or_create(db)
                return db
            except (sqlite3.DatabaseError, StoreCorrupt) as exc:
                if _disk_full(exc) or _locked(exc):  # not a corrupt index: nothing to move aside
                    raise
                if self.readonly:
                    raise StoreCorrupt(str(self.path), str(exc)) from exc
                moved = self.quarantine(str(exc))
                logger.warning(
                    "index %s was unusable (%s); moved it to %s and starting a fresh one",
                    self.path, exc, moved, extra={"reason": "corrupt_index"},
                )
                db = self._connect()
                self._check_or_create(db)
                return db
        except sqlite3.OperationalError as exc:
            if _disk_full(exc):
                raise DiskFull(str(self.path)) from exc
            raise StoreError(f"cannot open the index {self.path}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            uri = f"file:{self.path}?mode=ro"
            db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in _PRAGMAS:
            if self.readonly and "journal_mode" in pragma:
                continue
            db.execute(pragma)
        return db

    def _check_or_create(self, db: sqlite3.Connection) -> None:
        listed = db.execute("SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index')").fetchall()
        tables = {name for kind, name in listed if kind == "table"}
        indexes = {name for kind, name in listed if kind == "index"}
        if not tables:
            if self.readonly:
                raise StoreCorrupt(str(self.path), "empty database")
            # executescript commits first, so the schema carries its own transaction
            db.executescript(
                f"BEGIN;{_SCHEMA}{BODY_SCHEMA}INSERT INTO meta VALUES('schema_version', '{SCHEMA_VERSION}');COMMIT;"
            )
            return
        if "meta" not in tables or "files" not in tables:
            raise StoreCorrupt(str(self.path), "not a treerag index")
        row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None or row[0] != str(SCHEMA_VERSION):
            raise StoreCorrupt(str(self.path), f"schema version {row[0] if row else '?'} != {SCHEMA_VERSION}")
        if "body_rows" not in tables or not _INDEXES <= indexes:
            self._upgrade(db, tables)
        check = db.execute("PRAGMA quick_check").fetchone()
        if check is None or check[0] != "ok":
            raise StoreCorrupt(str(self.path), f"integrity check failed: {check[0] if check else '?'}")

    def _upgrade(self, db: sqlite3.Connection, tables: set[str]) -> None:
        """Add what indexes made by an earlier version lack; a read-only open only notes it."""
        if self.readonly:
            self.needs_upgrade = True
            return
        if "body_rows" not in tables:  # from before whole-file search
            db.executescript(BODY_SCHEMA)
        # from before case-blind name lookups (a prompt's "queryset" names class QuerySet)
        db.execute("CREATE INDEX IF NOT EXISTS symbols_name_nocase ON symbols(name COLLATE NOCASE)")

    def quarantine(self, reason: str) -> Path:
        """Move the database (and its WAL/SHM) aside; return where it went."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                os.replace(src, Path(str(target) + suffix))
        return target

    def close(self) -> None:
        self.db.close()

    # -- writing -------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write; ENOSPC and friends become DiskFull / StoreError."""
        try:
            with _transaction(self.db):
                yield self.db
        except sqlite3.OperationalError as exc:
            if _disk_full(exc):
                raise DiskFull(str(self.path)) from exc
            raise StoreError(f"index write failed for {self.path}: {exc}") from exc

    def set_meta(self, db: sqlite3.Connection, **values: Any) -> None:
        db.executemany("INSERT OR REPLACE INTO meta VALUES(?, ?)", [(k, str(v)) for k, v in values.items()])

    # -- reading -------------------------------------------------------------------

    def meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta"))

    def counts(self) -> dict[str, int]:
        files = self.db.execute("SELECT count(*) FROM files").fetchone()[0]
        symbols = self.db.execute("SELECT count(*) FROM symbols").fetchone()[0]
        return {"files": files, "symbols": symbols}

    def languages(self) -> dict[str, int]:
        rows = self.db.execute("SELECT language, count(*) FROM files WHERE language != '' GROUP BY language")
        return dict(sorted(rows, key=lambda r: -r[1]))

    def file_states(self) -> dict[str, tuple[int, int, int, str]]:
        """path → (id, size, mtime_ns, hash), to decide what changed."""
        return {row[0]: (row[1], row[2], row[3], row[4]) for row in self.db.execute(
            "SELECT path, id, size, mtime_ns, hash FROM files")}

    def file_summaries(self, file_ids: Iterable[int]) -> dict[int, str]:
        """file id → summary (remote or local, see treerag/enrich/local.py); files without one are left out."""
        out: dict[int, str] = {}
        for chunk in _chunks(list(file_ids), 500):
            marks = ",".join("?" * len(chunk))
            out.update(self.db.execute(
                f"SELECT id, summary FROM files WHERE id IN ({marks}) AND summary != ''", chunk).fetchall())
        return out

    def symbols_for(self, file_ids: Iterable[int]) -> dict[int, list[tuple[Any, ...]]]:
        """file id → [(name, qualname, kind, signature, doc, line, end_line, summary)], in line order."""
        ids = list(file_ids)
        out: dict[int, list[tuple[Any, ...]]] = {i: [] for i in ids}
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(
                f"SELECT file_id, name, qualname, kind, signature, doc, line, end_line, summary FROM symbols "
                f"WHERE file_id IN ({marks}) ORDER BY file_id, line",
                chunk,
            ):
                out[row[0]].append(row[1:])
        return out

    def document_counts(self, words: Iterable[str]) -> dict[str, tuple[int, int]]:
        """word → (files whose names index has it, body rows that have it); a refused word counts 0."""
        from treerag.index.bodies import count_bodies

        out: dict[str, tuple[int, int]] = {}
        for word in words:
            match = f'"{word}"'
            try:
                names = self.db.execute("SELECT count(*) FROM fts WHERE fts MATCH ?", (match,)).fetchone()[0]
            except sqlite3.OperationalError:
                names = 0
            out[word] = (names, count_bodies(self.db, match))
        return out

    def best_symbols(self, file_ids: list[int], contained: list[str], exact: list[str], top_kinds: list[str],
                     per_file: int) -> dict[int, list[dict[str, Any]]]:
        """file id → its ``per_file`` best symbols in line order, as {name (qualified), kind, line, end_line,
        signature, doc, summary}. Best: most of ``contained`` inside the name (case-blind), plus two when the
        name is one of ``exact``; then top-level, then of a ``top_kinds`` kind; then first. Chosen inside
        SQLite: a file of a thousand test methods costs no Python per symbol."""
        out: dict[int, list[dict[str, Any]]] = {fid: [] for fid in file_ids}
        if not file_ids:
            return out
        hit = " + ".join(["(name LIKE ? ESCAPE '\\')"] * len(contained) + ["0"])  # LIKE: case-blind, no copies
        exact_marks = ",".join("?" * len(exact)) or "NULL"
        kind_marks = ",".join("?" * len(top_kinds)) or "NULL"
        file_marks = ",".join("?" * len(file_ids))
        for fid, qualname, kind, line, end_line, signature, doc, summary in self.db.execute(
            f"""SELECT file_id, qualname, kind, line, end_line, signature, doc, summary FROM symbols WHERE id IN (
                  SELECT id FROM (
                    SELECT id, row_number() OVER (PARTITION BY file_id ORDER BY hit DESC, top DESC, line) AS n FROM (
                      SELECT id, file_id, line, {hit} + 2 * (name COLLATE NOCASE IN ({exact_marks})) AS hit,
                             (instr(qualname, '.') = 0) + (kind IN ({kind_marks})) AS top
                      FROM symbols WHERE file_id IN ({file_marks})))
                  WHERE n <= ?) ORDER BY file_id, line""",
            [*(f"%{_like_escape(w)}%" for w in contained), *exact, *top_kinds, *file_ids, per_file],
        ):
            out[fid].append({"name": qualname, "kind": kind, "line": line, "end_line": end_line,
                             "signature": signature, "doc": doc, "summary": summary})
        return out

    def search(self, match: str, limit: int) -> list[tuple[int, float]]:
        """FTS5 BM25 over files: [(file id, score)] best first (score higher is better)."""
        if not match:
            return []
        try:
            rows = self.db.execute(
                "SELECT rowid, bm25(fts, 4.0, 6.0, 2.0, 1.0) AS s FROM fts WHERE fts MATCH ? ORDER BY s LIMIT ?",
                (match, limit),
            ).fetchall()
        except sqlite3.OperationalError as exc:
            logger.debug("fts query %r failed: %s", match, exc)
            return []
        return [(rowid, -score) for rowid, score in rows]

    def search_bodies(self, match: str, limit: int) -> list[tuple[int, float]]:
        """BM25 over whole-file text (``treerag/index/bodies.py``): [(file id, score)] best first."""
        from treerag.index.bodies import search_bodies

        return search_bodies(self.db, match, limit)

    def size_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                total += p.stat().st_size
        return total


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.in_transaction:  # SQLite rolls back by itself on SQLITE_FULL and some I/O errors
            db.execute("ROLLBACK")
        raise
    else:
        db.execute("COMMIT")


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _disk_full(exc: BaseException) -> bool:
    """SQLite's words for ENOSPC (and the I/O error a full disk can also surface as)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    text = str(exc).lower()
    return "full" in text or "disk i/o" in text


def _locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower()


def _like_escape(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
