"""Parking through a real daemon: idle, it execs into a small waiter on the same socket and pid; the next
client wakes it, is answered, and nothing it counted is lost. SIGTERM, a second instance and work in
progress behave as they do unparked."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import DaemonProcess, start_daemon_process, wait_for
from tests.integration.test_index_daemon import PROJECT, make_project

REPO = Path(__file__).resolve().parents[2]
PARKED = REPO / "treerag" / "daemon" / "parked.py"
PARK_AFTER = {"TREERAG_RESOURCES_PARK_AFTER_S": "0.5"}


def cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode()


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def parked(daemon: DaemonProcess) -> bool:
    return "parked.py" in cmdline(daemon.pid)


@pytest.fixture
def parking_daemon(short_dir):
    daemon = start_daemon_process(short_dir / "treerag.sock", env=PARK_AFTER)
    try:
        yield daemon
    finally:
        daemon.stop()


def test_idle_daemon_parks_small_and_the_next_client_wakes_it(parking_daemon):
    daemon = parking_daemon
    assert daemon.call("ping") == "pong"
    assert wait_for(lambda: parked(daemon), timeout=10)
    assert rss_kb(daemon.pid) < 15 * 1024, rss_kb(daemon.pid)
    assert threads(daemon.pid) == 1
    assert daemon.socket.exists() and daemon.socket.with_suffix(".pid").read_text().strip() == str(daemon.pid)

    health = daemon.call("health")  # connects to the waiter; answered by the woken daemon
    assert health["pid"] == daemon.pid  # type: ignore[index]
    assert not parked(daemon)
    status = daemon.call("status")
    assert status["park"]["parks"] == 1 and status["park"]["after_s"] == 0.5  # type: ignore[index]
    assert status["server"]["connections_total"] == 3  # type: ignore[index]  # counted across the park
    assert status["server"]["requests"] == 2  # type: ignore[index]  # ping before, health after
    log = daemon.log_text()
    assert '"reason": "parked"' in log and '"reason": "unparked"' in log
    shown = subprocess.run([sys.executable, "-m", "treerag", "status", "--socket", str(daemon.socket)],
                           capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"parking\s+after 0s idle; parked (once|\d+ times), \d+s in all", shown.stdout), shown.stdout


def test_clients_arriving_together_at_a_parked_daemon_are_all_answered(parking_daemon):
    daemon = parking_daemon
    assert wait_for(lambda: parked(daemon), timeout=10)
    with ThreadPoolExecutor(20) as pool:  # all connect at once, to a waiter that accepts none of them itself
        answers = list(pool.map(lambda _: daemon.call("ping"), range(20), timeout=30))
    assert answers == ["pong"] * 20


def test_sigterm_while_parked_removes_socket_and_pid_file(parking_daemon):
    daemon = parking_daemon
    assert wait_for(lambda: parked(daemon), timeout=10)
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(10) == 0
    assert not daemon.socket.exists() and not daemon.socket.with_suffix(".pid").exists()
    assert "received SIGTERM while parked" in daemon.log_text()


def test_sigterm_while_waking_up_is_not_lost(parking_daemon):
    """Sent the moment the daemon's image replaces the waiter's, before it handles signals: still a clean stop."""
    daemon = parking_daemon
    assert wait_for(lambda: parked(daemon), timeout=10)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(str(daemon.socket))  # wakes it
    assert wait_for(lambda: "treerag.daemon" in cmdline(daemon.pid) and not parked(daemon), timeout=10,
                    interval=0.001)
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(20) == 0
    client.close()
    assert not daemon.socket.exists() and not daemon.socket.with_suffix(".pid").exists()


def test_a_second_daemon_is_refused_while_the_first_is_parked(parking_daemon):
    daemon = parking_daemon
    assert wait_for(lambda: parked(daemon), timeout=10)
    proc = subprocess.run([sys.executable, "-m", "treerag.daemon", "--socket", str(daemon.socket)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 4 and str(daemon.pid) in proc.stderr
    assert parked(daemon)  # the refused one never connected: the parked daemon slept on


def test_a_loaded_project_keeps_the_daemon_awake_until_it_is_evicted(parking_daemon, tmp_path):
    daemon = parking_daemon
    root = make_project(tmp_path / "shop", PROJECT)
    daemon.call("project.index", path=str(root))
    assert not wait_for(lambda: parked(daemon), timeout=2.0)
    daemon.call("queue.pause")
    daemon.call("project.evict", path=str(root))
    assert wait_for(lambda: parked(daemon), timeout=10)
    status = daemon.call("status")  # wakes it: the queue is still paused, the eviction still counted
    assert status["queue"]["paused"] is True  # type: ignore[index]
    assert status["index"]["evictions"] == 1  # type: ignore[index]
    files = daemon.call("query", path=str(root), text="discount", limit=3)["files"]  # type: ignore[index]
    assert files, "the evicted project reloads from its index after the wake-up"


def test_park_after_zero_never_parks(short_dir):
    daemon = start_daemon_process(short_dir / "treerag.sock", env={"TREERAG_RESOURCES_PARK_AFTER_S": "0"})
    try:
        assert not wait_for(lambda: parked(daemon), timeout=1.5)
        assert daemon.call("status")["park"]["after_s"] == 0  # type: ignore[index]
    finally:
        daemon.stop()


def test_a_bad_resume_variable_is_ignored_with_one_line(short_dir):
    daemon = start_daemon_process(short_dir / "treerag.sock", env={"TREERAG_RESUME": '{"listen_fd": 999}'})
    assert daemon.call("ping") == "pong"
    daemon.proc.terminate()
    _, err = daemon.proc.communicate(timeout=10)
    lines = err.decode().splitlines()
    assert len(lines) == 1 and "ignored TREERAG_RESUME" in lines[0] and "starting afresh" in lines[0]


def test_a_waiter_that_cannot_start_the_daemon_again_stops_and_clears_the_way(short_dir):
    """If the daemon cannot be exec'd back (its interpreter is gone), the next client must not hang on a
    socket nobody answers: the waiter removes the socket and pid file and exits 1."""
    sock_path, pid_path, log = short_dir / "t.sock", short_dir / "t.pid", short_dir / "t.log"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock_path))
    listener.listen(8)
    pid_path.write_text("0\n")
    proc = subprocess.Popen([sys.executable, "-S", "-I", str(PARKED), str(listener.fileno()), str(sock_path),
                             str(pid_path), str(log), "--", str(short_dir / "no-such-python")],
                            pass_fds=(listener.fileno(),))
    listener.close()
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(str(sock_path))
    assert proc.wait(10) == 1
    client.close()
    assert not sock_path.exists() and not pid_path.exists()
    record = json.loads(log.read_text().splitlines()[-1])
    assert record["level"] == "error" and "could not start the daemon again" in record["msg"]
