"""Metrics: counters, gauges, histograms, the latency tracker, export formats, process stats."""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from treerag import metrics
from treerag.metrics import (
    HISTOGRAM_BOUNDS,
    Counter,
    Gauge,
    Histogram,
    LatencyTracker,
    MetricsRegistry,
    process_stats,
)


def run_threads(target, n: int = 8) -> None:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(n)

    def body() -> None:
        barrier.wait()
        target()

    threads = [threading.Thread(target=body) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# -- counters and gauges ------------------------------------------------------------------


def test_counter_counts() -> None:
    c = Counter("requests")
    assert c.value == 0
    c.inc()
    c.inc(41)
    assert c.value == 42
    assert c.statistics() == {"type": "counter", "help": "requests", "value": 42}


def test_counter_holds_large_values() -> None:
    c = Counter()
    c.inc(2**63 - 1)
    c.inc(2**63)
    c.inc()
    assert c.value == 2**64


def test_counter_loses_no_increment_across_threads() -> None:
    c = Counter()
    per_thread = 20_000

    def work() -> None:
        for _ in range(per_thread):
            c.inc()
        c.inc(5)

    run_threads(work, n=8)
    assert c.value == 8 * (per_thread + 5)


def test_gauge_set_inc_dec() -> None:
    g = Gauge()
    assert g.value == 0
    g.set(10)
    g.inc()
    g.inc(2.5)
    g.dec(3)
    assert g.value == 10.5
    g.set(-1)
    assert g.value == -1
    assert g.statistics()["type"] == "gauge"


def test_gauge_across_threads() -> None:
    g = Gauge()

    def work() -> None:
        for _ in range(5_000):
            g.inc()
            g.dec(2)

    run_threads(work, n=4)
    assert g.value == -20_000


# -- histograms ---------------------------------------------------------------------------


def test_bucket_layout() -> None:
    assert len(HISTOGRAM_BOUNDS) == 33
    assert HISTOGRAM_BOUNDS[0] == 1e-6 and HISTOGRAM_BOUNDS[-1] == 100.0
    assert all(a < b for a, b in itertools.pairwise(HISTOGRAM_BOUNDS))
    for decade in range(8):  # four buckets per decade, each ~10^(1/4) wide
        assert HISTOGRAM_BOUNDS[4 * decade + 4] == pytest.approx(HISTOGRAM_BOUNDS[4 * decade] * 10)
    ratios = [b / a for a, b in itertools.pairwise(HISTOGRAM_BOUNDS)]
    assert all(1.6 < r < 1.9 for r in ratios)


@pytest.mark.parametrize(
    ("value", "upper"),
    [
        pytest.param(-1.0, 1e-6, id="negative"),
        pytest.param(0.0, 1e-6, id="zero"),
        pytest.param(1e-6, 1e-6, id="bound-is-inclusive"),
        pytest.param(1.1e-6, 1.8e-6, id="just-above"),
        pytest.param(250e-6, 320e-6, id="250us"),
        pytest.param(0.001, 0.001, id="1ms"),
        pytest.param(0.0011, 0.0018, id="1.1ms"),
        pytest.param(0.75, 1.0, id="750ms"),
        pytest.param(99.0, 100.0, id="99s"),
        pytest.param(100.0, 100.0, id="100s"),
        pytest.param(101.0, math.inf, id="overflow"),
    ],
)
def test_sample_lands_in_its_bucket(value: float, upper: float) -> None:
    h = Histogram()
    h.observe(value)
    nonzero = [(bound, n) for bound, n in h.bucket_counts() if n]
    assert nonzero == [(upper, 1)]
    assert (h.count, h.sum) == (1, value)


def test_bucket_distribution() -> None:
    h = Histogram()
    samples = [0.0001] * 5 + [0.002] * 3 + [0.5] * 2 + [500.0]
    for v in samples:
        h.observe(v)
    counts = dict(h.bucket_counts())
    assert counts[0.0001] == 5 and counts[0.0032] == 3 and counts[0.56] == 2 and counts[math.inf] == 1
    assert sum(counts.values()) == h.count == 11
    assert h.sum == pytest.approx(sum(samples))
    stats = h.statistics()
    assert stats["buckets"] == {"0.0001": 5, "0.0032": 3, "0.56": 2, "+Inf": 1}
    assert h.quantile(0.99) == 100.0  # in +Inf: the highest finite bound
    assert 5.6e-5 < h.quantile(0.25) <= 1e-4


def test_empty_histogram() -> None:
    h = Histogram()
    assert (h.count, h.sum, h.quantile(0.5)) == (0, 0.0, 0.0)


@settings(max_examples=200, database=None, deadline=None)
@given(
    st.lists(st.floats(min_value=1e-7, max_value=99.0), min_size=1, max_size=200),
    st.sampled_from([0.01, 0.25, 0.5, 0.9, 0.99, 1.0]),
)
def test_histogram_quantile_is_inside_the_true_values_bucket(samples: list[float], q: float) -> None:
    h = Histogram()
    for v in samples:
        h.observe(v)
    true = nearest_rank(samples, q)
    i = next(i for i, bound in enumerate(HISTOGRAM_BOUNDS) if true <= bound)
    lower = HISTOGRAM_BOUNDS[i - 1] if i else 0.0
    assert lower <= h.quantile(q) <= HISTOGRAM_BOUNDS[i]


def test_histogram_quantile_never_rounds_past_its_bucket() -> None:
    """1.0 + 0.8 * 3 / 3 is 1.8000000000000003 in floats: the top of a bucket must stay its bound."""
    h = Histogram()
    for _ in range(3):
        h.observe(1.7)
    assert h.quantile(1.0) == 1.8


# -- the latency tracker ------------------------------------------------------------------


def nearest_rank(samples: list[float], q: float) -> float:
    """The reference: sorted[ceil(q*n) - 1] with q*n exact (q read as a decimal), P(0) = min."""
    ordered = sorted(samples)
    rank = math.ceil(Fraction(str(q)) * len(ordered))
    return ordered[max(rank, 1) - 1]


def test_single_sample() -> None:
    t = LatencyTracker()
    t.record("ping", 0.00025)
    assert t.percentiles("ping") == {"count": 1, "sum": 0.00025, "window": 1, "p50": 0.00025, "p99": 0.00025,
                                     "max": 0.00025}


def test_unknown_operation_reads_as_zeros() -> None:
    t = LatencyTracker()
    assert t.percentiles("nothing") == {"count": 0, "sum": 0.0, "window": 0, "p50": 0.0, "p99": 0.0, "max": 0.0}
    assert t.snapshot() == {} and t.ops() == []


def test_batch() -> None:
    t = LatencyTracker()
    t.record_many("query", [i / 1000 for i in range(1, 101)])  # 1..100 ms
    p = t.percentiles("query")
    assert p["count"] == p["window"] == 100
    assert p["p50"] == 0.050 and p["p99"] == 0.099 and p["max"] == 0.100
    assert p["sum"] == pytest.approx(5.050)
    t.record_many("query", [])
    assert t.percentiles("query")["count"] == 100


@pytest.mark.parametrize(
    "how",
    [pytest.param("one-by-one", id="record"), pytest.param("batch", id="record_many"),
     pytest.param("mixed", id="mixed")],
)
def test_window_overflow_keeps_only_the_most_recent(how: str) -> None:
    t = LatencyTracker(window=4)
    samples = [100.0, 90.0, 80.0, 70.0, 60.0, 1.0, 2.0, 3.0, 4.0]
    if how == "one-by-one":
        for s in samples:
            t.record("op", s)
    elif how == "batch":
        t.record_many("op", samples)
    else:
        t.record("op", samples[0])
        t.record_many("op", samples[1:6])
        for s in samples[6:]:
            t.record("op", s)
    p = t.percentiles("op")
    assert p["count"] == 9 and p["window"] == 4
    assert p["sum"] == pytest.approx(sum(samples))  # count and sum cover everything
    assert (p["p50"], p["p99"], p["max"]) == (2.0, 4.0, 4.0)  # percentiles only the last four


def test_window_rolls_over_many_times() -> None:
    t = LatencyTracker(window=2048)
    for i in range(10 * 2048 + 7):
        t.record("ping", float(i))
    p = t.percentiles("ping")
    recent = [float(i) for i in range(9 * 2048 + 7, 10 * 2048 + 7)]
    assert p["count"] == 10 * 2048 + 7 and p["window"] == 2048
    assert p["p50"] == nearest_rank(recent, 0.5) and p["max"] == recent[-1]


@settings(max_examples=300, database=None, deadline=None)
@given(
    window=st.integers(min_value=1, max_value=64),
    samples=st.lists(st.floats(min_value=0.0, max_value=10.0, allow_nan=False), max_size=300),
    chunks=st.lists(st.integers(min_value=0, max_value=70), max_size=20),
    read_between=st.booleans(),
)
def test_percentiles_match_the_reference(
    window: int, samples: list[float], chunks: list[int], read_between: bool
) -> None:
    t = LatencyTracker(window=window, quantiles=(0.0, 0.5, 0.9, 0.99, 1.0))
    rest = list(samples)
    for size in chunks:  # some samples in batches of random sizes, the rest one by one
        batch, rest = rest[:size], rest[size:]
        t.record_many("op", batch)
        if read_between:
            t.percentiles("op")  # a cached read must not survive a write
    for s in rest:
        t.record("op", s)
    p = t.percentiles("op")
    last = samples[-window:]
    assert p["count"] == len(samples) and p["window"] == len(last)
    if not samples:
        return
    assert p["sum"] == pytest.approx(math.fsum(samples))
    for key, q in [("p0", 0.0), ("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p100", 1.0)]:
        assert p[key] == nearest_rank(last, q), key
    assert p["max"] == max(last) and p["p0"] == min(last)


def test_reads_are_cached_until_the_next_write() -> None:
    t = LatencyTracker()
    t.record("op", 1.0)
    first = t.percentiles("op")
    first["p50"] = 123.0  # the caller's copy
    assert t.percentiles("op")["p50"] == 1.0
    t.record("op", 3.0)
    t.record("op", 5.0)
    assert t.percentiles("op")["p50"] == 3.0


def test_snapshot_filters_by_operation() -> None:
    t = LatencyTracker()
    for op in ("ping", "query", "hook.PreToolUse"):
        t.record(op, 0.001)
    assert set(t.snapshot()) == {"ping", "query", "hook.PreToolUse"}
    assert set(t.snapshot(["ping", "hook.PreToolUse", "never"])) == {"ping", "hook.PreToolUse"}
    assert t.snapshot([]) == {}
    assert t.statistics() == t.snapshot()


def test_timer_records_also_on_error() -> None:
    t = LatencyTracker()
    with t.timer("work") as timer:
        time.sleep(0.002)
    with pytest.raises(ZeroDivisionError), t.timer("work"):
        1 / 0  # noqa: B018
    p = t.percentiles("work")
    assert p["count"] == 2 and timer.elapsed >= 0.002 and p["max"] >= 0.002


def test_operations_beyond_the_cap_share_one_window() -> None:
    t = LatencyTracker(max_ops=3)
    for i in range(5):
        t.record(f"op{i}", 1.0)
    assert t.ops() == ["_other", "op0", "op1", "op2"]
    assert t.percentiles("_other")["count"] == 2


def test_custom_quantile_names() -> None:
    t = LatencyTracker(quantiles=(0.5, 0.9, 0.999))
    t.record("op", 1.0)
    assert {"p50", "p90", "p99.9"} <= set(t.percentiles("op"))
    _, _, samples = parse_prometheus(MetricsRegistry(t).to_prometheus())
    assert {labels for name, labels, _ in samples if name == "treerag_latency_seconds"} == {
        'op="op",quantile="0.5"', 'op="op",quantile="0.9"', 'op="op",quantile="0.999"'}


def test_concurrent_records_lose_nothing() -> None:
    t = LatencyTracker(window=64)

    def work() -> None:
        for _ in range(5_000):
            t.record("ping", 0.001)
        t.record_many("ping", [0.002] * 10)

    run_threads(work, n=6)
    p = t.percentiles("ping")
    assert p["count"] == 6 * 5_010
    assert p["sum"] == pytest.approx(6 * (5 + 0.02))


def test_bad_window() -> None:
    with pytest.raises(ValueError, match="window"):
        LatencyTracker(window=0)


# -- registry, JSON and Prometheus ----------------------------------------------------------


def make_registry() -> MetricsRegistry:
    r = MetricsRegistry()
    r.counter("requests.total", "Requests answered.").inc(7)
    r.counter("requests.errors", "Requests that failed.").inc(2)
    r.gauge("connections.open", "Open connections.").set(3)
    h = r.histogram("index.file_seconds", "Time to parse one file.")
    for v in (0.0001, 0.002, 0.002, 150.0):
        h.observe(v)
    r.latency.record("ping", 0.0002)
    r.latency.record_many("hook.PreToolUse", [0.001, 0.003])
    return r


def test_get_or_create() -> None:
    r = MetricsRegistry()
    assert r.counter("a.b") is r.counter("a.b")
    with pytest.raises(TypeError, match="is a Counter, not a Gauge"):
        r.gauge("a.b")
    with pytest.raises(ValueError, match="latency"):
        r.counter("latency.ping")


def test_export_is_json_ready() -> None:
    exported = make_registry().export()
    assert json.loads(json.dumps(exported)) == exported
    assert exported["requests.total"] == {"type": "counter", "help": "Requests answered.", "value": 7}
    assert exported["connections.open"]["value"] == 3
    assert exported["index.file_seconds"]["count"] == 4
    assert exported["latency.ping"]["type"] == "summary" and exported["latency.ping"]["count"] == 1
    assert exported["latency.hook.PreToolUse"]["p99"] == 0.003


@pytest.mark.parametrize(
    ("names", "prefix", "expected"),
    [
        pytest.param(None, None, {"requests.total", "requests.errors", "connections.open", "index.file_seconds",
                                  "latency.ping", "latency.hook.PreToolUse"}, id="all"),
        pytest.param(["requests.total"], None, {"requests.total"}, id="exact"),
        pytest.param(["requests.total", "latency.ping", "nope"], None, {"requests.total", "latency.ping"},
                     id="exact-several"),
        pytest.param(None, "requests.", {"requests.total", "requests.errors"}, id="prefix"),
        pytest.param(None, "latency.", {"latency.ping", "latency.hook.PreToolUse"}, id="prefix-latency"),
        pytest.param(["connections.open"], "requests.", {"connections.open", "requests.total", "requests.errors"},
                     id="names-or-prefix"),
        pytest.param([], None, set(), id="no-names"),
        pytest.param(None, "nothing.", set(), id="no-match"),
    ],
)
def test_export_filter(names: list[str] | None, prefix: str | None, expected: set[str]) -> None:
    assert set(make_registry().export(names=names, prefix=prefix)) == expected


SAMPLE_LINE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*)\})?'
    r" (?P<value>[-+]?(?:\d+(?:\.\d*)?(?:e[-+]?\d+)?|Inf|NaN))$"
)


