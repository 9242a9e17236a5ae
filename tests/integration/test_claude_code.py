"""End to end through the real Claude Code CLI: its hooks call treerag, and the context reaches the model.

The CLI runs in print mode (``claude -p``) against a scripted local stand-in
for the Messages API (tests/support/fake_anthropic.py), with HOME pointed at
the test's temporary home, whose ~/.claude/settings.json holds treerag's
hooks as ``install_hooks("user", ...)`` writes them. Nothing leaves the
machine: ANTHROPIC_BASE_URL is the fake, and non-essential traffic is off.

What the fake records is what the model would have seen, so the assertions
are on the request bodies: the SessionStart overview and the
UserPromptSubmit matches in the first request, the PreToolUse neighbours of
the file next to the Read tool's result in the second.

The CLI is looked up in .cache/claude-code (scripts/test installs it there),
then $TREERAG_CLAUDE_BIN, then /tmp/cc; the tests skip when none runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

import treerag.hooks.run
from tests.conftest import REPO, DaemonProcess, start_daemon_process, wait_for
from tests.support.fake_anthropic import FakeAnthropic, RecordedRequest
from treerag.hooks.install import install_hooks

pytestmark = pytest.mark.claude

# Read now: the autouse isolated_env fixture removes every TREERAG_* variable before each test.
_CLAUDE_BIN_ENV = os.environ.get("TREERAG_CLAUDE_BIN", "")
_CLAUDE_CANDIDATES = [
    REPO / ".cache" / "claude-code" / "node_modules" / ".bin" / "claude",
    *([Path(_CLAUDE_BIN_ENV)] if _CLAUDE_BIN_ENV else []),
    Path("/tmp/cc/node_modules/.bin/claude"),
]
CLAUDE_TIMEOUT_S = 90
PROMPT = "How is the invoice total computed?"
PROJECT_NAME = "invoicing-app"
# Variables of the developer's own Claude Code session (or of a Claude Code running these tests)
# must not reach the CLI under test: they could redirect its config, credentials or endpoint.
_STRIP_PREFIXES = ("ANTHROPIC_", "CLAUDE", "OTEL_", "TREERAG_")
_STRIP_NAMES = {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
                "NODE_OPTIONS", "DEBUG"}


# --- finding and running the CLI ------------------------------------------------------------------


def _needs_node(path: Path) -> bool:
    """Older packages ship a JavaScript entry point (``#!/usr/bin/env node``); newer ones a native binary."""
    if path.suffix in (".js", ".cjs", ".mjs"):
        return True
    try:
        with path.open("rb") as fh:
            head = fh.read(128)
    except OSError:
        return False
    return head.startswith(b"#!") and b"node" in head.split(b"\n", 1)[0]


@pytest.fixture(scope="module")
def claude_bin() -> tuple[Path, str]:
    """The first Claude Code CLI that runs here, and its version; skip the module when there is none."""
    tried = []
    for candidate in _CLAUDE_CANDIDATES:
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            tried.append(f"{candidate}: missing")
            continue
        resolved = candidate.resolve()
        if _needs_node(resolved) and shutil.which("node") is None:
            tried.append(f"{candidate}: needs node, which is not on PATH")
            continue
        try:
            proc = subprocess.run([str(candidate), "--version"], capture_output=True, text=True, timeout=60,
                                  stdin=subprocess.DEVNULL, env=_clean_env({}))
        except (OSError, subprocess.TimeoutExpired) as exc:
            tried.append(f"{candidate}: {exc}")
            continue
        if proc.returncode == 0 and "Claude Code" in proc.stdout:
            return candidate, proc.stdout.strip()
        tried.append(f"{candidate}: --version exited {proc.returncode}: {(proc.stderr or proc.stdout)[:200]}")
    pytest.skip("no working Claude Code CLI (scripts/test installs it with npm into "
                ".cache/claude-code; or set TREERAG_CLAUDE_BIN): " + "; ".join(tried))


def _clean_env(overrides: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIP_PREFIXES) and k not in _STRIP_NAMES}
    env.update(
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",  # no telemetry, error reports, update checks
        DISABLE_AUTOUPDATER="1",
        DISABLE_TELEMETRY="1",
        DISABLE_ERROR_REPORTING="1",
    )
    env.update(overrides)
    return env


@dataclass
class ClaudeRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    events: list[dict[str, Any]]  # the stream-json lines

    @property
    def result(self) -> dict[str, Any]:
        return next((e for e in reversed(self.events) if e.get("type") == "result"), {})

    def hook_responses(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == "system" and e.get("subtype") == "hook_response"]


