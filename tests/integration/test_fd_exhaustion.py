"""A daemon that runs out of file descriptors keeps serving the connections it has, refuses new clients
with a clear ``out_of_resources`` error instead of leaving them hanging, and recovers as descriptors free up."""

from __future__ import annotations

import json
import resource
import socket

from tests.conftest import start_daemon_process, wait_for
from tests.integration.test_daemon_socket import raw_connect, read_line

FD_LIMIT = 48


def ask(conn: socket.socket, method: str, rid: int = 1) -> dict:
    conn.sendall(json.dumps({"id": rid, "method": method}).encode() + b"\n")
    return read_line(conn)


def test_out_of_descriptors_refuses_clearly_keeps_serving_and_recovers(short_dir):
    daemon = start_daemon_process(short_dir / "treerag.sock", env={"TREERAG_DAEMON_MAX_CONNECTIONS": "1000"})
    try:
        resource.prlimit(daemon.pid, resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))
        first = raw_connect(daemon.socket, timeout=10)
        assert ask(first, "ping")["result"] == "pong"
        held, refusal = [first], None
        for _ in range(FD_LIMIT + 10):
            conn = raw_connect(daemon.socket, timeout=10)
            reply = ask(conn, "ping")
            held.append(conn)
            if "error" in reply:
                refusal = reply
                break
        assert refusal is not None, "the daemon served more connections than it has descriptors"
        assert refusal["error"]["code"] == "out_of_resources" and "ulimit -n" in refusal["error"]["message"]

        assert ask(first, "ping", 2)["result"] == "pong"  # the open connections are still served
        status = ask(first, "status", 3)  # it reads /proc: a clear error or an answer, never "internal"
        assert "result" in status or status["error"]["code"] == "out_of_resources", status

        for conn in held[1:]:
            conn.close()
        again = raw_connect(daemon.socket, timeout=10)  # recovered: the next client is served
        assert ask(again, "ping")["result"] == "pong"
        again.close()
        first.close()
        assert wait_for(lambda: '"reason": "out_of_fds"' in daemon.log_text())
        assert "raise `ulimit -n`" in daemon.log_text()
    finally:
        daemon.stop()
