"""The daemon over its real socket: both framings, bad input, limits, concurrency, resources."""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time
from pathlib import Path

import msgpack
import pytest

from treerag.errors import MethodNotFound, InvalidParams


def raw_connect(path: Path, timeout: float = 5.0) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(path))
    return s


def read_line(s: socket.socket) -> dict:
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return json.loads(buf)


def read_frame(s: socket.socket) -> dict:
    head = b""
    while len(head) < 4:
        chunk = s.recv(4 - len(head))
        if not chunk:
            raise EOFError
        head += chunk
    (size,) = struct.unpack(">I", head)
    body = b""
    while len(body) < size:
        body += s.recv(size - len(body))
    return msgpack.unpackb(body)


def frame(obj: object) -> bytes:
    body = msgpack.packb(obj)
    return struct.pack(">I", len(body)) + body


def closed_or_error(s: socket.socket) -> str:
    """What the server did after bad input: 'closed', or the error code it replied with."""
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    if not data:
        return "closed"
    if data[:1] == b"{":
        return json.loads(data.split(b"\n")[0])["error"]["code"]
    size = struct.unpack(">I", data[:4])[0]
    return msgpack.unpackb(data[4 : 4 + size])["error"]["code"]


def test_json_lines_ping(running_daemon):
    with raw_connect(running_daemon.socket) as s:
        s.sendall(b'{"id":1,"method":"ping"}\n')
        assert read_line(s) == {"id": 1, "result": "pong"}
        s.sendall(b'{"method":"ping"}\n')  # the id is optional for shell use
        assert read_line(s) == {"id": None, "result": "pong"}


def test_msgpack_ping_and_pipelining(running_daemon):
    with raw_connect(running_daemon.socket) as s:
        s.sendall(b"".join(frame({"id": i, "method": "ping", "params": {}}) for i in range(1, 51)))
        replies = [read_frame(s) for _ in range(50)]
    assert [r["id"] for r in replies] == list(range(1, 51))
    assert all(r["result"] == "pong" for r in replies)


def test_client_methods(running_daemon):
    with running_daemon.client() as client:
        health = client.call("health")
        assert health["ok"] is True and health["pid"] == running_daemon.pid
        status = client.call("status")
        assert {"ping", "health", "status", "metrics", "subscribe", "shutdown"} <= set(status["methods"])
        assert status["process"]["rss_bytes"] > 0
        metrics = client.call("metrics", prefix="nothing.")
        assert metrics["registry"] == {} or all(k.startswith("nothing.") for k in metrics["registry"])
        with pytest.raises(MethodNotFound):
            client.call("no.such.method")
        with pytest.raises(InvalidParams):
            client.call("subscribe", topics="metrics")
        assert client.call("ping") == "pong"  # the connection survived both errors


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(b"\x00\x00\x00\x05\xc1\xc1\xc1\xc1\xc1", {"protocol", "closed"}, id="garbage-msgpack-body"),
        pytest.param(b"\x80\x00\x00\x00", {"frame_too_large", "closed"}, id="2GiB-length-prefix"),
        pytest.param(b"{not json}\n", {"protocol", "closed"}, id="malformed-json-line"),
        pytest.param(b'[1, 2, 3]\n', {"invalid_params"}, id="json-array-not-map"),
        pytest.param(b'{"id": "x", "method": "ping"}\n', {"invalid_params"}, id="string-id"),
        pytest.param(b'{"id": 1, "method": 42}\n', {"invalid_params"}, id="method-not-string"),
        pytest.param(b'{"id": 1, "method": "ping", "params": [1]}\n', {"invalid_params"}, id="params-not-map"),
        pytest.param(b'{"id": 1, "method": "nope"}\n', {"method_not_found"}, id="unknown-method"),
        pytest.param(frame([1, 2]), {"invalid_params"}, id="msgpack-list"),
        pytest.param(frame({"id": 1, "method": None}), {"invalid_params"}, id="msgpack-wrong-types"),
    ],
)
def test_bad_input_gets_error_or_close_and_daemon_survives(running_daemon, payload, expected):
    with raw_connect(running_daemon.socket, timeout=3) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        assert closed_or_error(s) in expected
    assert running_daemon.call("ping") == "pong"


