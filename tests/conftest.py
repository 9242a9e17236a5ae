"""Shared fixtures: an isolated environment per test and a factory for real daemon processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No test sees the developer's config, state, cache or TREERAG_* variables."""
    for key in list(os.environ):
        if key.startswith("TREERAG_") or key in ("CLAUDE_PROJECT_DIR",):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    # a daemon that parks mid-test would change what fds/threads/RSS tests see; test_parking.py turns it on
    monkeypatch.setenv("TREERAG_RESOURCES_PARK_AFTER_S", "0")
    return home


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short directory for Unix sockets (AF_UNIX paths are limited to 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="tr-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class DaemonProcess:
    """A real ``python -m treerag.daemon`` process listening on ``socket``."""

    socket: Path
    proc: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def client(self, timeout: float = 10.0):  # type: ignore[no-untyped-def]
        from treerag.client import connect

        return connect(self.socket, timeout=timeout)

    def call(self, method: str, **params: object) -> object:
        with self.client() as client:
            return client.call(method, **params)

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate(timeout=timeout)
        return self.proc.returncode

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def start_daemon_process(
    socket: Path, env: dict[str, str] | None = None, extra_args: list[str] | None = None, ready_timeout: float = 20.0
) -> DaemonProcess:
    """Start a daemon and wait for its readiness report on a pipe (no polling of the socket)."""
    log = socket.parent / "daemon.log"
    read_fd, write_fd = os.pipe()
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "treerag.daemon", "--socket", str(socket), "--log-file", str(log),
         "--ready-fd", str(write_fd), *(extra_args or [])],
        pass_fds=(write_fd,),
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.close(write_fd)
    import select

    ready, _, _ = select.select([read_fd], [], [], ready_timeout)
    answer = os.read(read_fd, 4096).decode() if ready else ""
    os.close(read_fd)
    if answer.strip() != "ok":
        proc.kill()
        _, err = proc.communicate(timeout=5)
        raise RuntimeError(f"daemon did not start: {answer!r} {err.decode()[-2000:]} {log.read_text() if log.exists() else ''}")
    return DaemonProcess(socket=socket, proc=proc, log=log, env=full_env)


@pytest.fixture
def running_daemon(short_dir: Path) -> Iterator[DaemonProcess]:
    daemon = start_daemon_process(short_dir / "treerag.sock")
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def daemon_factory(short_dir: Path) -> Iterator[object]:
    started: list[DaemonProcess] = []

    def make(name: str = "treerag.sock", **kwargs: object) -> DaemonProcess:
        d = start_daemon_process(short_dir / name, **kwargs)  # type: ignore[arg-type]
        started.append(d)
        return d

    try:
        yield make
    finally:
        for d in started:
            d.stop()


def wait_for(predicate, timeout: float = 5.0, interval: float = 0.02):  # type: ignore[no-untyped-def]
    """Wait for an external process to reach a state we cannot be notified of."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


@pytest.fixture
def fake_openai():  # type: ignore[no-untyped-def]
    """A real local OpenAI-compatible HTTP server with scripted replies (tests/fakes/openai_server.py)."""
    from tests.fakes.openai_server import running_fake_openai

    with running_fake_openai() as api:
        yield api
