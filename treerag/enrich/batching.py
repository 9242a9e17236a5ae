"""Split nodes into request-sized batches (by count and by characters), in priority order."""

from __future__ import annotations

from dataclasses import replace

from treerag.enrich.providers.base import Node

__all__ = ["DEFAULT_BATCH_CHARS", "DEFAULT_BATCH_NODES", "DEFAULT_NODE_CHARS", "batches", "estimate_tokens"]

DEFAULT_BATCH_NODES = 16
DEFAULT_BATCH_CHARS = 24_000
DEFAULT_NODE_CHARS = 4_000
_OVERHEAD_CHARS = 120  # JSON keys and punctuation around each node


def estimate_tokens(chars: int) -> int:
    """A budget estimate: about four characters per token."""
    return (chars + 3) // 4


def _cost(node: Node) -> int:
    return len(node.text) + len(node.hint) + len(node.path) + len(node.node) + _OVERHEAD_CHARS


def batches(
    nodes: list[Node],
    *,
    max_nodes: int = DEFAULT_BATCH_NODES,
    max_chars: int = DEFAULT_BATCH_CHARS,
    node_chars: int = DEFAULT_NODE_CHARS,
) -> list[list[Node]]:
    """Consecutive batches of at most ``max_nodes`` nodes and ``max_chars`` characters; each node's
    text is clipped to ``node_chars`` (and to what fits a batch alone); the order is kept."""
    limit = max(1, min(node_chars, max_chars - _OVERHEAD_CHARS))
    out: list[list[Node]] = []
    current: list[Node] = []
    used = 0
    for node in nodes:
        if len(node.text) > limit:
            node = replace(node, text=node.text[:limit])
        if len(node.hint) > 400:
            node = replace(node, hint=node.hint[:400])
        cost = _cost(node)
        if current and (len(current) >= max(1, max_nodes) or used + cost > max_chars):
            out.append(current)
            current, used = [], 0
        current.append(node)
        used += cost
    if current:
        out.append(current)
    return out
