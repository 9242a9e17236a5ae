"""Logging setup: text on stderr in the foreground, rotated JSON lines when detached.

Every module logs through ``logging.getLogger(__name__)`` under ``treerag.``.
Structured fields travel in ``extra={...}``; the JSON formatter writes every
non-standard record attribute as a field, so a log line can be filtered by
project, method or reason without parsing prose. ``LogTap`` forwards records
to the daemon's ``log`` subscription topic while somebody listens.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["JsonFormatter", "LogTap", "RotatingFile", "setup_logging"]

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
LOG_MAX_BYTES = 5 * 1024 * 1024
LOG_BACKUPS = 3


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured view of a record, shared by the JSON file and the log topic."""
    fields: dict[str, Any] = {
        "ts": round(record.created, 3),
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    for key, value in record.__dict__.items():
        if key not in _STANDARD and not key.startswith("_"):
            fields[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
    if record.exc_info and record.exc_info[0] is not None:
        fields["exc"] = logging.Formatter().formatException(record.exc_info)
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(record_fields(record), ensure_ascii=False)


class RotatingFile(logging.Handler):
    """A size-rotated log file (``treerag.log``, ``.1`` … ``.N``), without ``logging.handlers``' imports."""

    def __init__(self, path: Path, max_bytes: int = LOG_MAX_BYTES, backups: int = LOG_BACKUPS) -> None:
        super().__init__()
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - held for the handler's life

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
            if self._fh.tell() + len(line) > self.max_bytes:
                self._rotate()
            self._fh.write(line)
            self._fh.flush()
        except Exception:
            self.handleError(record)

    def _rotate(self) -> None:
        self._fh.close()
        for i in range(self.backups - 1, 0, -1):
            src = self.path.with_name(f"{self.path.name}.{i}")
            if src.exists():
                os.replace(src, self.path.with_name(f"{self.path.name}.{i + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def close(self) -> None:
        self._fh.close()
        super().close()


class LogTap(logging.Handler):
    """Hands each record to ``sink`` (the broadcaster) when ``wanted()`` says someone listens."""

    def __init__(self, sink: Callable[[dict[str, Any]], object], wanted: Callable[[], bool]) -> None:
        super().__init__(logging.INFO)
        self._sink = sink
        self._wanted = wanted

    def emit(self, record: logging.LogRecord) -> None:
        if self._wanted():
            try:
                self._sink(record_fields(record))
            except Exception:
                self.handleError(record)


def setup_logging(level: str = "info", log_file: Path | None = None) -> logging.Logger:
    """Configure the ``treerag`` logger: JSON lines to ``log_file`` when given, else text on stderr."""
    root = logging.getLogger("treerag")
    root.setLevel(level.upper())
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    handler: logging.Handler
    if log_file is not None:
        handler = RotatingFile(log_file)
        handler.setFormatter(JsonFormatter())
    else:
        handler = logging.StreamHandler(sys.stderr)
        formatter = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        formatter.converter = time.localtime
        handler.setFormatter(formatter)
    root.addHandler(handler)
    root.propagate = False
    return root
