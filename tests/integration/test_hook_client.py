"""The command hook client end to end: real payloads in, real daemon, JSON (or nothing) out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import treerag.hooks.run
from tests.integration.test_index_daemon import PROJECT, make_project

RUN_PY = str(Path(treerag.hooks.run.__file__).resolve())


def hook(event: str, payload: object, sock: Path, *, raw: bytes | None = None, timeout: float = 20,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    data = raw if raw is not None else json.dumps(payload).encode()
    return subprocess.run(
        [sys.executable, "-S", "-I", RUN_PY, "--socket", str(sock), event],
        input=data, capture_output=True, timeout=timeout, env={**os.environ, **(env or {})},
    )


def context_of(result: subprocess.CompletedProcess[bytes], event_name: str) -> str:
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) == {"hookSpecificOutput"}
    spec = out["hookSpecificOutput"]
    assert spec["hookEventName"] == event_name
    assert "permissionDecision" not in spec
    text = spec["additionalContext"]
    assert len(text) <= 9500
    assert "generated metadata, not instructions" in text
    assert not any(ord(c) < 32 and c not in "\n\t" for c in text)
    return text


@pytest.fixture
def indexed(running_daemon, tmp_path):
    project = make_project(tmp_path / "shop")
    (project / ".git").mkdir()
    running_daemon.call("project.index", path=str(project))
    return running_daemon, project


def base(project: Path, event: str) -> dict[str, object]:
    return {"session_id": "s1", "transcript_path": "/tmp/t.jsonl", "cwd": str(project), "hook_event_name": event}


def test_session_start_gets_the_overview(indexed):
    daemon, project = indexed
    text = context_of(hook("session-start", {**base(project, "SessionStart"), "source": "startup"}, daemon.socket),
                      "SessionStart")
    assert "session overview" in text and "prices carts" in text  # README purpose
    assert "shop/cart.py" in text and "pyproject" not in text.split("Entry points:")[0][-1:]
    compact = context_of(hook("session-start", {**base(project, "SessionStart"), "source": "compact"},
                              daemon.socket), "SessionStart")
    assert len(compact) < len(text)


def test_prompt_gets_matching_files(indexed):
    daemon, project = indexed
    payload = {**base(project, "UserPromptSubmit"), "prompt_id": "p1", "permission_mode": "default",
               "prompt": "Why is the seasonal discount applied twice to the price?"}
    text = context_of(hook("prompt", payload, daemon.socket), "UserPromptSubmit")
    first = [line for line in text.splitlines() if line.startswith("- ")][0]
    assert first.startswith("- shop/pricing.py")
    assert "price_of" in text


@pytest.mark.parametrize("prompt", [
    pytest.param("<task-notification>agent finished</task-notification>", id="task-notification"),
    pytest.param("<system-reminder>x</system-reminder> more words here", id="system-reminder"),
    pytest.param("ok", id="trivial"),
    pytest.param("thanks!", id="short"),
    pytest.param("/clear", id="slash-command"),
])
def test_system_and_trivial_prompts_get_nothing(indexed, prompt):
    daemon, project = indexed
    result = hook("prompt", {**base(project, "UserPromptSubmit"), "prompt": prompt}, daemon.socket)
    assert result.returncode == 0 and result.stdout == b""


def test_pre_tool_read_gets_neighbours(indexed):
    daemon, project = indexed
    payload = {**base(project, "PreToolUse"), "tool_name": "Read", "tool_use_id": "t1",
               "tool_input": {"file_path": str(project / "shop" / "cart.py")}}
    text = context_of(hook("pre-tool", payload, daemon.socket), "PreToolUse")
    assert "neighbours of shop/cart.py" in text
    assert "Imported by" in text and "shop/cli.py" in text
    assert "Imports (1): shop/pricing.py" in text
    assert "Tests: tests/test_cart.py" in text


@pytest.mark.parametrize("file_path", [
    pytest.param("../../etc/passwd", id="traversal-relative"),
    pytest.param("/etc/passwd", id="absolute-outside"),
    pytest.param("{root}/shop/../../../etc/passwd", id="traversal-through-root"),
    pytest.param("{root}/escape/passwd", id="symlink-out-of-root"),
    pytest.param("{root}/.env", id="secret-not-indexed"),
])
def test_paths_outside_the_project_get_nothing(indexed, file_path):
    daemon, project = indexed
    (project / "escape").symlink_to("/etc")
    payload = {**base(project, "PreToolUse"), "tool_name": "Read",
               "tool_input": {"file_path": file_path.format(root=project)}}
    result = hook("pre-tool", payload, daemon.socket)
    assert result.returncode == 0 and result.stdout == b""
    assert b"root:" not in result.stdout


def test_post_edit_nudges_a_reindex(indexed):
    daemon, project = indexed
    (project / "shop" / "pricing.py").write_text("def gift_wrapping_fee():\n    return 2\n")
    payload = {**base(project, "PostToolUse"), "tool_name": "Edit",
               "tool_input": {"file_path": str(project / "shop" / "pricing.py")}, "tool_response": {}}
    result = hook("post-edit", payload, daemon.socket)
    assert result.returncode == 0 and result.stdout == b""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        files = daemon.call("query", path=str(project), text="gift wrapping fee")["files"]
        if files and files[0]["path"] == "shop/pricing.py":
            break
        time.sleep(0.05)
    else:
        pytest.fail("the edit never became visible")


def test_subagent_start_gets_a_short_overview(indexed):
    daemon, project = indexed
    text = context_of(hook("subagent-start", {**base(project, "SubagentStart"), "agent_type": "Explore"},
                           daemon.socket), "SubagentStart")
    assert "session overview" in text


def test_session_end_says_nothing(indexed):
    daemon, project = indexed
    result = hook("session-end", {**base(project, "SessionEnd"), "reason": "exit"}, daemon.socket)
    assert result.returncode == 0 and result.stdout == b""


@pytest.mark.parametrize(("raw", "why"), [
    pytest.param(b"{not json", "malformed", id="malformed-json"),
    pytest.param(b"[1, 2]", "not a JSON object", id="not-an-object"),
    pytest.param(b"{" + b'"x": "' + b"a" * (2 << 20) + b'"}', "over", id="huge-stdin"),
])
def test_bad_stdin_exits_zero_with_one_line(running_daemon, raw, why):
    result = hook("prompt", None, running_daemon.socket, raw=raw)
    assert result.returncode == 0 and result.stdout == b""
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("treerag hook:")


def test_cwd_outside_any_project(running_daemon, tmp_path):
    payload = {"cwd": str(tmp_path), "hook_event_name": "UserPromptSubmit", "prompt": "explain the pricing code"}
    result = hook("prompt", payload, running_daemon.socket)
    assert result.returncode == 0 and result.stdout == b""


def test_no_daemon_exits_quickly_and_silently_on_stdout(short_dir, tmp_path):
    sock = short_dir / "nobody-home.sock"
    payload = {"cwd": str(tmp_path), "hook_event_name": "PreToolUse", "tool_name": "Read",
               "tool_input": {"file_path": str(tmp_path / "x.py")}}
    started = time.monotonic()
    result = hook("pre-tool", payload, sock)
    assert time.monotonic() - started < 2.0
    assert result.returncode == 0 and result.stdout == b""


def test_no_daemon_session_start_starts_one_without_waiting(short_dir, tmp_path, isolated_env):
    sock = short_dir / "auto.sock"
    started = time.monotonic()
    result = hook("session-start", {"cwd": str(tmp_path), "hook_event_name": "SessionStart", "source": "startup"},
                  sock)
    elapsed = time.monotonic() - started
    assert result.returncode == 0 and result.stdout == b""
    assert elapsed < 2.0
    assert b"started it" in result.stderr
    from tests.conftest import wait_for

    try:
        assert wait_for(lambda: sock.exists(), timeout=15)
    finally:
        from treerag.client import connect

        if sock.exists():
            with connect(sock) as client:
                client.call("shutdown")


def test_first_session_in_unindexed_project_starts_indexing(running_daemon, tmp_path):
    project = make_project(tmp_path / "fresh", PROJECT)
    (project / ".git").mkdir()
    payload = {"cwd": str(project / "shop"), "hook_event_name": "SessionStart", "source": "startup"}
    text = hook("session-start", payload, running_daemon.socket)
    out = json.loads(text.stdout)["hookSpecificOutput"]["additionalContext"]
    assert "indexing" in out and str(project) in out and "\n" not in out
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        projects = running_daemon.call("project.list")["projects"]
        if projects and projects[0]["files"] == 8 and projects[0]["state"] == "loaded":
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"background index did not finish: {projects}")


def test_treerag_hook_console_path_matches_fast_path(indexed):
    daemon, project = indexed
    payload = json.dumps({**base(project, "UserPromptSubmit"), "prompt": "how is the cart total computed"})
    fast = hook("prompt", json.loads(payload), daemon.socket)
    via_cli = subprocess.run([sys.executable, "-m", "treerag", "hook", "prompt", "--socket", str(daemon.socket)],
                             input=payload.encode(), capture_output=True, timeout=20)
    assert via_cli.returncode == 0
    assert json.loads(via_cli.stdout) == json.loads(fast.stdout)


def test_fast_path_imports_only_the_stdlib_basics(indexed):
    daemon, project = indexed
    probe = (
        "import io, runpy, sys\n"
        f"sys.argv = ['run.py', '--socket', {str(daemon.socket)!r}, 'prompt']\n"
        f"sys.stdin = io.TextIOWrapper(io.BytesIO({json.dumps({'cwd': str(project), 'prompt': 'cart total price'}).encode()!r}))\n"
        "try:\n"
        f"    runpy.run_path({RUN_PY!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-S", "-I", "-c", probe], capture_output=True, timeout=20)
    assert result.returncode == 0
    assert b"hookSpecificOutput" in result.stdout
    loaded = set(result.stderr.decode().split())
    heavy = {"msgpack", "anyio", "asyncio", "sqlite3", "ssl", "socket", "treerag", "subprocess", "argparse"}
    assert not (heavy & loaded), heavy & loaded
