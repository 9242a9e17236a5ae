"""Dashboard commands: ``treerag top``, and the dashboard half of ``treerag serve``.

``treerag top`` attaches the dashboard to the running daemon; if none runs it
says so, and ``s`` starts one detached (``treerag serve --headless --detach``).

``treerag serve`` (without ``--headless``) runs the daemon *detached* and the
dashboard attached to it in the foreground. Quitting the dashboard leaves the
daemon running (Claude Code's hooks and other dashboards use it) and says so
in one line, with the command that stops it (``treerag stop``). Running
the daemon as a separate process, rather than in the dashboard's event loop,
keeps Textual out of the daemon's memory and keeps the daemon alive if the
terminal dies.

Textual is imported only inside the functions that run the app.
"""

from __future__ import annotations

import argparse
from typing import Any

from treerag.cli.commands_daemon import _daemon_argv, start_detached
from treerag.cli.common import add_socket_option, load, open_client
from treerag.errors import DaemonAlreadyRunning, DaemonNotRunning

__all__ = ["add_parsers", "run_dashboard", "serve_with_dashboard"]

PROBE_TIMEOUT_S = 5.0


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("top", help="watch and steer the daemon in a live dashboard")
    p.add_argument("--readonly", action="store_true", help="watch only: hide and disable every control")
    add_socket_option(p)
    p.set_defaults(func=cmd_top)


def cmd_top(args: argparse.Namespace) -> int:
    config = load(args)
    return run_dashboard(config, readonly=args.readonly, daemon_argv=_daemon_argv(args, config))


def run_dashboard(config: Any, *, readonly: bool = False, daemon_argv: list[str] | None = None) -> int:
    """Run the dashboard in the foreground until the user quits; returns the exit code."""
    from treerag.config import socket_path
    from treerag.tui import create_app

    path = socket_path(config)

    async def connect() -> Any:
        from treerag.client.aio import AsyncClient, AsyncUnixTransport

        # The app runs client.run() in its own task group (see create_app).
        return AsyncClient(await AsyncUnixTransport.connect(path))

    start_daemon = None
    if daemon_argv is not None:
        argv = daemon_argv

        async def start_daemon() -> None:
            import anyio

            await anyio.to_thread.run_sync(start_detached, argv, config)

    app = create_app(connect, readonly=readonly, start_daemon=start_daemon)
    app.run()
    return int(app.return_code or 0)


def serve_with_dashboard(args: argparse.Namespace, config: Any) -> int:
    """Start the daemon detached unless one runs, show the dashboard; the daemon outlives it."""
    argv = _daemon_argv(args, config)
    if not _daemon_answers(config):
        try:
            start_detached(argv, config)
        except DaemonAlreadyRunning:
            pass  # another process won the race: attach to that one
    code = run_dashboard(config, readonly=False, daemon_argv=argv)
    if _daemon_answers(config):
        print("treerag daemon keeps running in the background; stop it with `treerag stop`")
    return code


def _daemon_answers(config: Any) -> bool:
    try:
        with open_client(config, timeout=PROBE_TIMEOUT_S) as client:
            client.call("ping")
    except DaemonNotRunning:
        return False
    return True
