"""The projects table's logic: columns, filtering, sorting and cell text, without Textual.

Rows are identified by the project root everywhere (a table reorders under the
cursor; an index would point at another project a second later). The widget in
``widgets/projects.py`` renders what these functions return.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .format import DASH, fmt_ago, fmt_bytes, fmt_count, fmt_percent, short_path

__all__ = [
    "COLUMNS",
    "Column",
    "filter_projects",
    "hit_rate",
    "matches",
    "project_cells",
    "sort_projects",
    "state_label",
    "visible_projects",
]

Record = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    sort_key: Callable[[Record], Any]
    numeric: bool = False


def hit_rate(record: Record) -> float | None:
    hits, misses = record.get("hits") or 0, record.get("misses") or 0
    return hits / (hits + misses) if hits + misses else None


def _progress_ratio(record: Record) -> float:
    progress = record.get("progress") or {}
    total = progress.get("total") or 0
    return (progress.get("done") or 0) / total if total else 0.0


_STATE_ORDER = {"indexing": 0, "loaded": 1, "new": 2, "evicted": 3, "error": 4}

COLUMNS: tuple[Column, ...] = (
    Column("name", "Name", lambda r: str(r.get("name") or "").lower()),
    Column("root", "Root", lambda r: str(r.get("root") or "")),
    Column("files", "Files", lambda r: r.get("files") or 0, numeric=True),
    Column("symbols", "Symbols", lambda r: r.get("symbols") or 0, numeric=True),
    Column("state", "State", lambda r: (_STATE_ORDER.get(str(r.get("state")), 9), -_progress_ratio(r))),
    Column("memory", "Memory", lambda r: r.get("memory_bytes") or 0, numeric=True),
    Column("last_used", "Last used", lambda r: r.get("last_used") or 0.0, numeric=True),
    Column("requests", "Requests", lambda r: r.get("requests") or 0, numeric=True),
    Column("hit_rate", "Hit rate", lambda r: hit_rate(r) or -1.0, numeric=True),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)
_BY_KEY = {c.key: c for c in COLUMNS}


def matches(record: Record, text: str) -> bool:
    """Case-insensitive substring match on the name or the root; an empty filter matches all."""
    needle = text.strip().lower()
    if not needle:
        return True
    return needle in str(record.get("name") or "").lower() or needle in str(record.get("root") or "").lower()


def filter_projects(records: Iterable[Record], text: str) -> list[Record]:
    return [r for r in records if matches(r, text)]


def sort_projects(records: Iterable[Record], column: str, reverse: bool = False) -> list[Record]:
    """Sorted by ``column``, ties broken by root so the order is stable from one sample to the next."""
    spec = _BY_KEY.get(column, COLUMNS[0])
    by_root = sorted(records, key=lambda r: str(r.get("root") or ""))
    return sorted(by_root, key=spec.sort_key, reverse=reverse)


def visible_projects(records: Iterable[Record], text: str, column: str, reverse: bool = False) -> list[Record]:
    return sort_projects(filter_projects(records, text), column, reverse)


def state_label(record: Record, progress_event: Record | None = None) -> str:
    """``loaded`` / ``evicted`` / ``indexing 42%`` (from the record, else from the latest progress event)."""
    state = str(record.get("state") or "?")
    if state != "indexing":
        return state
    progress = record.get("progress") or progress_event or {}
    total = progress.get("total") or 0
    if total:
        return f"indexing {100 * (progress.get('done') or 0) // total}%"
    return "indexing"


def project_cells(
    record: Record, now: float, total_bytes: float | None, progress_event: Record | None = None
) -> tuple[str, ...]:
    """The row's cells in ``COLUMNS`` order, as plain strings."""
    memory = record.get("memory_bytes")
    share = ""
    if memory is not None and total_bytes:
        share = f" ({memory / total_bytes:.0%})"
    rate = hit_rate(record)
    marker = "● " if record.get("current") else "  "
    return (
        marker + str(record.get("name") or DASH),
        short_path(str(record.get("root") or "")),
        fmt_count(record.get("files")),
        fmt_count(record.get("symbols")),
        state_label(record, progress_event),
        fmt_bytes(memory) + share if memory is not None else DASH,
        fmt_ago(record.get("last_used"), now),
        fmt_count(record.get("requests")),
        fmt_percent(rate) if rate is not None else DASH,
    )


def column_index(key: str) -> int:
    return COLUMN_KEYS.index(key) if key in COLUMN_KEYS else 0


def next_column(key: str, columns: Sequence[str] = COLUMN_KEYS) -> str:
    """The sort column after ``key``, wrapping around."""
    return columns[(columns.index(key) + 1) % len(columns)] if key in columns else columns[0]
