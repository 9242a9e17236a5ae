from __future__ import annotations

from treerag.enrich.batching import batches, estimate_tokens
from treerag.enrich.providers.base import Node


def node(i: int, size: int = 10) -> Node:
    return Node(f"f{i}.py", "", "file", "python", "x" * size)


def test_batches_by_count_keep_order() -> None:
    got = batches([node(i) for i in range(40)], max_nodes=16)
    assert [len(b) for b in got] == [16, 16, 8]
    assert [n.path for b in got for n in b] == [f"f{i}.py" for i in range(40)]


def test_batches_by_chars_and_clip() -> None:
    got = batches([node(i, 3000) for i in range(6)], max_nodes=16, max_chars=7000, node_chars=2000)
    assert all(len(n.text) == 2000 for b in got for n in b)
    assert [len(b) for b in got] == [3, 3]
    huge = batches([node(0, 100_000)], max_chars=5000, node_chars=10_000)
    assert len(huge) == 1 and len(huge[0][0].text) <= 5000


def test_estimate_tokens() -> None:
    assert estimate_tokens(0) == 0 and estimate_tokens(4000) == 1000 and estimate_tokens(1) == 1
