"""Remote enrichment through a real daemon process and the fake OpenAI server (enrich.start, enrich.status)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from tests.conftest import wait_for
from tests.integration.test_index_daemon import make_project, treerag


def call(sock: Path, method: str, params: dict[str, Any] | None = None) -> Any:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(sock))
        s.sendall((json.dumps({"id": 1, "method": method, "params": params or {}}) + "\n").encode())
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    reply = json.loads(buf)
    assert "result" in reply, reply
    return reply["result"]


def test_project_enriched_most_important_first(daemon_factory, fake_openai, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    conf = Path(os.environ["XDG_CONFIG_HOME"]) / "treerag"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "config.toml").write_text(
        f'[enrich]\nprovider = "openai"\nbase_url = "{fake_openai.base_url}"\nmodel = "m"\n'
        'api_key_env = "FAKE_KEY"\n'
    )
    daemon = daemon_factory(env={"FAKE_KEY": "test-token"})
    project = make_project(tmp_path / "shop")
    out = treerag("index", str(project), "--json", sock=daemon.socket)
    assert out.returncode == 0, out.stderr
    started = call(daemon.socket, "enrich.start", {"path": str(project)})
    assert started["queued"] > 0, started
    assert wait_for(lambda: call(daemon.socket, "enrich.status")["backlog"] == 0
                    and call(daemon.socket, "enrich.status")["done"] >= started["queued"], timeout=20)
    status = call(daemon.socket, "enrich.status")
    assert status["requests"] >= 1 and status["breaker"] == "closed", status
    assert fake_openai.requests
    sent = len(fake_openai.requests)
    again = call(daemon.socket, "enrich.start", {"path": str(project)})
    assert again["queued"] == 0
    assert len(fake_openai.requests) == sent
    assert call(daemon.socket, "ping") is not None


def test_cli_enrich_and_queue_show_enrichment(daemon_factory, fake_openai, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    conf = Path(os.environ["XDG_CONFIG_HOME"]) / "treerag"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "config.toml").write_text(
        f'[enrich]\nprovider = "openai"\nbase_url = "{fake_openai.base_url}"\nmodel = "m"\napi_key_env = "FAKE_KEY"\n'
    )
    daemon = daemon_factory(env={"FAKE_KEY": "test-token"})
    project = make_project(tmp_path / "shop")
    assert treerag("index", str(project), sock=daemon.socket).returncode == 0
    out = treerag("enrich", str(project), sock=daemon.socket)
    assert out.returncode == 0 and out.stdout.startswith("queued "), (out.stdout, out.stderr)
    assert wait_for(lambda: call(daemon.socket, "enrich.status")["backlog"] == 0, timeout=20)
    out = treerag("queue", sock=daemon.socket)
    assert out.returncode == 0, out.stderr
    assert "enrichment openai/m: backlog 0" in out.stdout, out.stdout