def parse_prometheus(text: str) -> tuple[dict[str, str], dict[str, str], list[tuple[str, str, float]]]:
    """A strict little parser for the 0.0.4 text format: (HELP by name, TYPE by name, samples)."""
    helps: dict[str, str] = {}
    types: dict[str, str] = {}
    samples: list[tuple[str, str, float]] = []
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, doc = line[7:].partition(" ")
            helps[name] = doc
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert kind in {"counter", "gauge", "histogram", "summary", "untyped"}
            assert name not in types, f"duplicate TYPE for {name}"
            types[name] = kind
        else:
            m = SAMPLE_LINE.match(line)
            assert m, f"not a sample line: {line!r}"
            samples.append((m["name"], m["labels"] or "", float(m["value"])))
    return helps, types, samples


def test_prometheus_text() -> None:
    text = make_registry().to_prometheus()
    helps, types, samples = parse_prometheus(text)
    assert types == {
        "treerag_requests_total": "counter",
        "treerag_requests_errors_total": "counter",
        "treerag_connections_open": "gauge",
        "treerag_index_file_seconds": "histogram",
        "treerag_latency_seconds": "summary",
    }
    assert set(helps) == set(types) and helps["treerag_requests_total"] == "Requests answered."
    values = {(name, labels): v for name, labels, v in samples}
    assert values[("treerag_requests_total", "")] == 7
    assert values[("treerag_requests_errors_total", "")] == 2
    assert values[("treerag_connections_open", "")] == 3
    buckets = [(labels, v) for name, labels, v in samples if name == "treerag_index_file_seconds_bucket"]
    assert len(buckets) == len(HISTOGRAM_BOUNDS) + 1 and buckets[-1] == ('le="+Inf"', 4)
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative
    assert values[("treerag_index_file_seconds_bucket", 'le="0.0001"')] == 1
    assert values[("treerag_index_file_seconds_bucket", 'le="0.0032"')] == 3
    assert values[("treerag_index_file_seconds_count", "")] == 4
    assert values[("treerag_index_file_seconds_sum", "")] == pytest.approx(150.0041)
    assert values[("treerag_latency_seconds", 'op="ping",quantile="0.5"')] == 0.0002
    assert values[("treerag_latency_seconds", 'op="hook.PreToolUse",quantile="0.99"')] == 0.003
    assert values[("treerag_latency_seconds_count", 'op="hook.PreToolUse"')] == 2
    assert values[("treerag_latency_seconds_sum", 'op="hook.PreToolUse"')] == pytest.approx(0.004)
    # every sample belongs to a declared family
    families = set(types)
    for name, _, _ in samples:
        assert any(name == f or name.startswith(f + "_") for f in families), name


