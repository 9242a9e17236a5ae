"""The HTTP endpoint through a real daemon process with ``--http``, over real TCP on a free loopback port."""

from __future__ import annotations

import http.client
import json
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import DaemonProcess, start_daemon_process
from treerag.daemon.http import BODY_LIMIT, HEAD_LIMIT, read_token, token_path

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpDaemon:
    daemon: DaemonProcess
    port: int
    token: str

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token if token is None else token}"}

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                conn: http.client.HTTPConnection | None = None) -> Reply:
        own = conn is None
        conn = conn or http.client.HTTPConnection(HOST, self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=self.auth() if headers is None else headers)
            with conn.getresponse() as resp:
                return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            if own:
                conn.close()

    def hook(self, event: str, payload: object, conn: http.client.HTTPConnection | None = None) -> Reply:
        return self.request("POST", f"/v1/hooks/{event}", json.dumps(payload).encode(), conn=conn)

    def raw(self, data: bytes, shut: bool = False) -> bytes:
        """Send bytes on a fresh connection and read until the daemon closes it."""
        with socket.create_connection((HOST, self.port), timeout=10) as sock:
            sock.sendall(data)
            if shut:
                sock.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
            return b"".join(chunks)


def start_http_daemon(short_dir: Path, **env: str) -> HttpDaemon:
    port = free_port()
    daemon = start_daemon_process(short_dir / "treerag.sock", env={"TREERAG_HTTP_PORT": str(port), **env},
                                  extra_args=["--http"])
    return HttpDaemon(daemon, port, read_token())


@pytest.fixture
def server(short_dir: Path) -> Iterator[HttpDaemon]:
    running = start_http_daemon(short_dir)
    try:
        yield running
    finally:
        assert running.daemon.stop() == 0


# -- the token ------------------------------------------------------------------------


def test_token_file_is_private_and_stable(server, short_dir):
    path = token_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(server.token) >= 43  # token_urlsafe(32)
    assert server.daemon.stop() == 0
    again = start_http_daemon(short_dir)  # a restart serves the same token
    try:
        assert again.token == server.token
        assert again.request("GET", "/healthz").status == 200
    finally:
        again.daemon.stop()


@pytest.mark.parametrize(("text", "mode"), [pytest.param("", 0o644, id="empty-0644"),
                                             pytest.param(" \n", 0o600, id="blank"),
                                             pytest.param("my-own-token\n", 0o640, id="own-token-0640")])
def test_token_file_is_created_when_empty_and_made_private(short_dir, text, mode):
    path = token_path()
    path.parent.mkdir(parents=True)
    path.write_text(text)
    path.chmod(mode)
    running = start_http_daemon(short_dir)
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert running.token == (text.strip() or running.token) and len(running.token) >= 12
        assert path.read_text() == running.token + "\n"
        assert running.request("GET", "/healthz").status == 200
    finally:
        running.daemon.stop()


def test_read_token_names_the_missing_file(tmp_path):
    from treerag.errors import ConfigError

    with pytest.raises(ConfigError, match=r"http\.token: no HTTP token yet; start the daemon with --http"):
        read_token(tmp_path / "http.token")


@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/v1/hooks/prompt", "/nope"])
@pytest.mark.parametrize("headers", [
    pytest.param({}, id="no-header"),
    pytest.param({"Authorization": "Bearer wrong-token"}, id="wrong-token"),
    pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="basic-scheme"),
])
def test_requests_without_the_token_get_401_and_nothing_else(server, path, headers):
    reply = server.request("POST" if "hooks" in path else "GET", path, b"{}", headers=headers)
    assert reply.status == 401
    assert reply.body == b""
    assert reply.headers["content-length"] == "0"
    assert reply.headers["www-authenticate"] == "Bearer"
    assert "content-type" not in reply.headers


def test_oversized_body_without_the_token_gets_401_not_413(server):
    reply = server.request("POST", "/v1/hooks/prompt", b"x" * (BODY_LIMIT + 1), headers={})
    assert reply.status == 401 and reply.body == b""


# -- routes ---------------------------------------------------------------------------


def test_healthz(server):
    reply = server.request("GET", "/healthz")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    body = json.loads(reply.body)
    assert body["ok"] is True and body["pid"] == server.daemon.pid and body["version"]


def test_metrics_is_prometheus_text(server):
    server.hook("prompt", {"prompt": "warm up the latency tracker", "cwd": "/"})
    reply = server.request("GET", "/metrics")
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/plain; version=0.0.4"
    text = reply.body.decode()
    assert "# TYPE treerag_process_rss_bytes gauge" in text
    assert "# TYPE treerag_latency_seconds summary" in text
    assert 'treerag_latency_seconds_count{op="http.prompt"} 1' in text
    assert "treerag_process_open_fds " in text and "treerag_http_requests_total " in text
    for line in text.splitlines():  # every sample line is "name{labels} number"
        if line and not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])


