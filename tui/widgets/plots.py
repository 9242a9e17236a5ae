"""The plots panel: memory against the limit, CPU, cache hit rate, backlog and P99 latency per op."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Grid

from ..format import fmt_bytes, fmt_count, fmt_ms, fmt_percent
from ..history import LATENCY_OPS, MetricsHistory
from .plot import Plot

__all__ = ["PlotsPanel"]

LATENCY_SLOTS = 4
_PRESSURES = ("normal", "warning", "critical")


MB = 1024 * 1024


def _cpu(value: float) -> str:
    return f"{value:.1f}%"


def _number(value: float) -> str:
    return f"{value:.1f}"


def _mb(value: float) -> str:
    return f"{value / MB:.1f}"


def _ms(value: float) -> str:
    ms = value * 1000
    return f"{ms:.2f}" if ms < 10 else f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def _pct(value: float) -> str:
    return f"{value * 100:.1f}"


class PlotsPanel(Grid):
    """A fixed grid of eight ``Plot``s; latency slots are relabelled, never rebuilt, as ops appear."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.memory = Plot("memory (total RSS)", id="plot-memory")
        self.cpu = Plot("CPU", id="plot-cpu")
        self.hits = Plot("cache hit rate", id="plot-hits")
        self.backlog = Plot("enrichment backlog", id="plot-backlog")
        self.latency = [Plot(f"p99 {op}", id=f"plot-latency-{i}") for i, op in enumerate(LATENCY_OPS)]

    def compose(self) -> ComposeResult:
        yield self.memory
        yield self.cpu
        yield self.hits
        yield self.backlog
        yield from self.latency

    def show(self, history: MetricsHistory, sample: dict[str, Any]) -> None:
        resources = sample.get("resources") or {}
        limit_mb = sample.get("memory_limit_mb")
        pressure = str(resources.get("pressure") or "")
        rss = history.rss_bytes
        note = pressure
        if limit_mb and rss.last is not None:
            note = f"{rss.last / (limit_mb * 1024 * 1024):.0%} {pressure}".strip()
        self.memory.show(
            rss.values(), fmt_bytes, limit=f"{limit_mb} MB" if limit_mb else None, note=note, range_fmt=_mb, unit=" MB"
        )
        for level in _PRESSURES:
            self.memory.set_class(pressure == level, f"-{level}")
        self.cpu.show(history.cpu_percent.values(), _cpu, range_fmt=_number, unit="%")
        cache = sample.get("cache") or {}
        self.hits.show(
            history.hit_rate.values(),
            fmt_percent,
            note=_lookups(cache),
            range_fmt=_pct,
            unit="%",
        )
        self.backlog.show(history.backlog.values(), fmt_count, note=_backlog_note(sample))
        ops = history.latency_ops(LATENCY_SLOTS)
        for index, plot in enumerate(self.latency):
            if index < len(ops):
                op = ops[index]
                plot.show(history.latency[op].values(), fmt_ms, title=f"p99 {op}", range_fmt=_ms, unit=" ms")
            else:
                plot.show([], fmt_ms)


def _backlog_note(sample: dict[str, Any]) -> str:
    enrich = sample.get("enrich")
    if isinstance(enrich, dict):
        note = f"done {fmt_count(enrich.get('done') or 0)}"
        return note + (" · paused" if enrich.get("paused") else "")
    queue = sample.get("queue") or {}
    return f"running {queue.get('running') or 0}" + (" · paused" if queue.get("paused") else "")


def _lookups(cache: dict[str, Any]) -> str:
    hits, misses = cache.get("hits"), cache.get("misses")
    if hits is None and misses is None:
        return ""
    return f"of {fmt_count((hits or 0) + (misses or 0))} lookups"