def run_claude(claude: Path, api: FakeAnthropic, cwd: Path, home: Path, prompt: str = PROMPT) -> ClaudeRun:
    env = _clean_env({"HOME": str(home), "ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": api.base_url})
    argv = [str(claude), "-p", prompt,
            "--output-format", "stream-json", "--verbose", "--include-hook-events",
            "--allowedTools", "Read"]  # the scripted Read runs without a permission prompt
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=CLAUDE_TIMEOUT_S, stdin=subprocess.DEVNULL)
    seconds = time.monotonic() - started
    events = []
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except ValueError:
                pass
    return ClaudeRun(proc.returncode, proc.stdout, proc.stderr, seconds, events)


# --- the project, the hooks, the daemon -----------------------------------------------------------

PROJECT_FILES = {
    "billing/__init__.py": '"""Billing: invoices, taxes and discounts."""\n',
    "billing/invoice.py": (
        "from billing.discounts import loyalty_discount\n"
        "from billing.tax import apply_vat\n\n\n"
        "class InvoiceLine:\n"
        "    def __init__(self, sku, quantity, unit_price):\n"
        "        self.sku, self.quantity, self.unit_price = sku, quantity, unit_price\n\n\n"
        "def compute_invoice_total(lines, customer_years=0):\n"
        '    """Sum the lines, take the loyalty discount off, then add VAT."""\n'
        "    subtotal = sum(line.quantity * line.unit_price for line in lines)\n"
        "    return apply_vat(subtotal - loyalty_discount(subtotal, customer_years))\n"
    ),
    "billing/tax.py": (
        "VAT_RATE = 0.2\n\n\n"
        "def apply_vat(amount):\n"
        "    return round(amount * (1 + VAT_RATE), 2)\n"
    ),
    "billing/discounts.py": (
        "def loyalty_discount(subtotal, customer_years):\n"
        "    return subtotal * min(customer_years, 5) / 100\n"
    ),
    "shipping/rates.py": (
        "def shipping_rate_for_weight(kilograms):\n"
        "    return 4.5 + 1.25 * max(0, kilograms - 1)\n"
    ),
    "app.py": (
        "from billing.invoice import InvoiceLine, compute_invoice_total\n\n\n"
        "def main():\n"
        '    print(compute_invoice_total([InvoiceLine("A-1", 2, 9.99)], customer_years=3))\n'
    ),
}


def make_project(root: Path) -> Path:
    root.mkdir()
    for rel, text in PROJECT_FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    if shutil.which("git"):
        subprocess.run(["git", "init", "-q", str(root)], check=True, capture_output=True, timeout=30)
    else:
        (root / ".git").mkdir()
    return root


def hook_command(socket: Path) -> list[str]:
    """What ``treerag install-hooks`` writes (see treerag.cli.commands_hooks.hook_command), for this socket."""
    return [sys.executable, "-S", "-I", str(Path(treerag.hooks.run.__file__).resolve()), "--socket", str(socket)]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / PROJECT_NAME)


@pytest.fixture
def home(isolated_env: Path) -> Path:
    return isolated_env


