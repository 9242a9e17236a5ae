"""The daemon side of Claude Code hooks: one payload in, one hook output (or nothing) out.

Shared by the ``hook`` socket method (command hooks) and the HTTP endpoint.
Never returns ``permissionDecision`` or anything else that decides for the
user; only ``hookSpecificOutput.additionalContext``. Paths in payloads are
resolved and must lie inside a registered project root, or nothing is said.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from treerag.errors import DiskFull, PathOutsideProject, ProjectNotFound, TreeragError

if TYPE_CHECKING:
    from treerag.context.service import ContextService
    from treerag.runtime.projects import ProjectEntry, ProjectManager
    from treerag.runtime.taskqueue import TaskQueue

__all__ = ["CLAUDE_EVENT_NAMES", "HookHandler", "is_trivial_prompt"]

logger = logging.getLogger(__name__)

CLAUDE_EVENT_NAMES = {
    "session-start": "SessionStart",
    "prompt": "UserPromptSubmit",
    "pre-tool": "PreToolUse",
    "post-edit": "PostToolUse",
    "subagent-start": "SubagentStart",
    "session-end": "SessionEnd",
}
_SYSTEM_PROMPT = re.compile(r"^\s*<(task-notification|system-reminder|command-name|command-message|"
                            r"local-command-stdout|user-prompt-submit-hook|bash-input|bash-stdout)\b")
PRIORITY_UPDATE = 90  # an edit Claude just made: visible before the next prompt
PRIORITY_FIRST_INDEX = 50
UNINDEXED_LOGGED_MAX = 256  # directories remembered so that each is logged once
_READ_TOOLS = frozenset({"Read", "NotebookRead"})
_SEARCH_TOOLS = frozenset({"Grep", "Glob"})


def is_trivial_prompt(prompt: str) -> bool:
    """System-injected prompts and one-word acknowledgements get no context."""
    if _SYSTEM_PROMPT.match(prompt) or prompt.lstrip().startswith("/"):
        return True
    words = re.findall(r"\w+", prompt)
    return len(prompt.strip()) < 12 or len(words) < 2


def _output(event: str, text: str) -> dict[str, Any]:
    if not text:
        return {}
    return {"hookSpecificOutput": {"hookEventName": CLAUDE_EVENT_NAMES[event], "additionalContext": text}}


class HookHandler:
    def __init__(self, manager: ProjectManager, context: ContextService, queue: TaskQueue) -> None:
        self.manager = manager
        self.context = context
        self.queue = queue
        self.refused = 0
        self.skipped = 0
        self._unindexed_logged: set[str] = set()

    def _project(self, payload: dict[str, Any]) -> ProjectEntry | None:
        for key in ("cwd", "project_dir"):
            value = payload.get(key)
            if isinstance(value, str) and value:
                entry = self.manager.find(value)
                if entry is not None:
                    return entry
        return None

    async def handle(self, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        if event not in CLAUDE_EVENT_NAMES:
            raise TreeragError(f"unknown hook event {event!r}")
        if not isinstance(payload, dict):
            return {}
        entry = self._project(payload)
        try:
            if event == "session-start":
                return await self._session_start(entry, payload)
            if entry is None or entry.db_path is None:
                self._log_unindexed(event, payload)
                return {}
            if event == "prompt":
                prompt = payload.get("prompt")
                if not isinstance(prompt, str) or is_trivial_prompt(prompt):
                    self.skipped += 1
                    return {}
                text, _ = await self.context.prompt(entry, prompt)
                return _output(event, text)
            if event == "subagent-start":
                return _output(event, await self.context.session(entry, compact=True))
            if event == "pre-tool":
                rel = self._tool_path(entry, payload)
                return _output(event, await self.context.file(entry, rel)) if rel else {}
            if event == "post-edit":
                rel = self._tool_path(entry, payload)
                if rel and entry.loaded is not None:
                    self.queue.submit("update", PRIORITY_UPDATE, lambda: self._reindex(entry, rel), label=rel)
                return {}
            return {}  # session-end: nothing to add
        except ProjectNotFound:
            return {}

    def _log_unindexed(self, event: str, payload: dict[str, Any]) -> None:
        """Once per directory (a bounded set): hooks from there get nothing, and why."""
        cwd = payload.get("cwd") or payload.get("project_dir")
        if event == "session-end" or not isinstance(cwd, str) or not cwd or cwd in self._unindexed_logged:
            return
        if len(self._unindexed_logged) >= UNINDEXED_LOGGED_MAX:
            self._unindexed_logged.clear()
        self._unindexed_logged.add(cwd)
        logger.info("hook %s in %s: no indexed project contains it; `treerag index %s` indexes it", event, cwd[:300],
                    cwd[:300], extra={"path": cwd[:300], "reason": "not_indexed"})

    async def _session_start(self, entry: ProjectEntry | None, payload: dict[str, Any]) -> dict[str, Any]:
        if entry is None or not entry.db_path.exists():
            cwd = payload.get("project_dir") or payload.get("cwd")
            root = self.manager.guess_root(Path(cwd)) if isinstance(cwd, str) and cwd else None
            if root is None:
                return {}
            entry = self.manager.entry_for_root(root, create=True)
            if entry.state != "indexing":
                self.queue.submit("index", PRIORITY_FIRST_INDEX, lambda: self._index_quietly(entry),
                                  label=str(root))
            return _output("session-start", f"[treerag: indexing {root} in the background for the first time; "
                                            "project context will be added to prompts once it is ready]")
        compact = payload.get("source") in ("compact", "resume")
        return _output("session-start", await self.context.session(entry, compact=compact))

    def _tool_path(self, entry: ProjectEntry, payload: dict[str, Any]) -> str | None:
        tool_input = payload.get("tool_input")
        if not isinstance(tool_input, dict):
            return None
        raw = tool_input.get("file_path") or tool_input.get("notebook_path")
        if not raw and payload.get("tool_name") in _SEARCH_TOOLS:
            raw = tool_input.get("path")
        if not isinstance(raw, str) or not raw:
            return None
        try:
            rel = self.manager.resolve_inside(entry, raw)
        except PathOutsideProject:
            self.refused += 1
            logger.info("hook asked about a path outside %s; refused", entry.root, extra={"path": raw[:200]})
            return None
        loaded = entry.loaded
        if loaded is not None and rel not in loaded.index_of_path:
            return None
        return rel

    async def _index_quietly(self, entry: ProjectEntry) -> None:
        try:
            await self.manager.index(entry, requested=False)
        except TreeragError as exc:
            logger.warning("background index of %s failed: %s", entry.root, exc)

    async def _reindex(self, entry: ProjectEntry, rel: str) -> None:
        try:
            await self.manager.index(entry, [rel], requested=False)
        except DiskFull:
            pass  # the manager logged it once
        except TreeragError as exc:
            logger.warning("re-index of %s in %s failed: %s", rel, entry.root, exc)

    def statistics(self) -> dict[str, int]:
        return {"refused": self.refused, "skipped": self.skipped}