def test_line_over_limit_is_refused(running_daemon):
    with raw_connect(running_daemon.socket) as s:
        try:
            s.sendall(b'{"id":1,"method":"ping","params":{"x":"' + b"a" * (2 << 20))
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert closed_or_error(s) in {"frame_too_large", "closed"}
    assert running_daemon.call("ping") == "pong"


def test_truncated_frame_then_silence_is_closed(short_dir, daemon_factory):
    daemon = daemon_factory(env={"TREERAG_DAEMON_READ_TIMEOUT_S": "0.5"})
    with raw_connect(daemon.socket) as s:
        s.sendall(b"\x00\x00\x01\x00abc")  # says 256 bytes, sends 3, then nothing
        started = time.monotonic()
        assert closed_or_error(s) == "closed"
        assert time.monotonic() - started < 3
    assert daemon.call("ping") == "pong"


def test_hundred_concurrent_clients(running_daemon):
    errors: list[BaseException] = []
    answered = []

    def worker() -> None:
        try:
            with running_daemon.client() as client:
                for _ in range(100):
                    assert client.call("ping") == "pong"
                answered.append(100)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sum(answered) == 10_000
    health = running_daemon.call("health")
    assert health["ok"]
    status = running_daemon.call("status")
    assert status["server"]["errors"] == 0


def test_thousand_pings_leave_fds_and_threads_flat(running_daemon):
    import psutil

    proc = psutil.Process(running_daemon.pid)
    running_daemon.call("ping")
    fds_before, threads_before = proc.num_fds(), proc.num_threads()
    for _ in range(1000):
        with running_daemon.client() as client:
            client.call("ping")
    time.sleep(0.2)  # let the last connection handlers finish closing
    assert proc.num_fds() <= fds_before + 1
    assert proc.num_threads() <= threads_before
    assert proc.num_fds() < 50 and proc.num_threads() < 10


def test_subscribe_pushes_metrics_once_a_second(running_daemon):
    with running_daemon.client() as client:
        assert client.call("subscribe", topics=["metrics"]) == {"topics": ["metrics"]}
        first = client.next_event()
        second = client.next_event()
    assert first.event == "metrics" and second.event == "metrics"
    assert 0.5 < second.data["time"] - first.data["time"] < 2.0
    assert second.data["process"]["rss_bytes"] > 0


def test_subscriber_stays_connected_past_read_timeout(daemon_factory):
    daemon = daemon_factory(env={"TREERAG_DAEMON_READ_TIMEOUT_S": "0.5"})
    with daemon.client() as client:
        client.call("subscribe", topics=["metrics"])
        for _ in range(2):
            assert client.next_event().event == "metrics"
        assert client.call("ping") == "pong"


def test_socket_and_directory_are_private(running_daemon):
    assert (running_daemon.socket.stat().st_mode & 0o777) == 0o600
    assert (running_daemon.socket.parent.stat().st_mode & 0o777) == 0o700


@pytest.mark.skipif(os.getuid() != 0, reason="dropping to another uid needs root")
def test_other_uid_is_refused(running_daemon):
    import pwd

    nobody = pwd.getpwnam("nobody")
    # the socket dir is 0700: the refused client must reach the socket, so open the dir for this test
    os.chmod(running_daemon.socket.parent, 0o711)
    os.chmod(running_daemon.socket, 0o666)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: become nobody, try to ping, report what happened
        try:
            os.close(read_fd)
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            s = raw_connect(running_daemon.socket)
            result = closed_or_error(s)  # the daemon answers the peer check before any request
            os.write(write_fd, result.encode())
        except BaseException as exc:  # report, never fall back into pytest
            os.write(write_fd, f"child-error {exc!r}".encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    os.waitpid(pid, 0)
    result = os.read(read_fd, 4096).decode()
    os.close(read_fd)
    assert result == "permission_denied"
    status = running_daemon.call("status")
    assert status["server"]["refused"] == 1