def _treerag_daemons_on(socket: Path) -> list[psutil.Process]:
    """Daemon processes serving exactly this (unique, per-test) socket path."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if "treerag.daemon" in cmdline and str(socket) in cmdline:
            found.append(proc)
    return found


def _gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE  # not our child: nobody here may reap it
    except psutil.NoSuchProcess:
        return True


def stop_spawned_daemons(socket: Path) -> None:
    """Stop the daemons the hook client started detached for this socket, by their pids."""
    procs = _treerag_daemons_on(socket)
    for proc in procs:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    for proc in procs:
        if not wait_for(lambda: _gone(proc), timeout=10):
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
            wait_for(lambda: _gone(proc), timeout=5)


# --- reading the requests -------------------------------------------------------------------------


def message_texts(request: RecordedRequest) -> list[tuple[str, str]]:
    """Each message of the request as (role, all its text), tool results included; the system prompt excluded."""
    body = request.body if isinstance(request.body, dict) else {}
    out = []
    for message in body.get("messages") or []:
        out.append((str(message.get("role")), "\n".join(_texts(message.get("content")))))
    return out


def _texts(content: object) -> Iterator[str]:
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for block in content:
            if isinstance(block, dict):
                if isinstance(block.get("text"), str):
                    yield block["text"]
                yield from _texts(block.get("content"))


def hook_context(request: RecordedRequest, label: str, what: str) -> list[tuple[int, str]]:
    """(message index, role) of each message carrying ``<label> hook additional context: [treerag ... <what>``."""
    pattern = re.compile(
        re.escape(f"{label} hook additional context: [treerag project index for {PROJECT_NAME}: {what}")
    )
    return [(i, role) for i, (role, text) in enumerate(message_texts(request)) if pattern.search(text)]


def _excerpt(text: str) -> str:
    """A message's start, and every hook context in it (the CLI's own reminders are long and beside the point)."""
    pieces = [text[:300] + (" [...]" if len(text) > 300 else "")]
    for match in re.finditer(r"[\w:]+ hook additional context: ", text):
        if match.start() >= 300:
            pieces.append("[...] " + text[match.start():match.start() + 1500])
    return "\n".join(pieces)


def diagnostics(api: FakeAnthropic, run: ClaudeRun | None, daemon: DaemonProcess | None = None) -> str:
    parts = [f"requests to the fake API:\n{api.summary()}"]
    for i, request in enumerate(api.turn_requests):
        parts.append(f"--- messages of turn request {i}:")
        for role, text in message_texts(request):
            parts.append(f"[{role}] {_excerpt(text)}")
    if run is not None:
        parts.append(f"claude exit {run.returncode} after {run.seconds:.1f}s; stderr:\n{run.stderr[-4000:]}")
        for event in run.hook_responses():
            parts.append(f"hook {event.get('hook_name')}: exit {event.get('exit_code')} "
                         f"outcome {event.get('outcome')} stdout {str(event.get('stdout'))[:300]!r} "
                         f"stderr {str(event.get('stderr'))[:300]!r}")
        parts.append(f"result: {json.dumps(run.result)[:1500]}")
    if daemon is not None:
        parts.append(f"daemon log:\n{daemon.log_text()[-4000:]}")
    return "\n".join(parts)


# --- the tests ------------------------------------------------------------------------------------


def test_hook_context_reaches_the_model(claude_bin: tuple[Path, str], project: Path, home: Path,
                                        short_dir: Path) -> None:
    claude, _version = claude_bin
    daemon = start_daemon_process(short_dir / "treerag.sock")
    try:
        indexed = daemon.call("project.index", path=str(project))
        assert isinstance(indexed, dict) and indexed["files"] == len(PROJECT_FILES), indexed
        installed = install_hooks("user", project, hook_command(daemon.socket))
        assert installed.settings_path == home / ".claude" / "settings.json"

        target = project / "billing" / "invoice.py"
        script = [
            {"name": "Read", "input": {"file_path": str(target)}},
            "compute_invoice_total sums quantity times unit price, takes the loyalty discount off and adds VAT.",
        ]
        run = None
        with FakeAnthropic(script) as api:
            try:
                run = run_claude(claude, api, project, home)
                why = diagnostics(api, run, daemon)

                assert run.returncode == 0, why
                assert run.result.get("subtype") == "success" and not run.result.get("is_error"), why
                assert run.result.get("result") == script[1], why
                turns = api.turn_requests
                assert len(turns) == 2, why

                # Every treerag hook that ran answered with exit 0 and nothing on stderr.
                responses = run.hook_responses()
                ran = {e.get("hook_event") for e in responses}
                assert {"SessionStart", "UserPromptSubmit", "PreToolUse"} <= ran, why
                for event in responses:
                    assert event.get("exit_code") == 0 and not event.get("stderr"), why

                # First request: the prompt, the session overview and the prompt's matches.
                first, second = turns
                assert any(PROMPT in text for role, text in message_texts(first) if role == "user"), why
                assert hook_context(first, "SessionStart", "session overview"), why
                prompt_ctx = hook_context(first, "UserPromptSubmit", "files and symbols that match this prompt")
                assert prompt_ctx, why
                prompt_text = message_texts(first)[prompt_ctx[0][0]][1]
                assert "billing/invoice.py" in prompt_text and "compute_invoice_total" in prompt_text, why
                assert not hook_context(first, "PreToolUse:Read", "neighbours of"), why

                # Second request: the Read's result, with the file's neighbours placed beside it.
                texts = message_texts(second)
                neighbours = hook_context(second, "PreToolUse:Read", "neighbours of billing/invoice.py")
                assert neighbours, why
                index, role = neighbours[-1]
                assert role == "user", why
                assert "def compute_invoice_total(lines, customer_years=0):" in texts[index][1], why  # the tool result
                assert "billing/tax.py" in texts[index][1] and "app.py" in texts[index][1], why
                # The session context is sent once, not repeated with every request.
                assert len(hook_context(second, "SessionStart", "session overview")) == 1, why
            finally:
                if run is None:
                    print(diagnostics(api, None, daemon))
    finally:
        daemon.stop()
        stop_spawned_daemons(daemon.socket)  # had the daemon died, a hook would have started another


def test_claude_runs_unhindered_when_no_daemon_runs(claude_bin: tuple[Path, str], project: Path, home: Path,
                                                    short_dir: Path) -> None:
    claude, _version = claude_bin
    socket = short_dir / "treerag.sock"
    assert not socket.exists()
    target = project / "billing" / "invoice.py"
    script = [{"name": "Read", "input": {"file_path": str(target)}}, "It is computed in billing/invoice.py."]

    try:
        with FakeAnthropic(script) as api:
            baseline = run_claude(claude, api, project, home)  # no hooks installed yet
            assert baseline.returncode == 0, diagnostics(api, baseline)

        install_hooks("user", project, hook_command(socket))
        with FakeAnthropic(script) as api:
            run = run_claude(claude, api, project, home)
            why = diagnostics(api, run) + f"\nbaseline run without hooks: {baseline.seconds:.1f}s"

            assert run.returncode == 0, why
            assert run.result.get("subtype") == "success" and not run.result.get("is_error"), why
            assert len(api.turn_requests) == 2, why
            # The hooks ran, exited 0 and added nothing (stdout empty, no context in any request).
            responses = run.hook_responses()
            assert {"SessionStart", "UserPromptSubmit", "PreToolUse"} <= {e.get("hook_event") for e in responses}, why
            for event in responses:
                assert event.get("exit_code") == 0 and event.get("outcome") == "success", why
                assert not event.get("stdout"), why
            for request in api.turn_requests:
                for _role, text in message_texts(request):
                    assert "treerag" not in text and "hook additional context" not in text, why
            # A hook that waited for the daemon would show here (the hook timeouts are 2-5 s).
            assert run.seconds - baseline.seconds < 3.0, why

        # The client started a daemon, detached, for the next session; it comes up on its own.
        assert wait_for(lambda: socket.exists() and _treerag_daemons_on(socket), timeout=20), (
            "the hook client did not start a daemon; its log:\n"
            + _read(home / ".local" / "state" / "treerag" / "treerag.log")
        )
    finally:
        stop_spawned_daemons(socket)


def _read(path: Path) -> str:
    try:
        return path.read_text()[-4000:]
    except OSError as exc:
        return f"({exc})"


def test_a_parked_daemon_wakes_for_claude_and_answers_every_hook(claude_bin: tuple[Path, str], project: Path,
                                                                 home: Path, short_dir: Path) -> None:
    """An idle daemon parks (a small waiter holds its socket); the session's first hook wakes it, the evicted
    project reloads, and the prompt's context still reaches the model."""
    claude, _version = claude_bin
    daemon = start_daemon_process(short_dir / "treerag.sock", env={"TREERAG_RESOURCES_PARK_AFTER_S": "0.5"})
    try:
        daemon.call("project.index", path=str(project))
        daemon.call("project.evict", path=str(project))
        assert wait_for(lambda: "parked.py" in " ".join(psutil.Process(daemon.pid).cmdline()), timeout=10)
        install_hooks("user", project, hook_command(daemon.socket))
        script = ["compute_invoice_total sums the lines and adds VAT."]
        with FakeAnthropic(script) as api:
            run = run_claude(claude, api, project, home)
            why = diagnostics(api, run, daemon)
            assert run.returncode == 0 and run.result.get("result") == script[0], why
            for event in run.hook_responses():
                assert event.get("exit_code") == 0 and not event.get("stderr"), why
            first = api.turn_requests[0]
            assert hook_context(first, "SessionStart", "session overview"), why
            prompt_ctx = hook_context(first, "UserPromptSubmit", "files and symbols that match this prompt")
            assert prompt_ctx and "billing/invoice.py" in message_texts(first)[prompt_ctx[0][0]][1], why
        status = daemon.call("status")
        assert status["pid"] == daemon.pid and status["park"]["parks"] >= 1, status  # type: ignore[index]
    finally:
        daemon.stop()
        stop_spawned_daemons(daemon.socket)
