"""Whole-file search (treerag/index/bodies.py) through real builds: found, kept current, compacted, no secrets."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from treerag.context.ranking import fts_query
from treerag.index import bodies
from treerag.index.builder import build_index
from treerag.index.store import Store


def _search(db: Path, *words: str) -> list[str]:
    store = Store(db, readonly=True)
    try:
        ids = [fid for fid, _ in store.search_bodies(fts_query(list(words)), 10)]
        paths = dict(store.db.execute("SELECT id, path FROM files"))
        return [paths[i] for i in ids]
    finally:
        store.close()


def _project(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "ledger.py").write_text("def post(entry):\n    # reconcile walrus tariffs here\n    return entry\n")
    (root / "pkg" / "mail.py").write_text("def send(msg):\n    return msg\n")
    (root / "data.po").write_text('msgid "walrus"\nmsgstr "Walross"\n')
    return root


def test_words_only_a_body_holds_are_found_and_follow_edits_and_deletes(tmp_path: Path) -> None:
    root, db = _project(tmp_path / "p"), tmp_path / "index.sqlite"
    build_index(root, db)
    assert _search(db, "walrus", "tariffs") == ["pkg/ledger.py"]  # not data.po: only parsed languages
    (root / "pkg" / "ledger.py").write_text("def post(entry):\n    return entry\n")
    (root / "pkg" / "mail.py").write_text("def send(msg):\n    # walrus mail\n    return msg\n")
    build_index(root, db, paths=["pkg/ledger.py", "pkg/mail.py"])
    assert _search(db, "walrus") == ["pkg/mail.py"]  # the old version of ledger.py no longer matches
    assert _search(db, "tariffs") == []
    (root / "pkg" / "mail.py").unlink()
    build_index(root, db, paths=["pkg/mail.py"])
    assert _search(db, "walrus") == []


def test_stale_rows_are_compacted(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(bodies, "COMPACT_MIN", 3)
    root, db = _project(tmp_path / "p"), tmp_path / "index.sqlite"
    build_index(root, db)
    for i in range(6):
        (root / "pkg" / "mail.py").write_text(f"def send(msg):\n    # version {i} pelican\n    return msg\n")
        build_index(root, db, paths=["pkg/mail.py"])
    conn = sqlite3.connect(db)
    stale = int(conn.execute("SELECT value FROM meta WHERE key='body_stale'").fetchone()[0])
    docs = conn.execute("SELECT count(*) FROM body_docsize").fetchone()[0]
    conn.close()
    assert stale <= 3 and docs <= 2 + 3 + 1, (stale, docs)
    assert _search(db, "pelican") == ["pkg/mail.py"] and _search(db, "walrus") == ["pkg/ledger.py"]


def test_lines_that_look_like_keys_are_left_out(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    body = "def connect():\n    return 1\n" + "x = 1\n" * 20000 + "# ghp_" + "a1B2" * 9 + "\n# ordinary pelican comment\n"
    (root / "settings.py").write_text(body)
    db = tmp_path / "index.sqlite"
    build_index(root, db)
    assert _search(db, "pelican") == ["settings.py"]
    assert _search(db, "ghp_" + "a1B2" * 9) == [] and _search(db, "a1B2" * 9) == []


def test_an_index_from_before_the_body_table_gets_one(tmp_path: Path) -> None:
    root, db = _project(tmp_path / "p"), tmp_path / "index.sqlite"
    build_index(root, db)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DROP TABLE body")
        conn.execute("DROP TABLE body_rows")
    conn.close()
    assert _search(db, "walrus") == []  # a read-only open does not create it, and search says nothing
    build_index(root, db, paths=["pkg/mail.py"])  # any write fills it in
    assert _search(db, "walrus") == ["pkg/ledger.py"]
