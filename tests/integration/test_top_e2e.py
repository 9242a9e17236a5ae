"""End to end: the real ``treerag top`` in a tmux pseudo-terminal against a real daemon process.

Index a small project, see the header and the row, open the help, pause the queue through a
key and check over the socket that the daemon paused, stop the daemon (the dashboard says
disconnected), start it again (it reconnects by itself), quit with ``q`` and exit code 0.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

TREERAG = [sys.executable, "-m", "treerag"]


class Tmux:
    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.name, *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p")

    def keys(self, *keys: str) -> None:
        self.run("send-keys", *keys)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if predicate(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"screen never matched:\n{text}")
            time.sleep(0.1)  # polling a terminal: there is no event to wait on


@pytest.fixture
def env(short_dir: Path) -> dict[str, str]:
    run = short_dir / "run"
    run.mkdir(mode=0o700)
    return {**os.environ, "XDG_RUNTIME_DIR": str(run)}


@pytest.fixture
def tmux(short_dir: Path) -> Iterator[Tmux]:
    t = Tmux(f"treerag-e2e-{os.getpid()}")
    try:
        yield t
    finally:
        subprocess.run(["tmux", "-L", t.name, "kill-server"], capture_output=True, timeout=10)


def treerag(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([*TREERAG, *args], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_top_against_a_real_daemon(env: dict[str, str], tmux: Tmux, short_dir: Path, tmp_path: Path) -> None:
    project = tmp_path / "demo"
    project.mkdir()
    (project / "app.py").write_text("def main():\n    return 1\n\nif __name__ == '__main__':\n    main()\n")
    treerag(env, "serve", "--headless", "--detach")
    try:
        treerag(env, "index", str(project))
        pid = treerag(env, "status", "--json")
        rc = short_dir / "rc"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k.startswith(("XDG_", "HOME", "PATH")))
        command = f"env {exports} {shlex.join([*TREERAG, 'top'])}; echo $? > {shlex.quote(str(rc))}; sleep 30"
        tmux.run("new-session", "-d", "-x", "120", "-y", "40", command)
        screen = tmux.wait_for(lambda s: "connected" in s and "demo" in s)
        assert "treerag" in screen and "pid " in screen and "0.1.0" in screen and "pid" in pid

        tmux.keys("?")
        tmux.wait_for(lambda s: "to close" in s and "Sort" in s)
        tmux.keys("q")  # closes the help (a bare Escape followed by p would read as alt+p)
        tmux.wait_for(lambda s: "to close" not in s)
        tmux.keys("p")
        tmux.wait_for(lambda s: "PAUSED" in s)
        assert "PAUSED" in treerag(env, "queue")

        treerag(env, "stop")
        tmux.wait_for(lambda s: "disconnected" in s or "not running" in s)
        treerag(env, "serve", "--headless", "--detach")
        tmux.wait_for(lambda s: "● connected" in s, timeout=15)

        tmux.keys("q")
        deadline = time.monotonic() + 10
        while not rc.exists() or not rc.read_text().strip():
            assert time.monotonic() < deadline, tmux.screen()
            time.sleep(0.1)
        assert rc.read_text().strip() == "0"
    finally:
        subprocess.run([*TREERAG, "stop"], env=env, capture_output=True, timeout=30)


def test_serve_without_headless_shows_the_dashboard_and_leaves_the_daemon_running(
    env: dict[str, str], tmux: Tmux, short_dir: Path
) -> None:
    out = short_dir / "out"
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k.startswith(("XDG_", "HOME", "PATH")))
    command = (f"env {exports} {shlex.join([*TREERAG, 'serve'])} > /dev/tty; echo rc=$? > {shlex.quote(str(out))}; "
               "sleep 30")
    tmux.run("new-session", "-d", "-x", "120", "-y", "40", command)
    try:
        tmux.wait_for(lambda s: "● connected" in s and "pid " in s, timeout=20)
        tmux.keys("q")
        screen = tmux.wait_for(lambda s: "keeps running" in s)
        assert "treerag stop" in screen
        deadline = time.monotonic() + 10
        while not out.exists() or not out.read_text().strip():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert out.read_text().strip() == "rc=0"
        assert "pong" in treerag(env, "ping").lower() or treerag(env, "ping")
    finally:
        subprocess.run([*TREERAG, "stop"], env=env, capture_output=True, timeout=30)
