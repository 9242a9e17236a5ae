"""`treerag doctor` on a healthy setup and on each broken one it must explain."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def doctor(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):  # type: ignore[no-untyped-def]
    return subprocess.run([sys.executable, "-m", "treerag", "doctor", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})}, cwd=cwd)


def lines(out: str) -> dict[str, str]:
    return {line[5:]: line[:4].strip() for line in out.splitlines() if line[:4].strip() in ("OK", "WARN", "FAIL")}


def test_healthy_setup(running_daemon, tmp_path):
    sock = str(running_daemon.socket)
    install = subprocess.run([sys.executable, "-m", "treerag", "install-hooks", "--socket", sock],
                             capture_output=True, text=True, timeout=30)
    assert install.returncode == 0, install.stderr
    out = doctor("--socket", sock, "--project", str(tmp_path))
    assert out.returncode == 0, out.stdout
    assert "FAIL" not in out.stdout
    assert any(m.startswith("daemon 0.1.0 reachable") and level == "OK" for m, level in lines(out.stdout).items())
    assert any(m.startswith("Claude Code hooks installed (user") for m in lines(out.stdout))


def test_no_daemon(short_dir):
    out = doctor("--socket", str(short_dir / "none.sock"))
    assert out.returncode == 1
    assert any(level == "FAIL" and m.startswith("daemon not reachable") for m, level in lines(out.stdout).items())
    assert "fix: treerag serve --headless --detach" in out.stdout
    assert "Claude Code hooks are not installed" in out.stdout


def test_broken_socket_directory(short_dir):
    bad = short_dir / "sockdir"
    bad.write_text("a file where the socket directory should be")
    out = doctor("--socket", str(bad / "treerag.sock"))
    assert out.returncode == 1
    assert f"FAIL socket directory {bad} is not a directory" in out.stdout
    open_dir = short_dir / "open"
    open_dir.mkdir(mode=0o777)
    os.chmod(open_dir, 0o777)
    out = doctor("--socket", str(open_dir / "treerag.sock"))
    assert f"WARN socket directory {open_dir} has mode 777, not 700" in out.stdout
    assert f"fix: chmod 700 {open_dir}" in out.stdout


def test_invalid_config(isolated_env):
    config = isolated_env / ".config" / "treerag" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[resources]\nmemory_limit_mb = 'lots'\n")
    out = doctor()
    assert out.returncode == 1
    first = out.stdout.splitlines()[0]
    assert first.startswith("FAIL config invalid:") and "memory_limit_mb" in first
    assert f"fix: edit {config}" in out.stdout
