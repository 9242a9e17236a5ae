"""What may leave the machine: allow/deny globs, secret files never sent, secret-looking lines redacted.

Globs use gitignore-style ``**`` semantics (pathspec) against the
project-relative POSIX path. A file is sent only when an ``allow`` glob
matches, no ``deny`` glob matches and it does not look secret by name
(:func:`treerag.index.secrets.is_secret_path`) or content
(:func:`treerag.index.secrets.looks_like_secret_content`). Inside an allowed
file, any line that looks like key material is replaced by ``[redacted]``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pathspec import GitIgnoreSpec

from treerag.index.secrets import is_secret_path, looks_like_secret_content

if TYPE_CHECKING:
    from treerag.config import EnrichConfig

__all__ = ["REDACTED", "Privacy", "describe"]

logger = logging.getLogger(__name__)

REDACTED = "[redacted]"
_PEM_BEGIN = "-----BEGIN"
_PEM_END = "-----END"


class Privacy:
    def __init__(self, config: EnrichConfig) -> None:
        self.allow = tuple(config.allow)
        self.deny = tuple(config.deny)
        self._allow = GitIgnoreSpec.from_lines(self.allow)
        self._deny = GitIgnoreSpec.from_lines(self.deny)

    def may_send(self, path: str) -> bool:
        """Whether the file at ``path`` (project-relative) may be sent at all, by its name."""
        path = path.lstrip("/")
        return bool(
            self._allow.match_file(path) and not self._deny.match_file(path) and not is_secret_path(path)
        )

    def is_secret(self, path: str, text: str) -> bool:
        return is_secret_path(path.lstrip("/")) or looks_like_secret_content(text.encode("utf-8", "replace"))

    def redact(self, text: str) -> str:
        """``text`` with every secret-looking line (and whole PEM blocks) replaced by ``[redacted]``."""
        out: list[str] = []
        in_pem = False
        for line in text.splitlines(keepends=True):
            end = "\n" if line.endswith("\n") else ""
            if in_pem or _PEM_BEGIN in line and "PRIVATE KEY" in line:
                in_pem = _PEM_END not in line
                out.append(REDACTED + end)
            elif looks_like_secret_content(line.encode("utf-8", "replace")):
                out.append(REDACTED + end)
            else:
                out.append(line)
        return "".join(out)

    def excerpt(self, path: str, text: str) -> str | None:
        """What may be sent of this file: None when nothing may, else ``text`` with secrets redacted."""
        if not self.may_send(path):
            return None
        return self.redact(text)


def describe(config: EnrichConfig, project: str, paths: Iterable[str]) -> str:
    """The one log line for the first remote use per project."""
    privacy = Privacy(config)
    count = sum(1 for p in paths if privacy.may_send(p))
    deny = ", ".join(privacy.deny) or "none"
    return (
        f"enrich: first use of {config.provider} model {config.model} at {config.base_url or 'https://api.openai.com/v1'} "
        f"for project {project}: will send excerpts of {count} files (allow {', '.join(privacy.allow)}, deny {deny}); "
        "secrets and denied files are never sent"
    )
