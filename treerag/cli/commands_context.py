"""``treerag context``: print exactly what a hook would inject."""

from __future__ import annotations

import argparse
from pathlib import Path

from treerag.cli.backend import open_backend
from treerag.cli.common import add_socket_option, load

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("context", help="print the context a hook would inject")
    p.add_argument("path", help="project root (or any path inside it)")
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument("--session", action="store_true", help="the session overview (SessionStart)")
    kind.add_argument("--prompt", metavar="TEXT", help="the context for a prompt (UserPromptSubmit)")
    kind.add_argument("--file", metavar="REL", help="the neighbours of a file (PreToolUse Read)")
    p.add_argument("--compact", action="store_true", help="with --session: the compact overview (resume/compact)")
    p.add_argument("--budget", type=int, metavar="TOKENS", help="token budget (about 4 characters a token)")
    add_socket_option(p)
    p.set_defaults(func=cmd_context)


def cmd_context(args: argparse.Namespace) -> int:
    path = str(Path(args.path).expanduser().resolve())
    params: dict[str, object] = {"path": path}
    if args.session:
        params.update(kind="session", compact=args.compact)
    elif args.prompt is not None:
        params.update(kind="prompt", prompt=args.prompt)
    else:
        params.update(kind="file", file=args.file)
    if args.budget is not None:
        params["budget"] = args.budget
    client, _ = open_backend(load(args))
    with client:
        text = client.call("context", **params)["text"]
    if text:
        print(text)
    return 0
