"""The loaded form: packed path table, id index, CSR graph and what it costs to hold (tracemalloc)."""

from __future__ import annotations

import gc
import shutil
import sqlite3
import tracemalloc
from pathlib import Path

import pytest

from treerag.index.builder import build_index
from treerag.index.loaded import IdIndex, PathIndex, PathTable, load_project

PROJECTS = Path(__file__).resolve().parents[2] / "fixtures" / "projects"


@pytest.fixture
def indexed(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "python_app"
    shutil.copytree(PROJECTS / "python_app", root)
    db = tmp_path / "index.sqlite"
    build_index(root, db)
    return root, db


def test_path_table_lookup_iteration_and_index() -> None:
    paths = sorted(["a.py", "b/c.py", "b/d/e.py", "z.md", "ä/ö.py", "b/c.pyi"])
    table = PathTable(paths)
    assert list(table) == paths and len(table) == len(paths)
    assert [table[i] for i in range(len(paths))] == paths
    assert table[-1] == paths[-1] and table[1:3] == paths[1:3]
    for i, p in enumerate(paths):
        assert table.find(p) == i and table.index(p) == i and p in table
    assert table.find("b/c") is None and "b" not in table and 3 not in table
    with pytest.raises(ValueError):
        table.index("missing.py")
    index = PathIndex(table)
    assert dict(index) == {p: i for i, p in enumerate(paths)}
    assert index.get("nope") is None and index.get("nope", -1) == -1
    with pytest.raises(KeyError):
        index["nope"]


def test_path_table_order_is_sqlite_order() -> None:
    """Bisection only works if Python's str order is SQLite's ORDER BY path (BINARY over UTF-8)."""
    names = ["B.py", "a.py", "é.py", "z/ß.py", "Z.py", "a-b.py", "a_b.py", "a/b.py", "日本.py", "~x", "a.PY"]
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t(path TEXT)")
    db.executemany("INSERT INTO t VALUES(?)", [(n,) for n in names])
    from_sqlite = [r[0] for r in db.execute("SELECT path FROM t ORDER BY path")]
    assert from_sqlite == sorted(names)
    table = PathTable(from_sqlite)
    assert all(table.find(n) == from_sqlite.index(n) for n in names)


@pytest.mark.parametrize("ids", [
    pytest.param([1, 2, 3, 5, 8], id="dense"),
    pytest.param([3, 1_000_000, 7, 2_000_000_000], id="sparse"),
    pytest.param([], id="empty"),
])
def test_id_index(ids: list[int]) -> None:
    index = IdIndex(ids)
    assert dict(index) == {fid: i for i, fid in enumerate(ids)} and len(index) == len(ids)
    for i, fid in enumerate(ids):
        assert index.get(fid) == i and index[fid] == i and fid in index
    assert index.get(4) is None and index.get(-5) is None and 10**12 not in index


def test_loaded_graph_matches_the_edges_table(indexed: tuple[Path, Path]) -> None:
    root, db_path = indexed
    project = load_project(root, db_path)
    try:
        db = sqlite3.connect(db_path)
        files = db.execute("SELECT id, path FROM files ORDER BY path").fetchall()
        assert list(project.paths) == [p for _, p in files]
        assert [project.index_of_id[fid] for fid, _ in files] == list(range(len(files)))
        by_id = {fid: i for i, (fid, _) in enumerate(files)}
        expected = sorted((by_id[s], by_id[d], k) for s, d, k in db.execute("SELECT src, dst, kind FROM edges"))
        assert expected, "the fixture project has a file graph"
        got = sorted((i, j, project.out_kind[k]) for i in range(project.files)
                     for k, (j, _) in zip(range(project.out_start[i], project.out_start[i + 1]),
                                          project.out_edges(i), strict=True))
        assert got == expected
        back = sorted((j, i, kind) for i, j, kind in expected)
        got_in = sorted((i, j, project.in_kind[k]) for i in range(project.files)
                        for k, (j, _) in zip(range(project.in_start[i], project.in_start[i + 1]),
                                             project.in_edges(i), strict=True))
        assert got_in == back
        assert project.dirs and "" in project.dirs
        db.close()
    finally:
        project.close()


def _mapped_rss(path: Path) -> int:
    """Resident bytes of this process's mappings of ``path`` (from /proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if head and "-" in head[0] and len(head) >= 5:
                inside = len(head) >= 6 and head[-1] == str(path)
            elif inside and line.startswith("Rss:"):
                total += int(head[1]) * 1024
    return total


def test_the_loaded_index_is_read_without_mapping_it(indexed: tuple[Path, Path]) -> None:
    """The open-time integrity check reads every page through mmap; load_project drops that mapping, and the
    queries of the hot path read through SQLite's page cache, so no page of the file counts in our RSS."""
    root, db_path = indexed
    project = load_project(root, db_path)
    try:
        assert _mapped_rss(db_path) == 0
        project.store.symbols_for(list(project.ids))
        project.store.search("cart OR price OR shop", 50)
        assert _mapped_rss(db_path) == 0
    finally:
        project.close()


def test_path_lookup_by_bisection_holds_less_than_a_path_dict() -> None:
    """Savings: the sorted table answers path → index itself, with no dict over the paths beside it."""
    paths = sorted(f"src/package_{i // 50}/module_{i}.py" for i in range(5000))

    def traced(build):  # type: ignore[no-untyped-def]
        gc.collect()
        tracemalloc.start()
        try:
            held = build()
            size = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        del held
        return size

    def table() -> tuple[PathTable, PathIndex]:
        t = PathTable(p.encode().decode() for p in paths)
        return t, PathIndex(t)

    def with_dict() -> tuple[list[str], dict[str, int]]:
        ps = [p.encode().decode() for p in paths]
        return ps, {p: i for i, p in enumerate(ps)}

    assert traced(table) < 0.75 * traced(with_dict)
