"""The index through a real daemon: build, list, tree, query, live updates, remove, crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import start_daemon_process, wait_for

PROJECT = {
    "pyproject.toml": '[project]\nname = "shop"\n[project.scripts]\nshop = "shop.cli:main"\n',
    "README.md": "# shop\n\nA tiny shop backend that prices carts and applies discounts.\n",
    "shop/__init__.py": '"""The shop package."""\n',
    "shop/cli.py": '"""Command line entry."""\nfrom shop.cart import Cart\n\ndef main():\n    """Run the shop."""\n    print(Cart().total())\n',
    "shop/cart.py": '"""Shopping cart."""\nfrom shop.pricing import price_of\n\nclass Cart:\n    """Items a customer wants to buy."""\n\n    def __init__(self):\n        self.items = []\n\n    def total(self):\n        """Sum of item prices after discounts."""\n        return sum(price_of(i) for i in self.items)\n',
    "shop/pricing.py": '"""Prices and discounts."""\n\nDISCOUNT_RATE = 0.1\n\ndef price_of(item):\n    """The price of one item with the seasonal discount applied."""\n    return item.price * (1 - DISCOUNT_RATE)\n',
    "tests/test_cart.py": 'from shop.cart import Cart\n\ndef test_total():\n    assert Cart().total() == 0\n',
    ".gitignore": "build/\n*.log\n",
    "build/generated.py": "def ignored_function():\n    pass\n",
    "debug.log": "noise\n",
    ".env": "API_KEY=sk-live-123456789012345678901234\n",
}


def make_project(root: Path, files: dict[str, str] = PROJECT) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def treerag(*args: str, sock: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    extra = ["--socket", str(sock)] if sock else []
    return subprocess.run([sys.executable, "-m", "treerag", *args, *extra], capture_output=True, text=True,
                          timeout=timeout)


def query(sock: Path, root: Path, text: str, limit: int = 5) -> list[str]:
    out = treerag("query", str(root), text, "--json", "--limit", str(limit), sock=sock)
    assert out.returncode == 0, out.stderr
    return [f["path"] for f in json.loads(out.stdout)["files"]]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "shop")


def test_index_list_tree_query_remove(running_daemon, project):
    sock = running_daemon.socket
    out = treerag("index", str(project), "--json", sock=sock)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["files"] == 8  # .gitignore itself is indexed; .gitignore'd build/ and *.log, and the .env secret, are not indexed
    assert report["languages"]["python"] == 5

    projects = json.loads(treerag("projects", "--json", sock=sock).stdout)
    assert [p["root"] for p in projects] == [str(project)]
    assert projects[0]["state"] == "loaded" and projects[0]["symbols"] >= 6

    tree = json.loads(treerag("tree", str(project), "--symbols", "--json", sock=sock).stdout)
    paths = {n["path"] for n in tree["tree"]}
    assert {"shop", "shop/cart.py", "tests/test_cart.py"} <= paths
    assert not any(p.startswith("build") or p.endswith((".log", ".env")) for p in paths)
    cart = next(n for n in tree["tree"] if n["path"] == "shop/cart.py")
    assert {"name": "Cart.total", "kind": "method", "line": 10} in [
        {k: s[k] for k in ("name", "kind", "line")} for s in cart["symbols"]]

    result = json.loads(treerag("query", str(project), "discount price", "--json", "--limit", "3", sock=sock).stdout)
    assert result["files"][0]["path"] == "shop/pricing.py"
    assert result["files"][0]["score"] == 1.0
    assert any(s["name"] == "price_of" for s in result["files"][0]["symbols"])

    text = treerag("tree", str(project), "--depth", "0", sock=sock).stdout
    assert "shop/" in text and "cart.py" not in text

    assert treerag("remove", str(project), sock=sock).returncode == 0
    assert json.loads(treerag("projects", "--json", sock=sock).stdout) == []


def test_index_without_daemon_writes_the_same_index(project, short_dir):
    out = treerag("index", str(project), "--json", sock=short_dir / "absent.sock")
    assert out.returncode == 0, out.stderr
    local = json.loads(out.stdout)
    # the one-shot process did not load what it built; the next one loads it on first use
    found = treerag("query", str(project), "shopping cart", "--json", sock=short_dir / "absent.sock")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["files"][0]["path"] == "shop/cart.py"
    daemon = start_daemon_process(short_dir / "treerag.sock")
    try:
        projects = json.loads(treerag("projects", "--json", sock=daemon.socket).stdout)
        assert projects[0]["root"] == str(project) and projects[0]["files"] == local["files"]
        assert query(daemon.socket, project, "shopping cart")[0] == "shop/cart.py"
        again = json.loads(treerag("index", str(project), "--json", sock=daemon.socket).stdout)
        assert again["parsed"] == 0 and again["unchanged"] == local["files"]  # nothing re-parsed
    finally:
        daemon.stop()



def _stderr_on_a_terminal(*args: str) -> tuple[subprocess.CompletedProcess[bytes], bytes]:
    """Run treerag with its stderr on a pseudo-terminal; (the run, what the terminal showed)."""
    import pty

    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "treerag", *args], stdout=subprocess.PIPE, stderr=terminal)
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        stdout, _ = proc.communicate(timeout=60)
    finally:
        os.close(controller)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, b""), shown


@pytest.mark.parametrize("mode", ["daemon", "in-process"])
def test_index_shows_progress_on_a_terminal_only(project, short_dir, mode):
    daemon = start_daemon_process(short_dir / "treerag.sock") if mode == "daemon" else None
    sock = daemon.socket if daemon else short_dir / "absent.sock"
    try:
        run, shown = _stderr_on_a_terminal("index", str(project), "--socket", str(sock))
        assert run.returncode == 0, shown
        assert b"Indexed " in run.stdout
        assert b"parse  [" in shown and b"write  [" in shown  # the bar, phase by phase
        assert shown.endswith(b"\r" + b" " * 60 + b"\r")  # and wiped before the summary line
        piped = treerag("index", str(project), sock=sock)  # not a terminal: no bar
        assert piped.returncode == 0 and "[" not in piped.stderr
    finally:
        if daemon:
            daemon.stop()

def test_live_updates_edit_add_delete_rename(running_daemon, project):
    sock = running_daemon.socket
    assert treerag("index", str(project), sock=sock).returncode == 0

    def visible(text: str, path: str) -> bool:
        return path in query(sock, project, text)

    (project / "shop" / "shipping.py").write_text('def shipping_cost_by_weight(kg):\n    """Courier fee."""\n    return kg * 2\n')
    started = time.monotonic()
    assert wait_for(lambda: visible("shipping cost by weight", "shop/shipping.py"), timeout=5)
    assert time.monotonic() - started < 2.0

    (project / "shop" / "pricing.py").write_text('def loyalty_points_multiplier():\n    return 3\n')
    assert wait_for(lambda: visible("loyalty points multiplier", "shop/pricing.py"), timeout=5)

    os.rename(project / "shop" / "shipping.py", project / "shop" / "delivery.py")
    assert wait_for(lambda: visible("shipping cost by weight", "shop/delivery.py"), timeout=5)
    assert "shop/shipping.py" not in query(sock, project, "shipping cost by weight")

    (project / "shop" / "delivery.py").unlink()
    assert wait_for(lambda: not visible("shipping cost by weight", "shop/delivery.py"), timeout=5)

    status = running_daemon.call("status")
    assert status["index"]["updates"] >= 3


def test_burst_of_files_all_indexed(running_daemon, project):
    sock = running_daemon.socket
    assert treerag("index", str(project), sock=sock).returncode == 0
    burst = project / "burst"
    burst.mkdir()
    for i in range(20_000):
        (burst / f"mod_{i}.py").write_text(f"def burst_function_{i}():\n    return {i}\n")

    def count() -> int:
        projects = running_daemon.call("project.list")["projects"]
        return projects[0]["files"]

    assert wait_for(lambda: count() == 20_008, timeout=90, interval=0.5), count()
    assert query(sock, project, "burst_function_19999")[0] == "burst/mod_19999.py"


def test_kill_during_indexing_leaves_a_consistent_index(project, short_dir):
    for i in range(3000):
        (project / "shop" / f"gen_{i}.py").write_text(f"def generated_{i}(x):\n    return x + {i}\n" * 5)
    daemon = start_daemon_process(short_dir / "treerag.sock")
    proc = subprocess.Popen([sys.executable, "-m", "treerag", "index", str(project), "--socket", str(daemon.socket)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.6)
    daemon.proc.send_signal(signal.SIGKILL)  # the worker dies with it (PR_SET_PDEATHSIG)
    daemon.stop()
    proc.wait(30)
    restarted = start_daemon_process(short_dir / "treerag.sock")
    try:
        out = treerag("index", str(project), "--json", sock=restarted.socket, timeout=120)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["files"] == 3008
        assert query(restarted.socket, project, "generated_2999")[0] == "shop/gen_2999.py"
    finally:
        restarted.stop()


def test_corrupt_index_is_rebuilt(running_daemon, project, isolated_env):
    sock = running_daemon.socket
    assert treerag("index", str(project), sock=sock).returncode == 0
    running_daemon.call("project.evict", path=str(project))
    db = next((isolated_env / ".cache" / "treerag" / "projects").glob("*/index.sqlite"))
    db.write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    out = treerag("index", str(project), "--json", sock=sock)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["files"] == 8
    assert list(db.parent.glob("index.sqlite.corrupt-*"))
    assert query(sock, project, "discount")[0] == "shop/pricing.py"
    assert "unusable" in running_daemon.log_text() or "moved it" in running_daemon.log_text()
