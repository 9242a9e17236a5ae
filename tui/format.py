"""Short human formats for the dashboard: sizes, durations, ages, latencies, ratios.

Pure functions, no Textual: the widgets call them and the unit tests pin them.
Every formatter accepts ``None`` (a field the daemon did not send) and shows a dash.
"""

from __future__ import annotations

import os

__all__ = ["DASH", "fmt_ago", "fmt_bytes", "fmt_count", "fmt_duration", "fmt_ms", "fmt_percent", "short_path"]

DASH = "—"


def fmt_bytes(n: float | None) -> str:
    """``1536`` → ``"1.5 KB"``; binary units, one decimal above bytes."""
    if n is None:
        return DASH
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(value) < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover - the loop always returns


def fmt_duration(seconds: float | None) -> str:
    """``3725`` → ``"1h02m"``: two units at most, the larger first."""
    if seconds is None:
        return DASH
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    minutes, s = divmod(s, 60)
    if minutes < 60:
        return f"{minutes}m{s:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def fmt_ago(then: float | None, now: float) -> str:
    """How long ago ``then`` was, coarsely (``"12s ago"``, ``"3m ago"``); ``"never"`` for None."""
    if not then:
        return "never"
    delta = now - then
    if delta < 1:
        return "just now"
    if delta < 60:
        return f"{int(delta)}s ago"
    if delta < 3600:
        return f"{int(delta // 60)}m ago"
    if delta < 86400:
        return f"{int(delta // 3600)}h ago"
    return f"{int(delta // 86400)}d ago"


def fmt_ms(seconds: float | None) -> str:
    """A latency given in seconds, shown in the unit that keeps three digits."""
    if seconds is None:
        return DASH
    ms = seconds * 1000
    if ms < 1:
        return f"{ms * 1000:.0f} µs"
    if ms < 100:
        return f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{seconds:.2f} s"


def fmt_percent(ratio: float | None, digits: int = 1) -> str:
    """``0.934`` → ``"93.4%"``."""
    if ratio is None:
        return DASH
    return f"{ratio * 100:.{digits}f}%"


def fmt_count(n: float | None) -> str:
    """``1234`` → ``"1,234"``; ``1_234_567`` → ``"1.2M"``."""
    if n is None:
        return DASH
    if abs(n) >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    return f"{int(n):,}"


def short_path(path: str, width: int = 40, home: str | None = None) -> str:
    """The home directory as ``~``, then the tail of the path if it is still wider than ``width``."""
    home = os.path.expanduser("~") if home is None else home
    if home and home != "/" and (path == home or path.startswith(home.rstrip("/") + "/")):
        path = "~" + path[len(home.rstrip("/")) :]
    if len(path) > width:
        path = "…" + path[-(width - 1) :]
    return path
