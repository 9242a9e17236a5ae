"""Packaging and import hygiene: what installs, what the daemon and CLI import."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "treerag").rglob("__init__.py")}
    found |= {"treerag.tui" + "".join("." + part for part in p.parent.relative_to(REPO / "tui").parts)
              for p in (REPO / "tui").rglob("__init__.py")}
    assert found == listed


def test_dashboard_is_not_a_top_level_module():
    code = "import importlib.util, sys; print(importlib.util.find_spec('tui') is None)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=30)
    assert out.stdout.strip() == "True"
    import treerag.tui  # noqa: F401  # installed inside the distribution


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd="/")
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


HEAVY = {"textual", "rich", "tree_sitter", "tree_sitter_python", "pathspec", "watchfiles", "torch",
         "sentence_transformers", "numpy"}


def test_daemon_start_imports_no_ui_parser_or_model_library():
    loaded = _modules_after(
        "from treerag.daemon.bootstrap import build_daemon\n"
        "d = build_daemon({'daemon.socket_path': '/tmp/never-used.sock'})\n"
        "import treerag.daemon.server, treerag.daemon.app"
    )
    assert not {m.split(".")[0] for m in loaded} & HEAVY


def test_cli_parser_does_not_import_textual():
    loaded = _modules_after("from treerag.cli import build_parser\nbuild_parser()")
    assert "textual" not in {m.split(".")[0] for m in loaded}
