"""Pooled builds: forked parse processes write the same rows as a serial build, and a crash costs one file."""

from __future__ import annotations

import functools
import logging
import os
import signal
import subprocess
import sqlite3
import sys
import time
from pathlib import Path

import pytest

import treerag.index.builder as builder
import treerag.index.parsing as parsing
from treerag.index.builder import build_index
from treerag.index.pool import CRASHED, ForkPool
from treerag.index.worker import CpuCap, parse_workers

PROJECTS = Path(__file__).resolve().parents[2] / "fixtures" / "projects"
TABLES = {
    "files": "SELECT id, path, language, size, mtime_ns, hash, flags, doc, summary, rank FROM files ORDER BY id",
    "symbols": "SELECT * FROM symbols ORDER BY id",
    "imports": "SELECT rowid, * FROM imports ORDER BY rowid",
    "refs": "SELECT * FROM refs ORDER BY file_id, name",
    "edges": "SELECT * FROM edges ORDER BY src, dst, kind",
    "fts": "SELECT rowid, path, names, signatures, docs FROM fts ORDER BY rowid",
}


def rows(db: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(db) as conn:
        return {table: conn.execute(query).fetchall() for table, query in TABLES.items()}


@pytest.fixture
def pool_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pool even the few files of a fixture tree, in small chunks so both children get work."""
    monkeypatch.setattr(builder, "POOL_MIN_BYTES", 0)
    monkeypatch.setattr("treerag.index.pool.CHUNK", 3)


def test_a_pooled_build_writes_the_rows_of_a_serial_build(tmp_path, pool_everything):
    serial, pooled = tmp_path / "serial.sqlite", tmp_path / "pooled.sqlite"
    build_index(PROJECTS, serial)
    report = build_index(PROJECTS, pooled, workers=2)
    assert report.parsed > 20
    expected, got = rows(serial), rows(pooled)
    assert len(expected["symbols"]) > 100
    for table in TABLES:
        assert got[table] == expected[table], table


def test_a_small_tree_parses_in_one_process(make_tree, tmp_path, monkeypatch):
    sizes = []

    def counting(task, processes, **kwargs):
        sizes.append(processes)
        return ForkPool(task, processes, **kwargs)  # the real one, imported before the patch

    monkeypatch.setattr("treerag.index.pool.ForkPool", counting)
    root = make_tree({f"m{i}.py": f"def f{i}():\n    pass\n" for i in range(200)})
    assert build_index(root, tmp_path / "index.sqlite", workers=2).parsed == 200
    assert sizes == [1]  # a few kB of source do not repay a second fork


def test_files_no_grammar_parses_are_read_without_a_fork(make_tree, tmp_path, monkeypatch):
    def no_pool(*args, **kwargs):
        raise AssertionError("only a grammar needs a parse process")

    monkeypatch.setattr("treerag.index.pool.ForkPool", no_pool)
    root = make_tree({**{f"notes{i}.txt": "plain\n" for i in range(5)}, "README.md": "# Title\n\n## Usage\n"})
    db = tmp_path / "index.sqlite"
    assert build_index(root, db, workers=2).parsed == 6
    with sqlite3.connect(db) as conn:  # markdown headings are read by line scanning, no grammar needed
        assert {name for (name,) in conn.execute("SELECT name FROM symbols")} == {"Title", "Usage"}


def _crash(pid: int) -> None:
    os.kill(pid, signal.SIGSEGV)


def _hang(pid: int) -> None:
    time.sleep(3600)


@pytest.mark.parametrize("failure", [_crash, _hang], ids=["crash", "hang"])
@pytest.mark.parametrize("kind", ["pooled build", "update", "throttled build"])
def test_a_parse_that_kills_or_hangs_its_process_costs_that_file_only(make_tree, tmp_path, monkeypatch,
                                                                    pool_everything, caplog, failure, kind):
    """Whatever the build (a requested one over two processes, an update of a few files, a background
    build under its CPU cap), a file whose parse crashes or hangs is indexed without symbols, alone."""
    files = {f"pkg/m{i}.py": f"def f{i}():\n    return {i}\n" for i in range(12)}
    files["pkg/bad.py"] = "def bad():\n    return 0\n"
    root = make_tree(files)
    db = tmp_path / "index.sqlite"
    if kind == "update":
        build_index(root, db)
        for rel in files:
            (root / rel).write_text(files[rel].replace("def f", "def g").replace("return", "return -"))
    real = parsing.parse_file

    def failing(rel, data):
        if rel == "pkg/bad.py":
            failure(os.getpid())
        return real(rel, data)

    monkeypatch.setattr(parsing, "parse_file", failing)
    monkeypatch.setattr("treerag.index.pool.CHUNK_TIMEOUT_S", 0.5)  # the hang's deadline
    throttle = CpuCap(0.9) if kind == "throttled build" else None
    with caplog.at_level(logging.WARNING, logger="treerag"):
        report = build_index(root, db, workers=2, throttle=throttle,
                             paths=list(files) if kind == "update" else None)
    assert report.files == 13 and report.parsed == 13
    with sqlite3.connect(db) as conn:
        by_file = dict(conn.execute(
            "SELECT path, (SELECT count(*) FROM symbols WHERE file_id = files.id) FROM files WHERE language='python'"))
        names = {name for (name,) in conn.execute("SELECT name FROM symbols")}
    assert by_file.pop("pkg/bad.py") == 0  # indexed as a plain python file
    assert set(by_file.values()) == {1}  # every other file kept its function
    if kind == "update":
        assert names == {f"g{i}" for i in range(12)}
        assert report.changed_paths == sorted(files)  # the others' new content is in
    assert any("pkg/bad.py" in r.getMessage() and "crashed or hung" in r.getMessage() for r in caplog.records)
    if failure is _hang:
        assert any(getattr(r, "reason", "") == "parse_hang" for r in caplog.records)


def test_records_logged_in_a_child_reach_the_parents_handlers(make_tree, tmp_path, monkeypatch, pool_everything,
                                                             caplog):
    import treerag.index.parsing.engine as engine

    root = make_tree({f"m{i}.py": f"def f{i}():\n    pass\n" for i in range(6)})
    real = engine.extract

    def odd(spec, rel, data):
        if rel == "m4.py":
            raise RuntimeError("odd file")
        return real(spec, rel, data)

    monkeypatch.setattr(engine, "extract", odd)
    with caplog.at_level(logging.INFO, logger="treerag"):
        build_index(root, tmp_path / "index.sqlite", workers=2)
    [record] = [r for r in caplog.records if "m4.py" in r.getMessage()]
    assert record.getMessage() == "could not extract python from m4.py"
    assert record.name == "treerag.index.parsing"
    assert "RuntimeError: odd file" in record.exc  # type: ignore[attr-defined]


def _square(x: int) -> int:
    if x == 7:
        os.kill(os.getpid(), signal.SIGKILL)
    if x == 11:
        raise ValueError("eleven")
    logging.getLogger("treerag.test_pool").warning("child saw %d", x)
    print("stray output")  # must not reach the worker's stdout
    return x * x


def test_fork_pool_keeps_order_and_isolates_a_dying_item(capfd, caplog):
    with caplog.at_level(logging.WARNING, logger="treerag"), ForkPool(_square, 2, chunk=4) as pool:
        out = list(pool.map(list(range(20))))
    assert out == [CRASHED if x in (7, 11) else x * x for x in range(20)]
    assert pool.crashes == 2  # the chunk holding 7, then 7 alone
    assert "stray output" not in capfd.readouterr().out
    seen = {r.getMessage() for r in caplog.records}
    assert "child saw 3" in seen
    assert any("eleven" in getattr(r, "exc", "") for r in caplog.records)


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        pytest.param({"paths": None, "cpu_share": None}, 2, id="requested-full-build"),
        pytest.param({"paths": None, "cpu_share": 0.45}, 1, id="background-build-keeps-its-cap"),
        pytest.param({"paths": ["a.py"], "cpu_share": None}, 1, id="update"),
        pytest.param({"paths": None, "cpu_share": None, "parse_workers": 1}, 1, id="explicit-serial"),
    ],
)
def test_parse_workers(request_, expected, monkeypatch):
    monkeypatch.setattr("treerag.index.worker.available_cpus", lambda: 8)
    assert parse_workers(request_) == expected


def test_parse_workers_never_exceed_the_cpus(monkeypatch):
    monkeypatch.setattr("treerag.index.worker.available_cpus", lambda: 1)
    assert parse_workers({"paths": None, "parse_workers": 4}) == 1


def _held_back(flag: Path, x: int) -> tuple[int, bool]:
    """The last item waits (up to 10 s) for the caller to have seen the first result."""
    if x == 5:
        deadline = time.monotonic() + 10
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return x, flag.exists()
    return x, True


def test_fork_pool_yields_results_as_they_arrive(tmp_path):
    flag = tmp_path / "first-seen"
    with ForkPool(functools.partial(_held_back, flag), 2, chunk=1) as pool:
        results = pool.map(list(range(6)))
        assert next(results) == (0, True)  # before the last item is done
        flag.touch()
        assert list(results) == [(x, True) for x in range(1, 6)]


def test_fork_pool_works_in_process_when_it_cannot_fork(monkeypatch, caplog):
    def no_fork():
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr("treerag.index.pool._fork", no_fork)
    with caplog.at_level(logging.WARNING, logger="treerag"), ForkPool(_square, 2, chunk=4) as pool:
        assert list(pool.map([1, 2, 11, 3])) == [1, 4, CRASHED, 9]
    assert sum("could not fork" in r.getMessage() for r in caplog.records) == 1  # tried once


_CHILDREN_OF_A_KILLED_PARENT = """
import os, sys, time
from pathlib import Path
from treerag.index.pool import ForkPool

def wait_forever(x):
    (Path(sys.argv[1]) / str(os.getpid())).touch()
    time.sleep(60)

with ForkPool(wait_forever, 2, chunk=1) as pool:
    list(pool.map([1, 2]))
"""


def test_children_die_with_their_parent(tmp_path):
    seen = tmp_path / "children"
    seen.mkdir()
    parent = subprocess.Popen([sys.executable, "-c", _CHILDREN_OF_A_KILLED_PARENT, str(seen)])
    try:
        deadline = time.monotonic() + 20
        while len(list(seen.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        pids = [int(p.name) for p in seen.iterdir()]
        assert len(pids) == 2
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 5
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in pids if _running(pid)]
        time.sleep(0.02)
    assert not alive, f"parse children outlived their parent: {alive}"


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def _hangs_on_five(x: int) -> int:
    if x == 5:
        time.sleep(3600)
    return x + 1


def test_a_hanging_item_costs_that_item_and_about_twice_the_timeout(caplog):
    """The chunk holding the hang is stopped at its deadline and retried one item at a time; the item
    that hangs alone is stopped again and comes back CRASHED; the others are computed."""
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="treerag"), \
            ForkPool(_hangs_on_five, 2, chunk=4, chunk_timeout_s=0.5) as pool:
        out = list(pool.map(list(range(12))))
    took = time.monotonic() - started
    assert out == [CRASHED if x == 5 else x + 1 for x in range(12)]
    assert pool.hangs == 2 and took < 10, took
    assert any(getattr(r, "reason", "") == "parse_hang" for r in caplog.records)
