"""What the plots remember: a fixed-size ring buffer per series, fed one metrics sample at a time.

``MetricsHistory.add(sample)`` pulls the plotted numbers out of a sample (the
shape is in docs/PROTOCOL.md) and appends them; it runs for every sample the
daemon pushes, frozen or not, so the plots have no holes. Capacity defaults to
ten minutes at one sample a second.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = ["HISTORY", "LATENCY_OPS", "MetricsHistory", "RingBuffer", "backlog", "latency_p99", "pick_latency_ops"]

HISTORY = 600  # samples: ten minutes at 1 Hz
LATENCY_OPS = ("hook", "context", "query", "ping")  # plotted first, in this order, when present
MAX_TRACKED_OPS = 64  # a daemon inventing op names must not grow our memory


class RingBuffer:
    """The last ``capacity`` values of one series, oldest first."""

    __slots__ = ("_items",)

    def __init__(self, capacity: int = HISTORY, values: Iterable[float] = ()) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._items: deque[float] = deque(values, maxlen=capacity)

    @property
    def capacity(self) -> int:
        return self._items.maxlen or 0

    def append(self, value: float) -> None:
        self._items.append(float(value))

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[float]:
        return iter(self._items)

    def values(self) -> list[float]:
        return list(self._items)

    @property
    def last(self) -> float | None:
        return self._items[-1] if self._items else None

    @property
    def minimum(self) -> float | None:
        return min(self._items) if self._items else None

    @property
    def maximum(self) -> float | None:
        return max(self._items) if self._items else None


def latency_p99(latency: Mapping[str, Any], op: str) -> float | None:
    """P99 of ``op`` in seconds: its own entry, else the worst of ``op.*`` / ``op:*`` (e.g. per hook event)."""
    entry = latency.get(op)
    if isinstance(entry, Mapping) and entry.get("p99") is not None:
        return float(entry["p99"])
    worst: float | None = None
    for name, value in latency.items():
        if name.startswith((f"{op}.", f"{op}:", f"{op}/")) and isinstance(value, Mapping):
            p99 = value.get("p99")
            if p99 is not None and (worst is None or p99 > worst):
                worst = float(p99)
    return worst


def pick_latency_ops(seen: Iterable[str], slots: int = 4, counts: Mapping[str, int] | None = None) -> list[str]:
    """Which ops get a latency plot: the preferred ones present, then the busiest of the rest."""
    seen = list(seen)
    picked = [op for op in LATENCY_OPS if op in seen]
    counts = counts or {}
    rest = sorted((op for op in seen if op not in picked), key=lambda op: (-counts.get(op, 0), op))
    return (picked + rest)[:slots]


def _group(op: str) -> str:
    """``hook.UserPromptSubmit`` → ``hook`` when it belongs to a preferred op; else the name itself."""
    for preferred in LATENCY_OPS:
        if op == preferred or op.startswith((f"{preferred}.", f"{preferred}:", f"{preferred}/")):
            return preferred
    return op


class MetricsHistory:
    """Ring buffers for every plotted series; ``latency`` is keyed by op (grouped as ``latency_p99`` does)."""

    def __init__(self, capacity: int = HISTORY) -> None:
        self.capacity = capacity
        self.rss_bytes = RingBuffer(capacity)
        self.cpu_percent = RingBuffer(capacity)
        self.hit_rate = RingBuffer(capacity)
        self.backlog = RingBuffer(capacity)
        self.latency: dict[str, RingBuffer] = {}
        self.latency_counts: dict[str, int] = {}

    def add(self, sample: Mapping[str, Any]) -> None:
        process = sample.get("process") or {}
        total = process.get("total_rss_bytes")
        if total is None:
            total = (process.get("rss_bytes") or 0) + (process.get("children_rss_bytes") or 0)
        self.rss_bytes.append(total)
        self.cpu_percent.append(process.get("cpu_percent") or 0.0)
        cache = sample.get("cache") or {}
        self.hit_rate.append(_hit_rate(cache))
        self.backlog.append(backlog(sample))
        latency = sample.get("latency") or {}
        groups: dict[str, int] = {}
        for op, entry in latency.items():
            if isinstance(entry, Mapping):
                group = _group(str(op))
                groups[group] = groups.get(group, 0) + int(entry.get("count") or 0)
        for group, count in groups.items():
            p99 = latency_p99(latency, group)
            if p99 is None:
                continue
            buffer = self.latency.get(group)
            if buffer is None:
                if len(self.latency) >= MAX_TRACKED_OPS:
                    continue
                buffer = self.latency[group] = RingBuffer(self.capacity)
            buffer.append(p99)
            self.latency_counts[group] = count

    def latency_ops(self, slots: int = 4) -> list[str]:
        return pick_latency_ops(self.latency, slots, self.latency_counts)


def backlog(sample: Mapping[str, Any]) -> int:
    """Enrichment backlog: ``enrich.backlog`` when the daemon sends it, else the task queue's pending count."""
    enrich = sample.get("enrich")
    if isinstance(enrich, Mapping) and enrich.get("backlog") is not None:
        return int(enrich["backlog"])
    return int((sample.get("queue") or {}).get("pending") or 0)


def _hit_rate(cache: Mapping[str, Any]) -> float:
    rate = cache.get("hit_rate")
    if rate is not None:
        return float(rate)
    hits, misses = cache.get("hits") or 0, cache.get("misses") or 0
    return hits / (hits + misses) if hits + misses else 0.0
