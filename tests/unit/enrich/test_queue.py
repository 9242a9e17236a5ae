"""EnrichmentQueue: order, de-duplication, boosts, drop, bands; random runs
checked against a sorted-list reference."""

from __future__ import annotations

import random
import sqlite3

import pytest

from treerag.enrich.queue import EnrichmentQueue, band, priorities_from_db, priority_for


class _Reference:
    """The obvious O(n) model: a list of [priority, seq, path]."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[int, int]] = {}
        self.seq = 0

    def _set(self, path: str, priority: int) -> None:
        self.items[path] = (priority, self.seq)
        self.seq += 1

    def push(self, path: str, priority: int) -> None:
        if path in self.items and self.items[path][0] >= priority:
            return
        self._set(path, priority)

    def boost(self, paths: list[str], amount: int) -> None:
        for path in dict.fromkeys(paths):
            if path in self.items and amount > 0:
                self._set(path, self.items[path][0] + amount)

    def discard(self, path: str) -> None:
        self.items.pop(path, None)

    def pop_batch(self, n: int) -> list[str]:
        order = sorted(self.items, key=lambda p: (-self.items[p][0], self.items[p][1]))[:n]
        for path in order:
            del self.items[path]
        return order


def test_entry_points_then_importers_then_rest() -> None:
    q = EnrichmentQueue()
    q.push("rest.py", 1)
    q.push("lib.py", 7)
    q.push("main.py", 100)
    q.push("core.py", 50)
    assert q.pop_batch(10) == ["main.py", "core.py", "lib.py", "rest.py"]
    assert len(q) == 0


def test_ties_pop_in_insertion_order() -> None:
    q = EnrichmentQueue()
    for name in "abcde":
        q.push(name, 1)
    assert q.pop_batch(2) == ["a", "b"]
    assert q.pop_batch(10) == ["c", "d", "e"]


@pytest.mark.parametrize(
    ("entry", "importers", "expected"),
    [
        pytest.param(True, 0, 100, id="entry"),
        pytest.param(True, 80, 100, id="entry-wins-over-imports"),
        pytest.param(False, 3, 3, id="imported"),
        pytest.param(False, 500, 50, id="import-cap"),
        pytest.param(False, 1, 1, id="one-importer"),
        pytest.param(False, 0, 1, id="rest"),
    ],
)
def test_priority_for(entry: bool, importers: int, expected: int) -> None:
    assert priority_for(entry=entry, importers=importers) == expected


def test_duplicate_push_keeps_one_entry_with_the_higher_priority() -> None:
    q = EnrichmentQueue()
    q.push("a", 1)
    q.push("a", 1)
    q.push("a", 30)
    q.push("a", 5)
    assert len(q) == 1
    assert q.priority("a") == 30
    assert q.pop_batch(5) == ["a"]
    assert q.pop_batch(5) == []


def test_push_many_counts_new_paths() -> None:
    q = EnrichmentQueue()
    assert q.push_many({"a": 1, "b": 2}) == 2
    assert q.push_many({"a": 9, "c": 1}) == 1
    assert q.pop_batch(3) == ["a", "b", "c"]


def test_boost_moves_queued_paths_up_and_ignores_others() -> None:
    q = EnrichmentQueue()
    q.push_many({"main.py": 100, "a.py": 1, "b.py": 1})
    assert q.boost(["b.py", "b.py", "missing.py"], 200) == 1
    assert q.pop_batch(1) == ["b.py"]
    assert q.boost(["a.py"], 0) == 0
    assert q.pop_batch(5) == ["main.py", "a.py"]


def test_discard_and_drop() -> None:
    q = EnrichmentQueue()
    q.push_many({"a": 1, "b": 2, "c": 3})
    assert q.discard("b") is True
    assert q.discard("b") is False
    assert "b" not in q
    assert q.pop_batch(1) == ["c"]
    assert q.drop() == 1
    assert q.pop_batch(10) == []
    q.push("a", 1)  # usable after drop
    assert q.pop_batch(10) == ["a"]


def test_counts_by_band_and_peek() -> None:
    q = EnrichmentQueue()
    q.push_many({"m": 100, "x": 50, "y": 2, "z": 1, "w": 1})
    assert q.counts_by_band() == {"100": 1, "50": 2, "1": 2}
    assert q.peek(2) == ["m", "x"]
    assert len(q) == 5
    assert band(250) == "100"


def test_stale_entries_are_compacted() -> None:
    q = EnrichmentQueue()
    q.push("a", 1)
    for _ in range(1000):
        q.boost(["a"], 1)
    assert q.statistics()["heap"] < 100
    assert q.priority("a") == 1001
    assert q.pop_batch(5) == ["a"]


@pytest.mark.parametrize("seed", range(25))
def test_random_operations_match_the_sorted_list_reference(seed: int) -> None:
    rnd = random.Random(seed)
    q, ref = EnrichmentQueue(), _Reference()
    paths = [f"f{i}.py" for i in range(rnd.randint(1, 40))]
    for _ in range(400):
        op = rnd.random()
        if op < 0.45:
            path, priority = rnd.choice(paths), rnd.choice([1, 1, 2, 7, 50, 100])
            q.push(path, priority)
            ref.push(path, priority)
        elif op < 0.6:
            chosen = rnd.sample(paths, k=rnd.randint(1, min(4, len(paths))))
            amount = rnd.choice([0, 5, 100])
            q.boost(chosen, amount)
            ref.boost(chosen, amount)
        elif op < 0.7:
            path = rnd.choice(paths)
            q.discard(path)
            ref.discard(path)
        elif op < 0.98:
            n = rnd.randint(1, 5)
            assert q.pop_batch(n) == ref.pop_batch(n)
        else:
            q.drop()
            ref.items.clear()
        assert len(q) == len(ref.items)
    assert q.pop_batch(10_000) == ref.pop_batch(10_000)


def test_priorities_from_db_reads_flags_and_import_edges() -> None:
    conn = sqlite3.connect(":memory:")
    conn.executescript(
        "CREATE TABLE files(id INTEGER PRIMARY KEY, path TEXT, flags INTEGER);"
        "CREATE TABLE edges(src INTEGER, dst INTEGER, kind INTEGER, weight REAL);"
    )
    conn.executemany(
        "INSERT INTO files VALUES (?, ?, ?)",
        [(1, "main.py", 1), (2, "core.py", 0), (3, "util.py", 0), (4, "lone.py", 0)],
    )
    conn.executemany(
        "INSERT INTO edges VALUES (?, ?, ?, 1.0)",
        [(1, 2, 1), (3, 2, 1), (4, 2, 1), (1, 3, 1), (4, 3, 2), (2, 2, 1)],  # kind 2 and self-loops ignored
    )
    assert priorities_from_db(conn) == {"main.py": 100, "core.py": 3, "util.py": 1, "lone.py": 1}
    assert priorities_from_db(conn, ["core.py"]) == {"core.py": 3}
