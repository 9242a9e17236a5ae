"""Write treerag as a Claude Code plugin directory, the alternative to editing settings files.

Layout (the hooks doc, "Plugin layout")::

    <dest>/.claude-plugin/plugin.json   {"name": "treerag", "version": ..., "description": ...}
    <dest>/hooks/hooks.json             {"hooks": build_hooks(command)}

The command goes into ``hooks.json`` exactly as given, so the hooks a plugin
runs are the ones ``treerag hooks install`` would write. Claude Code copies
an installed plugin into its own cache, so a plain absolute path (the
interpreter and ``.../treerag/hooks/run.py`` of this installation) keeps
working from there; elements that must follow the plugin instead may be
written relative to it as ``${CLAUDE_PLUGIN_ROOT}/...``, which Claude Code
expands in ``command`` and ``args`` when it runs the hook. No launcher script
sits in between: one less process on every prompt and tool call, and nothing
lands in the plugin's ``bin/`` (which Claude Code puts on the Bash tool's PATH).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import treerag
from treerag.hooks.install import InstallError, _atomic_write, build_hooks

__all__ = ["PLUGIN_DESCRIPTION", "PLUGIN_NAME", "write_plugin"]

PLUGIN_NAME = "treerag"
PLUGIN_DESCRIPTION = "Project overview and relevant files from treerag's local code index, as Claude Code context."


def write_plugin(dest: Path, command: list[str]) -> Path:
    """Write (or refresh) the plugin directory ``dest`` whose hooks run ``command``; returns ``dest``."""
    dest = Path(dest)
    manifest = {"name": PLUGIN_NAME, "version": treerag.__version__, "description": PLUGIN_DESCRIPTION}
    hooks = {"hooks": build_hooks(command)}
    _write_json(dest / ".claude-plugin" / "plugin.json", manifest)
    _write_json(dest / "hooks" / "hooks.json", hooks)
    return dest


def _write_json(path: Path, data: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InstallError(f"cannot create {path.parent}: {exc.strerror or exc}", path) from exc
    if path.is_dir():
        raise InstallError("is a directory, not a file", path)
    like = None
    with contextlib.suppress(FileNotFoundError):
        like = os.stat(path)
    _atomic_write(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode(), like, path)
