"""Metrics: counters, gauges, histograms, per-operation latency and process stats.

    MetricsRegistry ── counter(name) ─> Counter      inc(n)            lock-free per-thread shards
                    ── gauge(name) ───> Gauge        set/inc/dec       lock
                    ── histogram(name) > Histogram   observe(seconds)  fixed log-scale buckets, lock
                    ── latency ───────> LatencyTracker  record(op, s)  ring of the last N per op
                    ── export() -> JSON-ready dict;  to_prometheus() -> text format 0.0.4
    process_stats(pid) -> RSS/USS/CPU/fds/threads of a process and its workers (psutil, lazily)

Names are dotted (``requests.total``); Prometheus sees ``treerag_requests_total``.
Stdlib only at import time: the daemon imports this module at start-up.

**Latency percentiles** are nearest-rank over the window of the last ``window``
samples of an operation (default 2048): with the window sorted as ``s[0..n-1]``,
``P(q) = s[ceil(q*n) - 1]`` (``q*n`` computed exactly with ``q`` to 6 decimals;
``P(0) = s[0]``), ``max = s[n-1]``. ``count`` and ``sum`` cover every sample ever
recorded, not just the window.

**Cost model**: writes happen on every request, reads about once a second, so
``record`` does the least possible: store one double into a preallocated
``array('d')`` ring (8 bytes a sample, 16 KiB per operation) and bump the
count and sum, under a lock held for a handful of bytecodes (a
``bisect.insort`` + ring-deletion scheme would pay two O(n) list shifts per
request instead). A read copies the window, sorts it (~0.1 ms for 2048
samples) and caches the result until the next write, so an idle operation or a
second subscriber costs a dict copy.
"""

from __future__ import annotations

import bisect
import math
import threading
from array import array
from collections.abc import Iterable
from time import perf_counter
from types import TracebackType
from typing import Any, TypeVar

from treerag.procstats import process_stats

__all__ = [
    "HISTOGRAM_BOUNDS",
    "Counter",
    "Gauge",
    "Histogram",
    "LatencyTracker",
    "MetricsRegistry",
    "process_stats",
]

#: Upper bounds (seconds) of the histogram buckets: 4 per decade from 1 µs to 100 s
#: (1, 1.8, 3.2, 5.6 x 10^k, i.e. 10^(k/4) to two digits), then +Inf.
HISTOGRAM_BOUNDS: tuple[float, ...] = (
    *(float(f"{m}e{e}") for e in range(-6, 2) for m in ("1", "1.8", "3.2", "5.6")),
    100.0,
)
DEFAULT_WINDOW = 2048
DEFAULT_QUANTILES = (0.5, 0.99)
OTHER_OP = "_other"  # where samples of operations beyond ``max_ops`` go


class Counter:
    """A monotonic count (a Python int: it never overflows).

    Lock-free: each thread adds to its own shard (keyed by thread ident, and only
    that thread writes it), so concurrent increments are never lost; ``value``
    sums the shards. Thread idents are recycled, so the shards stay as few as the
    peak number of threads.
    """

    __slots__ = ("_shards", "help")

    def __init__(self, help: str = "") -> None:
        self.help = help
        self._shards: dict[int, int] = {}

    def inc(self, n: int = 1) -> None:
        shards = self._shards
        tid = threading.get_ident()
        shards[tid] = shards.get(tid, 0) + n  # only this thread writes this key

    @property
    def value(self) -> int:
        return sum(self._shards.copy().values())

    def statistics(self) -> dict[str, Any]:
        return {"type": "counter", "help": self.help, "value": self.value}


class Gauge:
    """A value that goes up and down."""

    __slots__ = ("_lock", "_value", "help")

    def __init__(self, help: str = "") -> None:
        self.help = help
        self._value: float = 0
        self._lock = threading.Lock()

    def set(self, value: float) -> None:
        with self._lock:
            self._value = value

    def inc(self, n: float = 1) -> None:
        with self._lock:
            self._value += n

    def dec(self, n: float = 1) -> None:
        with self._lock:
            self._value -= n

    @property
    def value(self) -> float:
        return self._value

    def statistics(self) -> dict[str, Any]:
        return {"type": "gauge", "help": self.help, "value": self._value}


