"""Helpers shared by the CLI commands: config loading, connecting, tables, units."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from typing import Any

from treerag.client import Client, connect

__all__ = ["add_socket_option", "format_bytes", "format_duration", "load", "open_client", "print_table"]


def add_socket_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--socket", metavar="PATH", help="daemon socket (default: from config)")


def load(args: argparse.Namespace) -> Any:
    """Resolve the configuration once for this command, with its flags taking precedence."""
    from treerag.config import load_config

    flags: dict[str, object] = {}
    if getattr(args, "socket", None):
        flags["daemon.socket_path"] = args.socket
    return load_config(flags=flags)


def open_client(config: Any, timeout: float = 30.0) -> Client:
    from treerag.config import socket_path

    return connect(socket_path(config), timeout=timeout)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, header: bool = True) -> None:
    text_rows = [[str(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    if header:
        print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in text_rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def format_duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{s:02d}s"
    hours, m = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{m:02d}m"
    days, h = divmod(hours, 24)
    return f"{days}d{h:02d}h"
