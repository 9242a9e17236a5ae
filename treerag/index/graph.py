"""Graph algorithms over the file graph: query-independent PageRank and personalised spreading.

Both work on plain lists and dicts so they run in the index worker (PageRank,
once per build, warm-started on updates) and in the daemon (the per-prompt
spread, which touches only the neighbourhood of the seed files).
"""

from __future__ import annotations

import heapq
import itertools
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = ["pagerank", "spread"]

DAMPING = 0.85
NeighbourFn = Callable[[int], Sequence[tuple[int, float]]]


def pagerank(
    nodes: Sequence[int],
    edges: Iterable[tuple[int, int, float]],
    *,
    start: Mapping[int, float] | None = None,
    iterations: int = 30,
    tolerance: float = 1e-6,
) -> dict[int, float]:
    """Weighted PageRank; ranks sum to 1. ``start`` warm-starts an update so it converges in a few rounds."""
    n = len(nodes)
    if n == 0:
        return {}
    index = {node: i for i, node in enumerate(nodes)}
    out_weight = [0.0] * n
    incoming: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for src, dst, weight in edges:
        i, j = index.get(src), index.get(dst)
        if i is None or j is None or i == j:
            continue
        out_weight[i] += weight
        incoming[j].append((i, weight))
    # The edges flattened by destination, and where each destination's run ends: one pass computes every
    # edge's share and each node sums its slice, with the same operations in the same order as a sum per node.
    flat = [(i, w, out_weight[i]) for inc in incoming for i, w in inc]
    ends = list(itertools.accumulate(len(inc) for inc in incoming))
    starts = [0, *ends[:-1]]
    dangling = [i for i in range(n) if out_weight[i] == 0.0]
    if start:
        rank = [max(float(start.get(node, 0.0)), 0.0) for node in nodes]
        total = sum(rank)
        rank = [r / total for r in rank] if total > 0 else [1.0 / n] * n
    else:
        rank = [1.0 / n] * n
    base = (1.0 - DAMPING) / n
    for _ in range(iterations):
        share = DAMPING * sum([rank[i] for i in dangling]) / n
        shares = [rank[i] * w / o for i, w, o in flat]
        new = [base + share + DAMPING * sum(shares[a:b]) for a, b in zip(starts, ends, strict=True)]
        delta = sum(map(abs, map(operator.sub, new, rank)))
        rank = new
        if delta < tolerance:
            break
    return {node: rank[i] for i, node in enumerate(nodes)}


def spread(
    seeds: Mapping[int, float],
    neighbours: NeighbourFn,
    *,
    hops: int = 2,
    decay: float = 0.5,
    fanout: int = 40,
    breadth: int | None = None,
) -> dict[int, float]:
    """Spread seed scores along edges for a few hops (personalised-PageRank style, truncated).

    Each hop spreads from the ``breadth`` strongest nodes reached by the one before (all of them when
    None): past the first hop the frontier is hundreds of nodes whose shares are too small to move a
    ranking. Cost is bounded by ``len(seeds) * fanout + breadth * fanout * (hops - 1)``, independent of
    the repository size.
    """
    scores: dict[int, float] = defaultdict(float)
    for node, score in seeds.items():
        scores[node] += score
    frontier = dict(seeds)
    for _ in range(hops):
        nxt: dict[int, float] = defaultdict(float)
        for node, score in frontier.items():
            adj = neighbours(node)
            if not adj:
                continue
            adj = adj[:fanout]
            share = decay * score / (sum(w for _, w in adj) or 1.0)
            for other, weight in adj:
                nxt[other] += share * weight
        for node, score in nxt.items():
            scores[node] += score
        frontier = nxt if breadth is None or len(nxt) <= breadth else dict(
            heapq.nlargest(breadth, nxt.items(), key=operator.itemgetter(1)))
    return dict(scores)