def test_prometheus_names_and_escaping() -> None:
    r = MetricsRegistry()
    r.counter("weird-name.ünïcode", "line one\nline two \\ end").inc()
    r.counter("already_total").inc()
    r.latency.record('say "hi"\\', 0.001)
    text = r.to_prometheus()
    helps, types, samples = parse_prometheus(text)
    assert "treerag_weird_name__n_code_total" in types
    assert "treerag_already_total" in types  # no _total_total
    assert helps["treerag_weird_name__n_code_total"] == r"line one\nline two \\ end"
    assert ("treerag_latency_seconds_count", r'op="say \"hi\"\\"', 1.0) in samples
    assert MetricsRegistry().to_prometheus() == ""
    assert metrics.prometheus_name("requests.total") == "treerag_requests_total"


# -- process statistics ---------------------------------------------------------------------


def vmrss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="compares with /proc")
def test_process_stats_for_this_process() -> None:
    first = process_stats()
    assert first["pid"] == os.getpid()
    assert first["rss_bytes"] == pytest.approx(vmrss(os.getpid()), rel=0.1)
    assert first["uss_bytes"] is None or 0 < first["uss_bytes"] <= first["rss_bytes"]
    assert first["num_threads"] >= threading.active_count()
    assert 0 < first["num_fds"] < 1000
    assert first["total_rss_bytes"] == first["rss_bytes"] + first["children_rss_bytes"]
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:  # burn CPU so the next reading has something to show
        pass
    second = process_stats()
    assert second["cpu_percent"] > 0  # 0.2 s of CPU since the first call (how much per wall second depends on load)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="compares with /proc")
