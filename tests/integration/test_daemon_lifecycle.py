"""Start, stop, single instance, stale sockets, signals, detaching — through the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import start_daemon_process, wait_for


def treerag(*args: str, env: dict[str, str] | None = None, timeout: float = 30, stdin: str | None = None):
    return subprocess.run(
        [sys.executable, "-m", "treerag", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        input=stdin,
    )


def test_sigterm_shuts_down_cleanly(running_daemon):
    sock, pidfile = running_daemon.socket, running_daemon.socket.with_suffix(".pid")
    assert sock.exists() and pidfile.exists()
    running_daemon.proc.send_signal(signal.SIGTERM)
    assert running_daemon.proc.wait(10) == 0
    assert not sock.exists() and not pidfile.exists()


def test_sigint_shuts_down_cleanly(running_daemon):
    running_daemon.proc.send_signal(signal.SIGINT)
    assert running_daemon.proc.wait(10) == 0
    assert not running_daemon.socket.exists()


def test_second_instance_refuses(running_daemon):
    proc = subprocess.run(
        [sys.executable, "-m", "treerag.daemon", "--socket", str(running_daemon.socket)],
        capture_output=True, text=True, timeout=20,
    )
    assert proc.returncode == 4
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "already running" in lines[0] and str(running_daemon.pid) in lines[0]
    assert running_daemon.call("ping") == "pong"


def test_stale_socket_is_replaced(short_dir):
    first = start_daemon_process(short_dir / "treerag.sock")
    first.proc.kill()  # SIGKILL: no cleanup, the socket file stays
    first.stop()
    assert first.socket.exists()
    second = start_daemon_process(short_dir / "treerag.sock")
    try:
        assert second.call("ping") == "pong"
        assert "stale socket" in second.log_text()
    finally:
        second.stop()


def test_foreign_file_at_socket_path_is_a_clear_error(short_dir):
    path = short_dir / "treerag.sock"
    path.write_text("not a socket")
    proc = subprocess.run(
        [sys.executable, "-m", "treerag.daemon", "--socket", str(path)], capture_output=True, text=True, timeout=20
    )
    assert proc.returncode == 1
    assert "is not a socket" in proc.stderr and "Traceback" not in proc.stderr
    assert path.read_text() == "not a socket"  # nothing lost


def test_shutdown_method(running_daemon):
    assert running_daemon.call("shutdown")["stopping"] is True
    assert running_daemon.proc.wait(10) == 0
    assert not running_daemon.socket.exists()


def test_cli_against_running_daemon(running_daemon):
    sock = str(running_daemon.socket)
    ping = treerag("ping", "--socket", sock)
    assert ping.returncode == 0 and ping.stdout.startswith("pong in ")
    status = treerag("status", "--socket", sock)
    assert status.returncode == 0
    assert "uptime" in status.stdout and str(running_daemon.pid) in status.stdout
    as_json = json.loads(treerag("status", "--json", "--socket", sock).stdout)
    assert as_json["pid"] == running_daemon.pid
    stop = treerag("stop", "--socket", sock)
    assert stop.returncode == 0 and "stopped" in stop.stdout
    assert running_daemon.proc.wait(10) == 0


@pytest.mark.parametrize("command", [["ping"], ["status"], ["status", "--json"], ["stop"]])
def test_cli_without_daemon_fails_with_one_line(short_dir, command):
    result = treerag(*command, "--socket", str(short_dir / "none.sock"))
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "not running" in lines[0]
    assert result.stdout == ""


def test_config_show_names_sources(tmp_path, isolated_env):
    config_dir = isolated_env / ".config" / "treerag"
    config_dir.mkdir(parents=True)
    (config_dir / "config.toml").write_text("[resources]\nmemory_limit_mb = 80\n")
    result = treerag("config", "show", "--json", env={"TREERAG_RESOURCES_IDLE_EVICT_MINUTES": "5"})
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["resources.memory_limit_mb"]["value"] == 80
    assert shown["resources.memory_limit_mb"]["source"].startswith("file:")
    assert shown["resources.idle_evict_minutes"] == {"value": 5, "source": "env:TREERAG_RESOURCES_IDLE_EVICT_MINUTES"}
    assert shown["daemon.read_timeout_s"]["source"] == "default"


def test_config_unknown_key_is_one_clear_line(isolated_env):
    config_dir = isolated_env / ".config" / "treerag"
    config_dir.mkdir(parents=True)
    (config_dir / "config.toml").write_text("[resources]\nmemory_limt_mb = 80\n")
    result = treerag("config", "show")
    assert result.returncode == 1
    line = result.stderr.strip()
    assert "\n" not in line and "memory_limt_mb" in line and "memory_limit_mb" in line and "config.toml" in line


def test_serve_detach_logs_json_and_stops(short_dir, isolated_env):
    sock = str(short_dir / "treerag.sock")
    started = treerag("serve", "--headless", "--detach", "--socket", sock)
    assert started.returncode == 0, started.stderr
    assert "started" in started.stdout
    try:
        again = treerag("serve", "--headless", "--detach", "--socket", sock)
        assert again.returncode == 4 and "already running" in again.stderr
        assert treerag("ping", "--socket", sock).returncode == 0
    finally:
        assert treerag("stop", "--socket", sock).returncode == 0
    log = isolated_env / ".local" / "state" / "treerag" / "treerag.log"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert any("listening" in r["msg"] for r in records)
    assert all({"ts", "level", "logger", "msg"} <= set(r) for r in records)


def test_serve_headless_foreground_logs_text(short_dir):
    sock = short_dir / "treerag.sock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "treerag", "serve", "--headless", "--socket", str(sock)],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    try:
        assert wait_for(lambda: sock.exists(), timeout=15)
        assert wait_for(lambda: _ping(sock), timeout=5)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "listening on" in err and not err.lstrip().startswith("{")


def _ping(sock: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(1)
            s.connect(str(sock))
            s.sendall(b'{"method":"ping"}\n')
            return b"pong" in s.recv(100)
    except OSError:
        return False


@pytest.mark.skipif(shutil.which("nc") is None, reason="netcat-openbsd is not installed")
def test_netcat_gets_a_json_line(running_daemon):
    out = subprocess.run(
        ["nc", "-N", "-U", str(running_daemon.socket)], input=b'{"id":1,"method":"ping"}\n',
        capture_output=True, timeout=10,
    )
    assert json.loads(out.stdout) == {"id": 1, "result": "pong"}


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed")
def test_socat_gets_a_json_line(running_daemon):
    out = subprocess.run(
        ["socat", "-", f"UNIX-CONNECT:{running_daemon.socket}"], input=b'{"id":7,"method":"health"}\n',
        capture_output=True, timeout=10,
    )
    reply = json.loads(out.stdout)
    assert reply["id"] == 7 and reply["result"]["ok"] is True
