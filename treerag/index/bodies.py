"""Whole-file text search: an FTS5 index of what each file says, beyond its names and docstrings.

Prompts often describe behaviour in words that only a file's body holds (a
comment, an error message, the names it uses). The ``body`` table is a
contentless FTS5 index (tokens only, no copy of the text), so it costs a few
MB where storing the text would cost the project's size again. SQLite before
3.43 cannot delete a row of a contentless table without its old text, so rows
are never deleted one by one: each file version gets a fresh body id,
``body_rows`` maps a file to its current one, and a search joins through it so
stale rows never match. When stale rows pass a quarter of the live ones the
table is rebuilt from the files on disk. Lines that look like key material
are left out, like everything else that looks secret. Only files in a parsed
language (code, markdown) are indexed: data and translation files would
double the index for little.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from treerag.index.secrets import looks_like_secret_content

__all__ = ["BODY_SCHEMA", "search_bodies", "sync_bodies"]

logger = logging.getLogger(__name__)

BODY_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS body USING fts5(text, content='', tokenize = 'porter unicode61 remove_diacritics 2');
CREATE TABLE IF NOT EXISTS body_rows(file_id INTEGER PRIMARY KEY, body_id INTEGER NOT NULL UNIQUE);
"""
BODY_CHARS = 200_000  # of one file's text
COMPACT_MIN = 200  # stale rows tolerated whatever the project's size


def _meta_int(db: sqlite3.Connection, key: str) -> int:
    row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return int(row[0]) if row else 0


def _set_meta(db: sqlite3.Connection, **values: int) -> None:
    db.executemany("INSERT OR REPLACE INTO meta VALUES(?, ?)", [(k, str(v)) for k, v in values.items()])


def _text(root: Path, rel: str) -> str | None:
    try:
        with open(root / rel, "rb") as fh:
            data = fh.read(BODY_CHARS * 2)
    except OSError:
        return None
    if looks_like_secret_content(data):
        data = b"\n".join(line for line in data.split(b"\n") if not looks_like_secret_content(line))
    return data.decode("utf-8", "replace")[:BODY_CHARS]


def sync_bodies(db: sqlite3.Connection, root: Path, rewritten: Iterable[int]) -> int:
    """Bring ``body`` up to date inside the caller's transaction: ``rewritten`` are the ids of files whose
    content was just written; files without a body row (new, or indexed before this table existed) get
    one; rows of deleted files go stale. Returns how many files were (re)indexed."""
    stale = _meta_int(db, "body_stale")
    old = list(rewritten)
    for start in range(0, len(old), 500):
        chunk = old[start : start + 500]
        marks = ",".join("?" * len(chunk))
        stale += db.execute(f"DELETE FROM body_rows WHERE file_id IN ({marks})", chunk).rowcount
    stale += db.execute("DELETE FROM body_rows WHERE file_id NOT IN (SELECT id FROM files)").rowcount
    live = db.execute("SELECT count(*) FROM body_rows").fetchone()[0]
    next_id = max(_meta_int(db, "body_next"), 1)
    if stale > max(COMPACT_MIN, live // 4):
        db.execute("INSERT INTO body(body) VALUES('delete-all')")
        db.execute("DELETE FROM body_rows")
        stale = 0
    missing = db.execute(
        "SELECT id, path FROM files WHERE language != '' AND id NOT IN (SELECT file_id FROM body_rows) ORDER BY id"
    ).fetchall()
    rows: list[tuple[int, str]] = []
    links: list[tuple[int, int]] = []
    for fid, rel in missing:
        text = _text(root, rel)
        if text is None:
            continue
        rows.append((next_id, text))
        links.append((fid, next_id))
        next_id += 1
        if len(rows) >= 256:  # bounded memory: a few hundred files' text at a time
            _insert(db, rows, links)
            rows, links = [], []
    _insert(db, rows, links)
    _set_meta(db, body_stale=stale, body_next=next_id)
    return len(missing)


def _insert(db: sqlite3.Connection, rows: list[tuple[int, str]], links: list[tuple[int, int]]) -> None:
    db.executemany("INSERT INTO body(rowid, text) VALUES(?, ?)", rows)
    db.executemany("INSERT INTO body_rows(file_id, body_id) VALUES(?, ?)", links)


def count_bodies(db: sqlite3.Connection, match: str) -> int:
    """Body rows matching ``match`` (stale ones included: at most a quarter of them, see ``compact``)."""
    try:
        return int(db.execute("SELECT count(*) FROM body WHERE body MATCH ?", (match,)).fetchone()[0])
    except sqlite3.OperationalError:  # an index made before this table existed, or a refused query
        return 0


def search_bodies(db: sqlite3.Connection, match: str, limit: int) -> list[tuple[int, float]]:
    """BM25 over whole files: [(file id, score)] best first (higher is better); stale rows never match.

    The best rows are fetched without a join (a third cheaper), with room for stale ones, then mapped to
    their files through ``body_rows``."""
    if not match:
        return []
    try:
        rows = db.execute("SELECT rowid, bm25(body) AS s FROM body WHERE body MATCH ? ORDER BY s LIMIT ?",
                          (match, 2 * limit)).fetchall()
        if not rows:
            return []
        marks = ",".join(str(rowid) for rowid, _ in rows)
        current = dict(db.execute(f"SELECT body_id, file_id FROM body_rows WHERE body_id IN ({marks})"))
    except sqlite3.OperationalError as exc:  # an index made before this table existed, or a refused query
        logger.debug("body search %r failed: %s", match, exc)
        return []
    return [(current[rowid], -score) for rowid, score in rows if rowid in current][:limit]
