"""Dashboard logic without a screen: ring buffer, history, formats, sorting, filtering, confirmations."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from tests.tui.scripted import NOW, enrich_record, metrics_sample, project_record, two_projects
from treerag.tui.format import fmt_ago, fmt_bytes, fmt_count, fmt_duration, fmt_ms, fmt_percent, short_path
from treerag.tui.history import HISTORY, MetricsHistory, RingBuffer, backlog, latency_p99, pick_latency_ops
from treerag.tui.projects import (
    COLUMN_KEYS,
    filter_projects,
    next_column,
    project_cells,
    sort_projects,
    state_label,
    visible_projects,
)
from treerag.tui.widgets.enrich import OFFLINE, enrich_lines

# -- ring buffer and history ------------------------------------------------------------------


def test_ring_buffer_keeps_the_newest_values_in_order() -> None:
    ring = RingBuffer(3)
    for value in range(5):
        ring.append(value)
    assert ring.values() == [2.0, 3.0, 4.0]
    assert (ring.last, ring.minimum, ring.maximum, len(ring)) == (4.0, 2.0, 4.0, 3)


def test_empty_ring_buffer_has_no_stats() -> None:
    ring = RingBuffer(4)
    assert (ring.last, ring.minimum, ring.maximum, ring.values()) == (None, None, None, [])


def test_ring_buffer_rejects_zero_capacity() -> None:
    with pytest.raises(ValueError):
        RingBuffer(0)


def test_history_holds_ten_minutes_by_default() -> None:
    history = MetricsHistory()
    for i in range(HISTORY + 25):
        history.add(metrics_sample(i))
    assert HISTORY >= 600
    assert len(history.rss_bytes) == HISTORY
    assert len(history.latency["hook"]) == HISTORY


def test_history_extracts_each_series_from_a_sample() -> None:
    history = MetricsHistory()
    sample = metrics_sample(0)
    history.add(sample)
    assert history.rss_bytes.last == sample["process"]["total_rss_bytes"]
    assert history.cpu_percent.last == sample["process"]["cpu_percent"]
    assert history.hit_rate.last == pytest.approx(sample["cache"]["hit_rate"])
    assert history.backlog.last == sample["enrich"]["backlog"]
    assert history.latency["ping"].last == pytest.approx(sample["latency"]["ping"]["p99"])


def test_backlog_reads_enrich_backlog_else_the_queue_pending_count() -> None:
    assert backlog(metrics_sample(0, pending=40)) == 120
    assert backlog(metrics_sample(0, pending=40, enrich=False)) == 40
    assert backlog({}) == 0


def _plain(enrich: dict[str, Any] | None) -> str:
    return "\n".join(line.plain for line in enrich_lines(enrich))


def test_enrich_lines_show_provider_backlog_outcomes_spend_and_breaker() -> None:
    text = _plain(enrich_record(0, breaker="half-open", last_error="HTTP 429: rate limited\n retry later"))
    for part in ("openai-compatible · gpt-4o-mini", "backlog 120  p100 4 p50 30 p1 86", "done 840", "failed 3",
                 "cached 1,200", "skipped 15", "requests 96", "tokens 182,000", "left this hour 404 req · 818,000 tok",
                 "half-open", "p50 640 ms", "p99 2350 ms", "last error HTTP 429: rate limited retry later"):
        assert part in text, part
    assert "PAUSED" in _plain(enrich_record(0, paused=True))


@pytest.mark.parametrize("enrich", [pytest.param(None, id="absent"), pytest.param({}, id="empty")])
def test_enrich_lines_without_an_enrich_map_say_local_offline(enrich: dict[str, Any] | None) -> None:
    assert _plain(enrich) == OFFLINE == "local summaries (offline)"


def test_enrich_lines_tolerate_missing_keys_and_unlimited_budgets() -> None:
    text = _plain({"provider": "ollama"})
    assert "ollama" in text and "backlog 0" in text and "∞ req · ∞ tok" in text and "breaker —" in text


def test_history_tolerates_a_sparse_sample() -> None:
    history = MetricsHistory()
    history.add({"process": {"rss_bytes": 10, "children_rss_bytes": 5}, "cache": {"hits": 3, "misses": 1}})
    assert history.rss_bytes.last == 15
    assert history.hit_rate.last == 0.75
    assert history.latency == {}


@pytest.mark.parametrize(
    ("latency", "op", "expected"),
    [
        pytest.param({"hook": {"p99": 0.002}}, "hook", 0.002, id="exact"),
        pytest.param(
            {"hook.UserPromptSubmit": {"p99": 0.003}, "hook.SessionStart": {"p99": 0.001}}, "hook", 0.003, id="worst-of-group"
        ),
        pytest.param({"ping": {"p99": 0.1}}, "query", None, id="absent"),
    ],
)
def test_latency_p99(latency: dict[str, dict[str, float]], op: str, expected: float | None) -> None:
    assert latency_p99(latency, op) == expected


def test_latency_ops_prefer_hook_context_query_ping_then_the_busiest() -> None:
    assert pick_latency_ops(["ping", "status", "hook"], 4, {"status": 9}) == ["hook", "ping", "status"]
    assert pick_latency_ops(["a", "b", "c"], 2, {"b": 5, "c": 9}) == ["c", "b"]


def test_history_groups_per_event_hook_latencies() -> None:
    history = MetricsHistory()
    history.add({"latency": {"hook.UserPromptSubmit": {"count": 3, "p99": 0.004}, "hook.Stop": {"count": 1, "p99": 0.001}}})
    assert list(history.latency) == ["hook"]
    assert history.latency["hook"].last == 0.004


# -- formats ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(512, "512 B", id="bytes"),
        pytest.param(1536, "1.5 KB", id="kb"),
        pytest.param(42 * 1024 * 1024, "42.0 MB", id="mb"),
        pytest.param(None, "—", id="missing"),
    ],
)
def test_fmt_bytes(value: float | None, expected: str) -> None:
    assert fmt_bytes(value) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        pytest.param(59, "59s", id="seconds"),
        pytest.param(61, "1m01s", id="minutes"),
        pytest.param(3725, "1h02m", id="hours"),
        pytest.param(90000, "1d01h", id="days"),
    ],
)
def test_fmt_duration(seconds: float, expected: str) -> None:
    assert fmt_duration(seconds) == expected


@pytest.mark.parametrize(
    ("ago", "expected"),
    [
        pytest.param(0.2, "just now", id="now"),
        pytest.param(12, "12s ago", id="seconds"),
        pytest.param(700, "11m ago", id="minutes"),
        pytest.param(7300, "2h ago", id="hours"),
        pytest.param(200000, "2d ago", id="days"),
    ],
)
def test_fmt_ago(ago: float, expected: str) -> None:
    assert fmt_ago(NOW - ago, NOW) == expected


def test_fmt_ago_never() -> None:
    assert fmt_ago(None, NOW) == "never"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        pytest.param(0.00021, "210 µs", id="micro"),
        pytest.param(0.0025, "2.50 ms", id="milli"),
        pytest.param(0.25, "250 ms", id="hundreds"),
        pytest.param(1.5, "1.50 s", id="seconds"),
    ],
)
def test_fmt_ms(seconds: float, expected: str) -> None:
    assert fmt_ms(seconds) == expected


def test_fmt_percent_and_count() -> None:
    assert fmt_percent(0.934) == "93.4%"
    assert fmt_count(1234) == "1,234"
    assert fmt_count(2_500_000) == "2.5M"


def test_short_path_abbreviates_home_and_keeps_the_tail() -> None:
    assert short_path("/home/dev/src/x", home="/home/dev") == "~/src/x"
    assert short_path("/home/devil/x", home="/home/dev") == "/home/devil/x"
    long = "/srv/" + "a" * 60 + "/project"
    shortened = short_path(long, width=20, home="/home/dev")
    assert len(shortened) == 20 and shortened.startswith("…") and shortened.endswith("/project")


# -- sorting and filtering ------------------------------------------------------------------


def _roots(records: list[dict[str, object]]) -> list[object]:
    return [r["root"] for r in records]


def test_filter_matches_name_or_root_case_insensitively() -> None:
    records = [project_record("Alpha"), project_record("beta", root="/srv/ALPHAVILLE"), project_record("gamma")]
    assert _roots(filter_projects(records, "alpha")) == ["/home/dev/src/Alpha", "/srv/ALPHAVILLE"]
    assert len(filter_projects(records, "  ")) == 3


@pytest.mark.parametrize(
    ("column", "reverse", "expected"),
    [
        pytest.param("name", False, ["a", "b", "c"], id="name"),
        pytest.param("files", True, ["c", "a", "b"], id="files-desc"),
        pytest.param("last_used", True, ["b", "c", "a"], id="recent-first"),
        pytest.param("hit_rate", False, ["a", "b", "c"], id="hit-rate"),
    ],
)
def test_sort_projects(column: str, reverse: bool, expected: list[str]) -> None:
    records = [
        project_record("b", files=10, last_used_ago=1, hits=5, misses=5),
        project_record("c", files=99, last_used_ago=50, hits=9, misses=1),
        project_record("a", files=20, last_used_ago=None, hits=0, misses=0),
    ]
    assert [r["name"] for r in sort_projects(records, column, reverse)] == expected


def test_sort_is_stable_by_root_for_ties() -> None:
    records = [project_record("x", root="/b", files=1), project_record("x", root="/a", files=1)]
    assert _roots(sort_projects(records, "files")) == ["/a", "/b"]
    assert _roots(sort_projects(list(reversed(records)), "files")) == ["/a", "/b"]


def test_visible_projects_filters_then_sorts() -> None:
    records = [project_record("beta2"), project_record("alpha"), project_record("beta1")]
    assert [r["name"] for r in visible_projects(records, "beta", "name")] == ["beta1", "beta2"]


def test_next_column_cycles_through_every_column() -> None:
    seen = ["name"]
    for _ in COLUMN_KEYS:
        seen.append(next_column(seen[-1]))
    assert seen[-1] == "name" and set(seen) == set(COLUMN_KEYS)


def test_state_label_shows_indexing_progress() -> None:
    assert state_label(project_record("a", state="indexing", progress={"done": 21, "total": 50})) == "indexing 42%"
    assert state_label(project_record("a", state="indexing"), {"done": 1, "total": 4}) == "indexing 25%"
    assert state_label(project_record("a", state="evicted")) == "evicted"


def test_project_cells() -> None:
    alpha, _beta = two_projects()
    cells = project_cells(alpha, NOW, 50 * 1024 * 1024)
    assert cells[0] == "● alpha"
    assert cells[2:5] == ("340", "2,900", "loaded")
    assert cells[5] == "12.5 MB (25%)"
    assert cells[6:] == ("5s ago", "120", "91.7%")


# -- confirmations capture their target --------------------------------------------------------


def test_evict_confirmation_captures_the_root_not_a_row() -> None:
    from treerag.tui.screens.confirm import Confirmation

    records = two_projects()
    confirmation = Confirmation.evict(str(records[1]["root"]), "beta")
    records.reverse()  # the table reorders under the cursor
    records.pop()
    assert confirmation.method == "project.evict"
    assert confirmation.target == "/home/dev/src/beta"
    assert dict(confirmation.params) == {"path": "/home/dev/src/beta"}


def test_confirmation_params_are_read_only_copies() -> None:
    from treerag.tui.screens.confirm import Confirmation

    params = {"path": "/a"}
    confirmation = Confirmation("t", "p", "Go", "project.evict", params, target="/a")
    params["path"] = "/b"
    assert confirmation.params["path"] == "/a"
    with pytest.raises(TypeError):
        confirmation.params["path"] = "/c"  # type: ignore[index]


# -- public surface and import hygiene ------------------------------------------------------


def test_public_surface() -> None:
    import treerag.tui

    assert treerag.tui.__all__ == ["create_app"]


def test_importing_the_package_does_not_import_textual() -> None:
    code = "import sys, treerag.tui; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_cli_module_does_not_import_textual() -> None:
    code = "import sys, treerag.cli.commands_top; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
