"""Daemon commands: serve, ping, status, stop, config show."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from treerag.cli.common import add_socket_option, format_bytes, format_duration, load, open_client, print_table
from treerag.errors import DaemonAlreadyRunning, TreeragError

__all__ = ["add_parsers", "start_detached"]

READY_TIMEOUT_S = 15.0


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="run the daemon (with the dashboard unless --headless)")
    p.add_argument("--headless", action="store_true", help="no dashboard: just the socket daemon")
    p.add_argument("--detach", action="store_true", help="run in the background, logging JSON lines to the state dir")
    p.add_argument("--http", action="store_true", help="also serve the HTTP hook endpoint on 127.0.0.1")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="log level")
    add_socket_option(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("ping", help="check that the daemon answers, and how fast")
    add_socket_option(p)
    p.set_defaults(func=cmd_ping)

    p = sub.add_parser("status", help="show the daemon's health, resources and projects")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    add_socket_option(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("stop", help="stop the running daemon")
    add_socket_option(p)
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser("config", help="configuration")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION")
    csub.required = True
    show = csub.add_parser("show", help="print the effective configuration and where each value came from")
    show.add_argument("--json", action="store_true", help="print JSON")
    add_socket_option(show)
    show.set_defaults(func=cmd_config_show)


def _daemon_argv(args: argparse.Namespace, config: Any) -> list[str]:
    from treerag.config import socket_path

    argv = [sys.executable, "-m", "treerag.daemon", "--socket", str(socket_path(config))]
    if getattr(args, "http", False):
        argv.append("--http")
    if getattr(args, "log_level", None):
        argv += ["--log-level", args.log_level]
    return argv


def cmd_serve(args: argparse.Namespace) -> int:
    config = load(args)
    if args.detach:
        pid, log = start_detached(_daemon_argv(args, config), config)
        from treerag.config import socket_path

        print(f"treerag daemon started (pid {pid}, socket {socket_path(config)}, log {log})")
        return 0
    if args.headless:
        argv = _daemon_argv(args, config)
        sys.stdout.flush()
        os.execv(argv[0], argv)  # the daemon sheds the CLI's imports
    from treerag.cli.commands_top import serve_with_dashboard

    return serve_with_dashboard(args, config)


def start_detached(argv: list[str], config: Any) -> tuple[int, Path]:
    """Start the daemon in its own session; wait (bounded) for it to report readiness."""
    from treerag.config import state_dir

    log = state_dir() / "treerag.log"
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(
            [*argv, "--ready-fd", str(write_fd), "--log-file", str(log)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(write_fd,),
            start_new_session=True,
            close_fds=True,
        )
    finally:
        os.close(write_fd)
    try:
        answer = _read_ready(read_fd, READY_TIMEOUT_S)
    finally:
        os.close(read_fd)
    if answer == "ok":
        return proc.pid, log
    if answer.startswith("error: "):
        message = answer[len("error: ") :]
        if "already running" in message:
            raise DaemonAlreadyRunning.from_message(message)
        raise TreeragError(f"daemon failed to start: {message}")
    code = proc.poll()
    raise TreeragError(
        f"daemon did not report ready within {READY_TIMEOUT_S:.0f}s"
        + (f" (exited with {code})" if code is not None else "")
        + f"; see {log}"
    )


def _read_ready(fd: int, timeout: float) -> str:
    import select

    deadline = time.monotonic() + timeout
    chunks = b""
    while b"\n" not in chunks:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        data = os.read(fd, 4096)
        if not data:
            break
        chunks += data
    return chunks.decode(errors="replace").strip()


def cmd_ping(args: argparse.Namespace) -> int:
    with open_client(load(args)) as client:
        started = time.perf_counter()
        answer = client.call("ping")
        elapsed = time.perf_counter() - started
    print(f"{answer} in {elapsed * 1e6:.0f} µs")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with open_client(load(args)) as client:
        status = client.call("status")
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
        return 0
    print_status(status)
    return 0


def _park_line(park: dict[str, Any]) -> str:
    after = float(park.get("after_s") or 0)
    line = f"after {format_duration(after)} idle" if after > 0 else "off"
    if park.get("parks"):
        times = "once" if park["parks"] == 1 else f"{park['parks']} times"
        line += f"; parked {times}, {format_duration(park.get('parked_s', 0))} in all"
    return line


def print_status(status: dict[str, Any]) -> None:
    proc = status.get("process", {})
    server = status.get("server", {})
    rows = [
        ("version", status.get("version", "?")),
        ("pid", status.get("pid", "?")),
        ("socket", status.get("socket", "?")),
        ("uptime", format_duration(status.get("uptime_s", 0))),
        ("memory", _memory_line(status)),
        ("cpu", f"{proc.get('cpu_percent', 0):.1f}%"),
        ("fds / threads", f"{proc.get('num_fds', '?')} / {proc.get('num_threads', '?')}"),
        ("connections", f"{server.get('connections_open', 0)} open, {server.get('connections_total', 0)} total"),
        ("requests", f"{server.get('requests', 0)} ({server.get('errors', 0)} errors)"),
    ]
    park = status.get("park")
    if park:
        rows.append(("parking", _park_line(park)))
    resources = status.get("resources")
    if resources:
        rows.append(("pressure", f"{resources.get('pressure', '?')}: {resources.get('loaded', 0)} loaded, "
                                 f"{resources.get('evicted', 0)} evicted, {resources.get('evictions', 0)} evictions"))
    queue = status.get("queue")
    if queue:
        rows.append(("queue", f"{queue['pending']} pending, {queue['running']} running, {queue['failed']} failed"
                              + (", paused" if queue.get("paused") else "")))
    cache = status.get("cache")
    if cache:
        rows.append(("context cache", f"{cache.get('hits', 0)} hits, {cache.get('misses', 0)} misses"))
    enrich = status.get("enrich")
    if enrich:
        rows.append(("enrichment", _enrich_summary(enrich)))
    print_table(["", ""], rows, header=False)
    latency = status.get("latency") or {}
    if latency:
        print()
        print_table(
            ["operation", "count", "p50", "p99"],
            [
                (op, v.get("count", 0), f"{v.get('p50', 0) * 1e3:.2f} ms", f"{v.get('p99', 0) * 1e3:.2f} ms")
                for op, v in sorted(latency.items())
            ],
        )
    projects = status.get("projects")
    if projects:
        print()
        print_table(
            ["project", "state", "files", "symbols", "last used"],
            [
                (p["root"], p.get("state", "?"), p.get("files", 0), p.get("symbols", 0),
                 f"{format_duration(max(0.0, time.time() - p['last_used']))} ago" if p.get("last_used") else "-")
                for p in projects
            ],
        )


def _enrich_summary(e: dict[str, Any]) -> str:
    """One line: provider, backlog, outcomes, spend, breaker (``treerag queue`` has the full line)."""
    line = (f"{e.get('provider')}/{e.get('model')}: backlog {e.get('backlog', 0)}, done {e.get('done', 0)}, "
            f"failed {e.get('failed', 0)}, {e.get('requests', 0)} requests / {e.get('tokens', 0)} tokens this hour, "
            f"breaker {e.get('breaker', '?')}")
    if e.get("embeddings_provider") not in (None, "none", ""):
        line += f", {e.get('embedded', 0)} embedded"
    if e.get("paused"):
        line += ", paused"
    return line + (f"; last error: {e['last_error']}" if e.get("last_error") else "")


def _memory_line(status: dict[str, Any]) -> str:
    proc = status.get("process", {})
    total = proc.get("total_rss_bytes", proc.get("rss_bytes", 0))
    limit = status.get("memory_limit_mb", 0)
    line = f"{format_bytes(total)} RSS (daemon {format_bytes(proc.get('rss_bytes', 0))}"
    if proc.get("children_rss_bytes"):
        line += f", workers {format_bytes(proc['children_rss_bytes'])}"
    line += f") of {limit} MB limit"
    if proc.get("uss_bytes"):
        line += f"; USS {format_bytes(proc['uss_bytes'])}"
    return line


def cmd_stop(args: argparse.Namespace) -> int:
    config = load(args)
    with open_client(config) as client:
        reply = client.call("shutdown")
    pid = int(reply.get("pid", 0))
    deadline = time.monotonic() + 10
    while pid and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        except PermissionError:
            break
        time.sleep(0.05)
    print(f"treerag daemon stopped (pid {pid})")
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    config = load(args)
    rows = config.describe()
    if args.json:
        print(json.dumps({key: {"value": value, "source": source} for key, value, source in rows}, indent=2))
        return 0
    print_table(["key", "value", "source"], [(k, json.dumps(v), s) for k, v, s in rows])
    return 0