class Histogram:
    """Counts of observations in the fixed :data:`HISTOGRAM_BOUNDS` buckets (``le`` = upper bound, inclusive)."""

    __slots__ = ("_counts", "_lock", "_sum", "help")

    def __init__(self, help: str = "") -> None:
        self.help = help
        self._counts = [0] * (len(HISTOGRAM_BOUNDS) + 1)  # the last one is +Inf
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        i = bisect.bisect_left(HISTOGRAM_BOUNDS, value)
        self._lock.acquire()
        try:
            self._counts[i] += 1
            self._sum += value
        finally:
            self._lock.release()

    @property
    def count(self) -> int:
        return sum(self._counts)

    @property
    def sum(self) -> float:
        return self._sum

    def bucket_counts(self) -> list[tuple[float, int]]:
        """``(upper bound, count)`` per bucket, not cumulative; the last bound is ``inf``."""
        return list(zip((*HISTOGRAM_BOUNDS, math.inf), list(self._counts), strict=True))

    def quantile(self, q: float) -> float:
        """Approximate quantile, interpolated linearly inside its bucket (Prometheus ``histogram_quantile``).

        0.0 when empty; the highest finite bound when the rank falls in the +Inf bucket.
        """
        counts = list(self._counts)
        rank = q * sum(counts)
        if rank <= 0:
            return 0.0 if not any(counts) else _lowest_bound(counts)
        seen = 0
        for i, n in enumerate(counts):
            if n and seen + n >= rank:
                if i == len(HISTOGRAM_BOUNDS):
                    return HISTOGRAM_BOUNDS[-1]
                lower = HISTOGRAM_BOUNDS[i - 1] if i else 0.0
                upper = HISTOGRAM_BOUNDS[i]
                return min(upper, lower + (upper - lower) * (rank - seen) / n)  # rounding must not leave the bucket
            seen += n
        return HISTOGRAM_BOUNDS[-1]

    def statistics(self) -> dict[str, Any]:
        buckets = {_fmt(bound): n for bound, n in self.bucket_counts() if n}
        return {"type": "histogram", "help": self.help, "count": self.count, "sum": self._sum,
                "p50": self.quantile(0.5), "p99": self.quantile(0.99), "buckets": buckets}


def _lowest_bound(counts: list[int]) -> float:
    i = next(i for i, n in enumerate(counts) if n)
    return HISTOGRAM_BOUNDS[i - 1] if 0 < i <= len(HISTOGRAM_BOUNDS) else 0.0


class _Window:
    __slots__ = ("cache", "count", "pos", "samples", "total")

    def __init__(self, size: int) -> None:
        self.samples = array("d", bytes(8 * size))
        self.pos = 0  # where the next sample goes
        self.count = 0
        self.total = 0.0
        self.cache: tuple[int, dict[str, Any]] = (-1, {})  # (count when computed, result): one atomic store


