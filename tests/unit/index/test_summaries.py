"""Builder: local summaries land in files, symbols and FTS; remote ones win; stale cache rows go."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from treerag.index.builder import build_index
from treerag.index.store import Store


def _db(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path)


def test_summaries_written_and_remote_searchable(make_tree, tmp_path: Path) -> None:
    root = make_tree({"pay/rates.py": '"""Reconcile ledger discrepancies nightly."""\n\ndef rate_for(country):\n    return 1\n'})
    db_path = tmp_path / "i.sqlite"
    build_index(root, db_path)
    db = _db(db_path)
    assert db.execute("SELECT summary FROM files").fetchone()[0] == "Reconcile ledger discrepancies nightly."
    assert db.execute("SELECT summary FROM symbols WHERE name='rate_for'").fetchone()[0].startswith("function")
    db.close()
    store = Store(db_path)
    try:
        assert store.search("discrepancies", 5)
    finally:
        store.close()


def test_summaries_off(make_tree, tmp_path: Path) -> None:
    root = make_tree({"a.py": '"""Hello there."""\n'})
    db_path = tmp_path / "i.sqlite"
    build_index(root, db_path, summaries=False)
    assert _db(db_path).execute("SELECT summary FROM files").fetchone()[0] == ""


def test_remote_beats_local_and_prune(make_tree, tmp_path: Path) -> None:
    root = make_tree({"a.py": '"""Local words."""\n'})
    db_path = tmp_path / "i.sqlite"
    build_index(root, db_path)
    db = _db(db_path)
    digest = db.execute("SELECT hash FROM files").fetchone()[0]
    db.execute("INSERT INTO enrichment VALUES(?,?,?,?,?,?)", (digest, "", "openai", "m", "Remote words.", 1.0))
    db.execute("INSERT INTO enrichment VALUES(?,?,?,?,?,?)", ("stale", "", "openai", "m", "Gone.", 1.0))
    db.execute("UPDATE files SET mtime_ns=0, hash='x' WHERE 1")  # force a re-parse
    db.commit()
    db.close()
    (root / "a.py").write_text('"""Local words."""\n')
    build_index(root, db_path)
    db = _db(db_path)
    assert db.execute("SELECT summary FROM files").fetchone()[0] == "Remote words."
    assert db.execute("SELECT count(*) FROM enrichment WHERE hash='stale'").fetchone()[0] == 0
    db.close()
    store = Store(db_path)
    try:
        assert store.search("remote", 5)
    finally:
        store.close()