def test_process_stats_counts_child_processes() -> None:
    code = "import sys; b = b'x' * 40_000_000; print('ready', flush=True); sys.stdin.read()"
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        stats = process_stats()
        assert stats["num_children"] >= 1
        assert stats["children_rss_bytes"] >= 40_000_000
        assert stats["total_rss_bytes"] == stats["rss_bytes"] + stats["children_rss_bytes"]
        alone = process_stats(children=False)
        assert alone["children_rss_bytes"] == 0 and alone["total_rss_bytes"] == alone["rss_bytes"]
        of_child = process_stats(child.pid)
        assert of_child["pid"] == child.pid and of_child["rss_bytes"] >= 40_000_000
        assert of_child["rss_bytes"] == pytest.approx(vmrss(child.pid), rel=0.1)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)
        assert child.stdout is not None
        child.stdout.close()
    after = process_stats()
    assert child.pid not in metrics_children()
    assert after["children_rss_bytes"] < stats["children_rss_bytes"]
    with pytest.raises(ProcessLookupError):
        process_stats(child.pid)


def metrics_children() -> set[int]:
    from treerag import procstats

    return set(procstats._children.get(os.getpid(), {}))


def test_modules_import_only_the_stdlib() -> None:
    code = (
        "import sys; before = set(sys.modules);"
        "import treerag.metrics, treerag.config, treerag.errors, treerag.paths, treerag.procstats;"
        "new = {m.split('.')[0] for m in set(sys.modules) - before};"
        "print(sorted(new - set(sys.stdlib_module_names) - {'treerag'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert out.stdout.strip() == "[]"