def test_prompt_outside_any_project_gets_an_empty_200(server, tmp_path):
    reply = server.hook("prompt", {"prompt": "where is the cart total computed?", "cwd": str(tmp_path),
                                   "session_id": "s1", "hook_event_name": "UserPromptSubmit"})
    assert (reply.status, reply.body, reply.headers["content-length"]) == (200, b"", "0")
    assert "content-type" not in reply.headers


@pytest.mark.parametrize("body", [
    pytest.param(b"{not json", id="malformed"),
    pytest.param(b"", id="empty"),
    pytest.param(b"[1, 2]", id="not-an-object"),
    pytest.param(b"\xff\xfe\x00", id="not-utf8"),
])
def test_bad_hook_bodies_get_an_empty_200(server, body):
    reply = server.request("POST", "/v1/hooks/prompt", body)
    assert (reply.status, reply.body, reply.headers["content-length"]) == (200, b"", "0")
    assert "answered with nothing" in server.daemon.log_text()


def test_huge_body_gets_413(server):
    reply = server.request("POST", "/v1/hooks/prompt", b"x" * (BODY_LIMIT + 1))
    assert (reply.status, reply.body) == (413, b"")
    assert reply.headers["connection"] == "close"
    declared_only = server.raw(f"POST /v1/hooks/prompt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.token}"
                               f"\r\nContent-Length: {50 << 20}\r\n\r\n".encode())
    assert declared_only.startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize(("method", "path", "status", "allow"), [
    pytest.param("GET", "/", 404, None, id="root"),
    pytest.param("GET", "/v1/hooks", 404, None, id="hooks-prefix"),
    pytest.param("POST", "/v1/hooks/no-such-event", 404, None, id="unknown-event"),
    pytest.param("POST", "/v1/hooks/", 404, None, id="empty-event"),
    pytest.param("GET", "/v1/hooks/prompt", 405, "POST", id="get-hook"),
    pytest.param("POST", "/healthz", 405, "GET", id="post-healthz"),
    pytest.param("DELETE", "/metrics", 405, "GET", id="delete-metrics"),
])
def test_unknown_routes_and_wrong_methods(server, method, path, status, allow):
    reply = server.request(method, path, b"{}" if method == "POST" else None)
    assert (reply.status, reply.body) == (status, b"")
    assert reply.headers.get("allow") == allow


@pytest.mark.parametrize("event", ["session-start", "prompt", "pre-tool", "post-edit", "subagent-start",
                                   "session-end"])
def test_every_event_answers_outside_a_project(server, tmp_path, event):
    reply = server.hook(event, {"cwd": str(tmp_path), "prompt": "explain the pricing module please",
                                "tool_name": "Read", "tool_input": {"file_path": str(tmp_path / "x.py")}})
    assert reply.status == 200
    assert reply.body == b"" or "hookSpecificOutput" in json.loads(reply.body)


# -- the parser and the connection ------------------------------------------------------


def test_keep_alive_serves_many_requests_on_one_connection(server):
    conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
    try:
        conn.connect()
        local = conn.sock.getsockname()
        for _ in range(20):
            assert server.request("GET", "/healthz", conn=conn).status == 200
            assert server.hook("prompt", {"prompt": "hello there", "cwd": "/"}, conn=conn).status == 200
        assert conn.sock is not None and conn.sock.getsockname() == local  # never reconnected
    finally:
        conn.close()


def test_connection_close_and_http10_close_after_one_answer(server):
    auth = f"Authorization: Bearer {server.token}\r\n"
    out = server.raw(f"GET /healthz HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n".encode() * 2)
    assert out.count(b"HTTP/1.1 200 OK") == 1 and b"Connection: close" in out
    out = server.raw(f"GET /healthz HTTP/1.0\r\n{auth}\r\n".encode() * 2)
    assert out.count(b"HTTP/1.1 200 OK") == 1


