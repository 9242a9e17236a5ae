"""Store._open: a corrupt file is moved aside, but a full disk or a locked database never is."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from treerag.errors import DiskFull, StoreError
from treerag.index import store as store_module
from treerag.index.store import Store


def _failing_create(message: str):  # type: ignore[no-untyped-def]
    def check_or_create(self: Store, db: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError(message)

    return check_or_create


@pytest.mark.parametrize(("message", "error"), [("database or disk is full", DiskFull),
                                                ("disk I/O error", DiskFull),
                                                ("database is locked", StoreError)])
def test_an_open_that_fails_for_want_of_space_or_a_lock_moves_nothing_aside(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, message: str, error: type[Exception]) -> None:
    db = tmp_path / "index.sqlite"
    Store(db).close()
    monkeypatch.setattr(store_module.Store, "_check_or_create", _failing_create(message))
    with pytest.raises(error):
        Store(db)
    assert db.exists() and not list(tmp_path.glob("*.corrupt-*"))


def test_a_corrupt_file_is_moved_aside_and_replaced(tmp_path: Path) -> None:
    db = tmp_path / "index.sqlite"
    db.write_bytes(b"this is not a database" * 100)
    Store(db).close()
    assert list(tmp_path.glob("*.corrupt-*"))
    assert sqlite3.connect(db).execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
