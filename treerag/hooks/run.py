"""The Claude Code hook client: stdin JSON in, one JSON object (or nothing) out, always exit 0.

This file is the whole fast path. Claude Code runs it for every prompt and
tool call, so it imports only what the bare interpreter already has
(``_socket``, ``json``, ``os``, ``sys``) and is meant to be started as
``python -S -I /abs/path/treerag/hooks/run.py EVENT`` by absolute path; it
also runs as ``treerag hook EVENT``. It speaks JSON lines to the daemon
(the protocol's shell framing), which computes the whole hook output.

Rules it keeps (../shared/CLAUDE_CODE_HOOKS.md): never block Claude Code —
a hard deadline below the hook's timeout, exit 0 on every failure with one
line on stderr; never return ``permissionDecision``; when no daemon runs,
start one detached for next time and do not wait for it.
"""

from __future__ import annotations

import json
import os
import sys

CLAUDE_EVENT_NAMES = {
    "session-start": "SessionStart",
    "prompt": "UserPromptSubmit",
    "pre-tool": "PreToolUse",
    "post-edit": "PostToolUse",
    "subagent-start": "SubagentStart",
    "session-end": "SessionEnd",
}
EVENTS = tuple(CLAUDE_EVENT_NAMES)
STDIN_LIMIT = 1 << 20
DEFAULT_DEADLINE_S = 2.5
_ALLOWED_OUTPUT_KEYS = frozenset({"hookEventName", "additionalContext"})


def default_socket_path() -> str:
    """Same rule as ``treerag.config``: $TREERAG_DAEMON_SOCKET_PATH, else the XDG runtime dir, else /tmp."""
    explicit = os.environ.get("TREERAG_DAEMON_SOCKET_PATH") or os.environ.get("TREERAG_SOCKET")
    if explicit:
        return explicit
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "treerag", "treerag.sock")
    return f"/tmp/treerag-{os.getuid()}/treerag.sock"


def _parse_args(argv: list[str]) -> tuple[str, str, float]:
    event, sock, deadline = "", "", DEFAULT_DEADLINE_S
    it = iter(argv)
    for arg in it:
        if arg == "--socket":
            sock = next(it, "")
        elif arg == "--deadline":
            deadline = float(next(it, DEFAULT_DEADLINE_S))
        elif not event:
            event = arg
    if event not in EVENTS:
        raise ValueError(f"unknown hook event {event!r}; expected one of {', '.join(EVENTS)}")
    return event, sock or default_socket_path(), deadline


def _read_stdin() -> dict:  # type: ignore[type-arg]
    data = sys.stdin.buffer.read(STDIN_LIMIT + 1)
    if len(data) > STDIN_LIMIT:
        raise ValueError(f"hook input over {STDIN_LIMIT} bytes; ignored")
    payload = json.loads(data or b"{}")
    if not isinstance(payload, dict):
        raise ValueError("hook input is not a JSON object")
    return payload


def _ask(sock_path: str, request: dict, deadline: float) -> object:  # type: ignore[type-arg]
    import _socket
    import time

    end = time.monotonic() + deadline
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.settimeout(deadline)
        s.connect(sock_path)
        s.sendall(json.dumps(request, separators=(",", ":")).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer within {deadline}s")
            s.settimeout(left)
            chunk = s.recv(262144)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    reply = json.loads(buf)
    if "error" in reply:
        raise RuntimeError(reply["error"].get("message", "daemon error"))
    return reply.get("result")


def _start_daemon(sock_path: str) -> None:
    """Spawn the daemon detached for the next hook; never wait for it."""
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    log = os.path.join(state, "treerag", "treerag.log")
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        os.posix_spawn(
            sys.executable,
            [sys.executable, "-m", "treerag.daemon", "--socket", sock_path, "--log-file", log],
            env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, devnull, 0),
                (os.POSIX_SPAWN_DUP2, devnull, 1),
                (os.POSIX_SPAWN_DUP2, devnull, 2),
            ],
            setsid=True,
        )
    finally:
        os.close(devnull)


def _clean_output(event_name: str, result: object) -> dict | None:  # type: ignore[type-arg]
    """Keep only the keys treerag may return; drop anything that could decide for the user."""
    if not isinstance(result, dict):
        return None
    output = result.get("hookSpecificOutput")
    if not isinstance(output, dict) or not output.get("additionalContext"):
        return None
    clean = {k: v for k, v in output.items() if k in _ALLOWED_OUTPUT_KEYS}
    clean["hookEventName"] = event_name
    return {"hookSpecificOutput": clean}


def main(argv: list[str] | None = None) -> int:
    try:
        event, sock_path, deadline = _parse_args(sys.argv[1:] if argv is None else argv)
        payload = _read_stdin()
    except (ValueError, OSError) as exc:
        print(f"treerag hook: {exc}", file=sys.stderr)
        return 0
    if "CLAUDE_PROJECT_DIR" in os.environ:
        payload.setdefault("project_dir", os.environ["CLAUDE_PROJECT_DIR"])
    try:
        result = _ask(sock_path, {"id": 1, "method": "hook", "params": {"event": event, "payload": payload}}, deadline)
    except (FileNotFoundError, ConnectionRefusedError):
        if event in ("session-start", "prompt", "subagent-start"):
            try:
                _start_daemon(sock_path)
                print("treerag hook: daemon was not running; started it for the next prompt", file=sys.stderr)
            except OSError as exc:
                print(f"treerag hook: daemon not running and could not be started: {exc}", file=sys.stderr)
        return 0
    except Exception as exc:  # never let Claude Code see a traceback or a non-zero exit
        print(f"treerag hook: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 0
    event_name = str(payload.get("hook_event_name") or CLAUDE_EVENT_NAMES[event])
    output = _clean_output(event_name, result)
    if output is not None:
        sys.stdout.write(json.dumps(output, ensure_ascii=False))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
