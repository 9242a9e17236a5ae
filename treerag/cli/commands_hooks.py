"""Claude Code integration commands: hook, install-hooks, uninstall-hooks, plugin-dir."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from treerag.cli.common import add_socket_option, load

__all__ = ["add_parsers", "hook_command"]


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from treerag.hooks.run import EVENTS

    p = sub.add_parser("hook", help="the Claude Code hook client (reads hook JSON on stdin)")
    p.add_argument("event", choices=EVENTS, help="which hook")
    add_socket_option(p)
    # never reached: main() routes `hook` to the fast path before argparse; kept for --help

    p = sub.add_parser("install-hooks", help="wire treerag into Claude Code's settings")
    p.add_argument("--scope", choices=["user", "project", "local"], default="user",
                   help="user: ~/.claude/settings.json; project/local: .claude/ in the project")
    p.add_argument("--project", default=".", help="project directory for --scope project|local (default: .)")
    p.add_argument("--http", action="store_true", help="use the HTTP endpoint for the hooks that accept it")
    add_socket_option(p)
    p.set_defaults(func=cmd_install)

    p = sub.add_parser("uninstall-hooks", help="remove exactly the hooks install-hooks added")
    p.add_argument("--scope", choices=["user", "project", "local"], default="user")
    p.add_argument("--project", default=".", help="project directory for --scope project|local")
    p.set_defaults(func=cmd_uninstall)

    p = sub.add_parser("plugin-dir", help="print (or write) the Claude Code plugin directory")
    p.add_argument("--write", metavar="PATH", help="write the plugin to PATH instead of the default location")
    add_socket_option(p)
    p.set_defaults(func=cmd_plugin_dir)


def hook_command(config: Any) -> list[str]:
    """The exec-form hook command: this interpreter by absolute path, isolated, running the fast client."""
    from treerag.config import socket_path
    import treerag.hooks.run as run

    interpreter = os.path.abspath(sys.executable)
    return [interpreter, "-S", "-I", os.path.abspath(run.__file__), "--socket", str(socket_path(config))]


def _install_errors() -> tuple[type[BaseException], ...]:
    from treerag.hooks.install import InstallError

    return (InstallError,)


def cmd_install(args: argparse.Namespace) -> int:
    from treerag.hooks.install import install_hooks

    config = load(args)
    http_url = None
    if args.http:
        http_url = f"http://127.0.0.1:{config.get('http.port')}"
    result = install_hooks(args.scope, Path(args.project).resolve(), hook_command(config), http_url=http_url)
    verb = "installed" if result.changed else "already installed (unchanged)"
    print(f"treerag hooks {verb} in {result.settings_path}"
          + (f" (backup: {result.backup_path})" if result.backup_path else ""))
    if args.http:
        print("HTTP hooks read the bearer token from $TREERAG_HTTP_TOKEN in Claude Code's environment; "
              "start the daemon with `treerag serve --headless --detach --http` and export the token it prints.")
    return 0


def cmd_uninstall(args: argparse.Namespace) -> int:
    from treerag.hooks.install import uninstall_hooks

    result = uninstall_hooks(args.scope, Path(args.project).resolve())
    if result.removed:
        print(f"removed {result.removed} treerag hook(s) from {result.settings_path}")
    else:
        print(f"no treerag hooks in {result.settings_path}")
    return 0


def cmd_plugin_dir(args: argparse.Namespace) -> int:
    from treerag.config import cache_dir
    from treerag.hooks.plugin import write_plugin

    dest = Path(args.write).expanduser().resolve() if args.write else cache_dir() / "claude-plugin"
    print(write_plugin(dest, hook_command(load(args))))
    return 0