def test_expect_100_continue_is_answered_before_the_body(server):
    with socket.create_connection((HOST, server.port), timeout=10) as sock:
        sock.sendall(f"POST /v1/hooks/prompt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.token}\r\n"
                     "Content-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n".encode())
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"{}")
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    assert out == b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize(("request_bytes", "status"), [
    pytest.param(b"GET /healthz\r\n\r\n", 400, id="no-version"),
    pytest.param(b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 400, id="bad-version"),
    pytest.param(b"GET healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400, id="relative-target"),
    pytest.param(b"GET /healthz HTTP/1.1\r\n\r\n", 400, id="http11-without-host"),
    pytest.param(b"GET /healthz HTTP/1.1\r\nHost: x\r\n folded: y\r\n\r\n", 400, id="obs-fold"),
    pytest.param(b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", 400, id="space-in-name"),
    pytest.param(b"POST /v1/hooks/prompt HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, id="negative-length"),
    pytest.param(b"POST /v1/hooks/prompt HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
                 400, id="two-lengths"),
    pytest.param(b"POST /v1/hooks/prompt HTTP/1.1\r\nHost: x\r\nAUTH\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"2\r\n{}\r\n0\r\n\r\n", 501, id="chunked"),
    pytest.param(b"POST /v1/hooks/prompt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"2\r\n{}\r\n0\r\n\r\n", 401, id="chunked-without-token"),
    pytest.param(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * HEAD_LIMIT + b"\r\n\r\n", 431,
                 id="huge-head"),
])
def test_malformed_requests_are_refused_and_closed(server, request_bytes, status):
    out = server.raw(request_bytes.replace(b"AUTH", f"Authorization: Bearer {server.token}".encode()))
    assert out.startswith(f"HTTP/1.1 {status} ".encode())
    assert out.endswith(b"Content-Length: 0\r\n" + (b"WWW-Authenticate: Bearer\r\n" if status == 401 else b"")
                        + b"Connection: close\r\n\r\n")


def test_a_silent_or_partial_request_is_dropped_at_the_read_deadline(short_dir):
    running = start_http_daemon(short_dir, TREERAG_DAEMON_READ_TIMEOUT_S="0.3")
    try:
        with socket.create_connection((HOST, running.port), timeout=10) as sock:
            sock.sendall(b"POST /v1/hooks/prompt HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{}")
            assert sock.recv(100) == b""  # closed unanswered, well before our 10 s timeout
        assert running.request("GET", "/healthz").status == 200
    finally:
        running.daemon.stop()


# -- start-up -------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
def test_a_non_loopback_host_is_refused_at_start(short_dir, host):
    sock = short_dir / "treerag.sock"
    env = {**os.environ, "TREERAG_HTTP_HOST": host, "TREERAG_HTTP_PORT": str(free_port())}
    out = subprocess.run([sys.executable, "-m", "treerag.daemon", "--socket", str(sock), "--http"], env=env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last == (f"treerag: TREERAG_HTTP_HOST: http.host {host!r} is not a loopback address; "
                    "the HTTP endpoint serves only 127.0.0.1, ::1 or localhost")
    assert "Traceback" not in out.stderr
    assert not sock.exists()


def test_a_port_in_use_is_a_clear_start_up_error(short_dir):
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "TREERAG_HTTP_PORT": str(port)}
        out = subprocess.run([sys.executable, "-m", "treerag.daemon", "--socket", str(short_dir / "t.sock"), "--http"],
                             env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == (
        f"treerag: TREERAG_HTTP_PORT: cannot listen on 127.0.0.1 port {port}: Address already in use")
    assert "Traceback" not in out.stderr


def test_without_the_flag_nothing_listens(short_dir):
    port = free_port()
    daemon = start_daemon_process(short_dir / "treerag.sock", env={"TREERAG_HTTP_PORT": str(port)})
    try:
        with pytest.raises(ConnectionRefusedError), socket.create_connection((HOST, port), timeout=5):
            pass
        assert not token_path().exists()
    finally:
        daemon.stop()


# -- end to end -------------------------------------------------------------------------

PROJECT = {
    "billing/__init__.py": '"""Billing for the shop."""\n',
    "billing/invoice.py": '"""Invoices."""\nfrom billing.tax import apply_vat\n\n'
                          'def render_invoice(order):\n    """Render an order as invoice text."""\n'
                          '    return f"total {apply_vat(order.total)}"\n',
    "billing/tax.py": '"""Taxes."""\n\nVAT = 0.2\n\ndef apply_vat(amount):\n'
                      '    """Add value added tax to an amount."""\n    return amount * (1 + VAT)\n',
    "billing/cli.py": '"""Command line."""\nfrom billing.invoice import render_invoice\n\n'
                      'def main():\n    print(render_invoice(None))\n',
}


def test_prompt_hook_names_the_file_of_a_function(server, tmp_path):
    root = tmp_path / "billing-app"
    (root / ".git").mkdir(parents=True)
    for rel, text in PROJECT.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    report = server.daemon.call("project.index", path=str(root))
    assert report["files"] == 4  # type: ignore[index]

    payload = {"session_id": "s1", "prompt_id": "p1", "hook_event_name": "UserPromptSubmit", "cwd": str(root),
               "prompt": "Where is apply_vat defined and who calls it?", "permission_mode": "default"}
    reply = server.hook("prompt", payload)
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert int(reply.headers["content-length"]) == len(reply.body)
    out = json.loads(reply.body)
    assert out["hookSpecificOutput"]["hookEventName"] == "UserPromptSubmit"
    assert "billing/tax.py" in out["hookSpecificOutput"]["additionalContext"]
    assert set(out["hookSpecificOutput"]) == {"hookEventName", "additionalContext"}  # never a decision

    again = server.hook("prompt", payload)  # served from the context cache, same answer
    assert again.body == reply.body
