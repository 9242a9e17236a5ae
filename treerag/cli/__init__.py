"""The ``treerag`` command: one parser, subcommands grouped by concern, errors as one line.

Each ``commands_*`` module adds its subcommands with ``add_parsers(sub)`` and
sets ``func`` on each; ``main`` parses, runs the function and maps every
``TreeragError`` to one line on stderr and a named exit code — never a
traceback. The hook fast path does not come through here (see
``treerag.hooks.run``), so this module may import what it likes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from treerag import __version__
from treerag.errors import DaemonAlreadyRunning, DaemonNotRunning, TreeragError

__all__ = ["EXIT_ALREADY_RUNNING", "EXIT_ERROR", "EXIT_NOT_RUNNING", "EXIT_OK", "build_parser", "main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3
EXIT_ALREADY_RUNNING = 4


def build_parser() -> argparse.ArgumentParser:
    from treerag.cli import (
        commands_context,
        commands_daemon,
        commands_doctor,
        commands_hooks,
        commands_index,
        commands_runtime,
        commands_top,
    )

    parser = argparse.ArgumentParser(
        prog="treerag",
        description="A local context engine for Claude Code.",
    )
    parser.add_argument("--version", action="version", version=f"treerag {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in (commands_daemon, commands_top, commands_index, commands_context, commands_hooks, commands_runtime, commands_doctor):
        module.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["hook"]:
        # The hook path must stay fast and silent: skip argparse and the other commands.
        from treerag.hooks.run import main as hook_main

        return hook_main(args_list[1:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    try:
        return int(args.func(args) or 0)
    except DaemonNotRunning as exc:
        print(f"treerag: {exc}", file=sys.stderr)
        return EXIT_NOT_RUNNING
    except DaemonAlreadyRunning as exc:
        print(f"treerag: {exc}", file=sys.stderr)
        return EXIT_ALREADY_RUNNING
    except TreeragError as exc:
        print(f"treerag: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("treerag: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:
        print(f"treerag: {exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}", file=sys.stderr)
        return EXIT_ERROR
