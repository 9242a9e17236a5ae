"""docs/COMMANDS.md is the parser's own rendering: this fails when they drift."""

from __future__ import annotations

from pathlib import Path

from treerag.cli import build_parser
from treerag.cli.reference import render_commands

DOC = Path(__file__).resolve().parents[2] / "docs" / "COMMANDS.md"


def test_commands_doc_matches_the_parser(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    expected = render_commands(build_parser())
    assert DOC.read_text() == expected, "docs/COMMANDS.md is stale: run `python -m treerag.cli.reference > docs/COMMANDS.md`"


def test_every_command_is_documented():
    text = DOC.read_text()
    for name in ("serve", "top", "ping", "status", "stop", "config show", "index", "projects", "remove", "tree",
                 "query", "context", "hook", "install-hooks", "uninstall-hooks", "plugin-dir", "evict", "queue", "doctor"):
        assert f"## `treerag {name}`" in text, name