class LatencyTracker:
    """Per-operation latency: count, sum and nearest-rank percentiles over the last ``window`` samples."""

    def __init__(
        self, window: int = DEFAULT_WINDOW, quantiles: Iterable[float] = DEFAULT_QUANTILES, max_ops: int = 256
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self.window = window
        self.max_ops = max_ops
        self.quantiles = tuple(quantiles)
        self._quantiles = [(f"p{q * 100:g}", round(q * 1_000_000)) for q in self.quantiles]
        self._ops: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def _new(self, op: str) -> _Window:
        if len(self._ops) >= self.max_ops:
            op = OTHER_OP
        w = self._ops.get(op)
        return w if w is not None else self._ops.setdefault(op, _Window(self.window))

    def record(self, op: str, seconds: float) -> None:
        w = self._ops.get(op) or self._new(op)
        lock = self._lock
        lock.acquire()  # acquire/try/finally costs less than ``with`` on the hot path
        try:
            pos = w.pos
            w.samples[pos] = seconds
            w.pos = pos + 1 if pos + 1 < self.window else 0
            w.count += 1
            w.total += seconds
        finally:
            lock.release()

    def record_many(self, op: str, samples: Iterable[float]) -> None:
        values = array("d", samples)
        if not values:
            return
        size, total = self.window, math.fsum(values)
        kept = values[-size:]
        w = self._ops.get(op) or self._new(op)
        with self._lock:
            pos, m = w.pos, len(kept)
            first = min(m, size - pos)
            w.samples[pos : pos + first] = kept[:first]
            if m > first:
                w.samples[: m - first] = kept[first:]
            w.pos = (pos + m) % size
            w.count += len(values)
            w.total += total

    def timer(self, op: str) -> _Timer:
        """``with tracker.timer("query"): ...`` records the block's wall time, also when it raises."""
        return _Timer(self, op)

    def ops(self) -> list[str]:
        return sorted(self._ops)

    def percentiles(self, op: str) -> dict[str, Any]:
        """``{count, sum, window, p50, p99, max}`` for ``op`` (zeros if never recorded)."""
        w = self._ops.get(op)
        if w is None:
            return self._result(0, 0.0, [])
        at, cached = w.cache
        if at == w.count:
            return dict(cached)
        with self._lock:
            count, total = w.count, w.total
            data = w.samples[:count] if count < self.window else w.samples[:]
        result = self._result(count, total, sorted(data))  # sorted outside the lock
        w.cache = (count, result)
        return dict(result)

    def _result(self, count: int, total: float, ordered: list[float]) -> dict[str, Any]:
        n = len(ordered)
        result: dict[str, Any] = {"count": count, "sum": total, "window": n}
        for name, micro in self._quantiles:
            rank = -(-micro * n // 1_000_000)  # ceil(q*n) in integers
            result[name] = ordered[max(rank, 1) - 1] if n else 0.0
        result["max"] = ordered[-1] if n else 0.0
        return result

    def snapshot(self, ops: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """``{op: percentiles(op)}`` for every recorded op, or for those of ``ops`` that were recorded."""
        names = self.ops() if ops is None else [op for op in ops if op in self._ops]
        return {op: self.percentiles(op) for op in names}

    statistics = snapshot


class _Timer:
    __slots__ = ("_op", "_start", "_tracker", "elapsed")

    def __init__(self, tracker: LatencyTracker, op: str) -> None:
        self._tracker, self._op = tracker, op
        self._start = self.elapsed = 0.0

    def __enter__(self) -> _Timer:
        self._start = perf_counter()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.elapsed = perf_counter() - self._start
        self._tracker.record(self._op, self.elapsed)


# -- the registry ---------------------------------------------------------------------

Metric = Counter | Gauge | Histogram
_M = TypeVar("_M", Counter, Gauge, Histogram)


class MetricsRegistry:
    """Named metrics (get-or-create) plus the latency tracker; JSON and Prometheus export."""

    def __init__(self, latency: LatencyTracker | None = None) -> None:
        self._metrics: dict[str, Metric] = {}
        self._lock = threading.Lock()
        self.latency = latency if latency is not None else LatencyTracker()

    def counter(self, name: str, help: str = "") -> Counter:
        return self._get(name, Counter, help)

    def gauge(self, name: str, help: str = "") -> Gauge:
        return self._get(name, Gauge, help)

    def histogram(self, name: str, help: str = "") -> Histogram:
        return self._get(name, Histogram, help)

    def _get(self, name: str, kind: type[_M], help: str) -> _M:
        metric = self._metrics.get(name)
        if metric is None:
            if name.startswith("latency."):
                raise ValueError(f"{name!r}: the 'latency.' names belong to the latency tracker")
            with self._lock:
                metric = self._metrics.setdefault(name, kind(help))
        if not isinstance(metric, kind) or type(metric) is not kind:
            raise TypeError(f"metric {name!r} is a {type(metric).__name__}, not a {kind.__name__}")
        return metric

    def export(self, names: Iterable[str] | None = None, prefix: str | None = None) -> dict[str, Any]:
        """``{name: {type, help, ...values}}``, JSON-ready. Latency appears as ``latency.<op>`` summaries.

        With ``names`` and/or ``prefix`` only the metrics named exactly or starting with
        ``prefix`` are kept (either matching is enough); with neither, all of them.
        """
        wanted = set(names) if names is not None else None

        def keep(name: str) -> bool:
            if wanted is None and prefix is None:
                return True
            return (wanted is not None and name in wanted) or (prefix is not None and name.startswith(prefix))

        out = {name: m.statistics() for name, m in sorted(self._metrics.items()) if keep(name)}
        for op in self.latency.ops():
            if keep(f"latency.{op}"):
                out[f"latency.{op}"] = {"type": "summary", "help": f"latency of {op} (seconds)",
                                        **self.latency.percentiles(op)}
        return out

    statistics = export

    def to_prometheus(self) -> str:
        """Prometheus text exposition format 0.0.4, every name prefixed ``treerag_``."""
        lines: list[str] = []
        for name, m in sorted(self._metrics.items()):
            prom = prometheus_name(name)
            if isinstance(m, Counter):
                prom = prom if prom.endswith("_total") else prom + "_total"
                lines += _header(prom, m.help, "counter")
                lines.append(f"{prom} {_fmt(m.value)}")
            elif isinstance(m, Gauge):
                lines += _header(prom, m.help, "gauge")
                lines.append(f"{prom} {_fmt(m.value)}")
            else:
                lines += _header(prom, m.help, "histogram")
                cumulative = 0
                for bound, n in m.bucket_counts():
                    cumulative += n
                    lines.append(f'{prom}_bucket{{le="{_fmt(bound)}"}} {cumulative}')
                lines.append(f"{prom}_sum {_fmt(m.sum)}")
                lines.append(f"{prom}_count {cumulative}")
        lines += _latency_lines(self.latency)
        return "\n".join(lines) + "\n" if lines else ""


def prometheus_name(name: str) -> str:
    """``requests.total`` -> ``treerag_requests_total`` (anything outside ``[A-Za-z0-9_]`` becomes ``_``)."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in name)
    return f"treerag_{safe}"


def _header(name: str, help: str, kind: str) -> list[str]:
    text = (help or name).replace("\\", r"\\").replace("\n", r"\n")
    return [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]


def _label(value: str) -> str:
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def _latency_lines(tracker: LatencyTracker) -> list[str]:
    ops = tracker.ops()
    if not ops:
        return []
    name = "treerag_latency_seconds"
    lines = _header(name, f"request latency by operation, quantiles over the last {tracker.window} samples", "summary")
    for op in ops:
        p, label = tracker.percentiles(op), _label(op)
        for q in tracker.quantiles:
            lines.append(f'{name}{{op="{label}",quantile="{q:g}"}} {_fmt(p[f"p{q * 100:g}"])}')
        lines += [f'{name}_sum{{op="{label}"}} {_fmt(p["sum"])}', f'{name}_count{{op="{label}"}} {p["count"]}']
    return lines


def _fmt(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return "NaN" if math.isnan(value) else repr(value)
