"""Local summaries through a real daemon: `treerag tree --symbols` prints them."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_index_daemon import make_project, treerag


def test_tree_symbols_shows_summaries(running_daemon, tmp_path: Path) -> None:
    project = make_project(tmp_path / "shop")
    sock = running_daemon.socket
    out = treerag("index", str(project), "--json", sock=sock)
    assert out.returncode == 0, out.stderr
    out = treerag("tree", str(project), "--symbols", sock=sock)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(line.strip() == "cart.py — Shopping cart." for line in lines), out.stdout
    assert any("method Cart.total  L10 — Sum of item prices after discounts." in line for line in lines), out.stdout
    assert any(line.strip().startswith("test_cart.py — Defines function test_total; imports") for line in lines), out.stdout
