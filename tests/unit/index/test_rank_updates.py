"""Incremental updates recompute PageRank only when the import/reference graph changed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from treerag.index.builder import build_index

FILES = {
    "app/__init__.py": "",
    "app/core.py": "def core():\n    return 1\n",
    "app/a.py": "from app.core import core\n\ndef a():\n    return core()\n",
    "app/b.py": "def b():\n    return 2\n",
}


def ranks(db: Path) -> dict[str, float]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT path, rank FROM files"))


def test_body_edit_keeps_ranks_and_a_new_import_recomputes_them(make_tree, tmp_path):
    root = make_tree(FILES)
    db = tmp_path / "index.sqlite"
    build_index(root, db)
    before = ranks(db)
    with sqlite3.connect(db) as conn:  # mark the stored ranks so a recomputation would show
        conn.execute("UPDATE files SET rank = rank + 1000")
    (root / "app/b.py").write_text("def b():\n    return 3  # a body edit\n")
    build_index(root, db, paths=["app/b.py"])
    assert all(r > 999 for r in ranks(db).values())  # untouched: no PageRank run

    (root / "app/b.py").write_text("from app.core import core\n\ndef b():\n    return core()\n")
    build_index(root, db, paths=["app/b.py"])
    after = ranks(db)
    assert all(r < 999 for r in after.values())  # recomputed
    assert after["app/core.py"] > before["app/core.py"]  # one more importer
