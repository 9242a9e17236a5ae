"""Index commands: index, projects, remove, tree, query."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from treerag.cli.backend import open_backend
from treerag.cli.common import add_socket_option, format_bytes, load, print_table

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("index", help="index a project (through the daemon when one runs, else in-process)")
    p.add_argument("path", nargs="?", default=".", help="project root (default: current directory)")
    p.add_argument("--json", action="store_true", help="print the build report as JSON")
    add_socket_option(p)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("projects", help="list indexed projects")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_socket_option(p)
    p.set_defaults(func=cmd_projects)

    p = sub.add_parser("remove", help="forget a project and delete its index")
    p.add_argument("path", help="project root")
    add_socket_option(p)
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("tree", help="print the project tree as treerag sees it")
    p.add_argument("path", nargs="?", default=".", help="project root or a directory inside it")
    p.add_argument("--depth", type=int, default=100, help="deepest level to print (0 = top level)")
    p.add_argument("--symbols", action="store_true", help="list each file's symbols")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_socket_option(p)
    p.set_defaults(func=cmd_tree)

    p = sub.add_parser("query", help="rank the project's files for a text")
    p.add_argument("path", help="project root (or any path inside it)")
    p.add_argument("text", help="what to look for")
    p.add_argument("--limit", type=int, default=10, help="how many files (default 10)")
    p.add_argument("--json", action="store_true", help='print {"files": [{"path", "score", "symbols"}]}')
    add_socket_option(p)
    p.set_defaults(func=cmd_query)


class _ProgressBar:
    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.shown = False

    def __call__(self, event: Any) -> None:
        if not self.enabled or event.event != "progress":
            return
        data = event.data
        done, total = data.get("done", 0), data.get("total", 0)
        width = 30
        filled = int(width * done / total) if total else 0
        sys.stderr.write(f"\r{data.get('phase', ''):<6} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} ")
        sys.stderr.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()


def cmd_index(args: argparse.Namespace) -> int:
    root = Path(args.path).expanduser().resolve()
    if not root.is_dir():
        from treerag.errors import ProjectNotFound

        raise ProjectNotFound(str(root), want_directory=True)
    client, local = open_backend(load(args))
    bar = _ProgressBar()
    with client:
        if bar.enabled:
            if local:
                client.transport.stream_events(bar)
            else:
                client.on_event = bar
            client.call("subscribe", topics=["progress"])
        report = client.call("project.index", path=str(root))
    bar.finish()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    langs = ", ".join(f"{k} {v}" for k, v in report.get("languages", {}).items()) or "no recognised languages"
    skipped = report.get("skipped", {})
    skipped_text = ", ".join(f"{k} {v}" for k, v in sorted(skipped.items()) if v)
    print(f"Indexed {report['root']}: {report['files']} files, {report['symbols']} symbols ({langs}) "
          f"in {report['seconds']:.2f} s; {report['parsed']} parsed, {report['unchanged']} unchanged"
          + (f"; skipped: {skipped_text}" if skipped_text else "")
          + (" [no daemon: indexed in-process]" if local else ""))
    return 0


def cmd_projects(args: argparse.Namespace) -> int:
    client, _ = open_backend(load(args))
    with client:
        projects = client.call("project.list")["projects"]
    if args.json:
        print(json.dumps(projects, indent=2))
        return 0
    if not projects:
        print("no projects indexed yet; run `treerag index PATH`")
        return 0
    print_table(
        ["root", "files", "symbols", "state", "last indexed", "size"],
        [(p["root"], p["files"], p["symbols"], p["state"],
          time.strftime("%Y-%m-%d %H:%M", time.localtime(p["last_indexed"])) if p.get("last_indexed") else "-",
          format_bytes(p.get("db_bytes", 0))) for p in projects],
    )
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    client, _ = open_backend(load(args))
    with client:
        result = client.call("project.remove", path=str(Path(args.path).expanduser().resolve()))
    print(f"removed {result['removed']} and its index")
    return 0


def cmd_tree(args: argparse.Namespace) -> int:
    target = Path(args.path).expanduser().resolve()
    client, _ = open_backend(load(args))
    with client:
        result = client.call("project.tree", path=str(target), depth=max(0, min(args.depth, 100)),
                             symbols=args.symbols)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['root']}  ({result['files']} files, {result['symbols']} symbols)")
    for node in result["tree"]:
        indent = "  " * (node["depth"] + 1)
        name = node["path"].rsplit("/", 1)[-1]
        if node["kind"] == "dir":
            print(f"{indent}{name}/")
        else:
            print(f"{indent}{name}" + (f" — {node['summary']}" if node.get("summary") else ""))
        for s in node.get("symbols", []):
            summary = s.get("summary", "")
            if summary == f"{s['kind']} {s.get('signature', '')}".strip():
                summary = ""  # a fallback that only repeats the signature adds nothing here
            print(f"{indent}    {s['kind']} {s['name']}  L{s['line']}" + (f" — {summary}" if summary else ""))
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    client, _ = open_backend(load(args))
    with client:
        result = client.call("query", path=str(Path(args.path).expanduser().resolve()), text=args.text,
                             limit=max(1, min(args.limit, 1000)))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for f in result["files"]:
        print(f"{f['score']:.3f}  {f['path']}")
        for s in f["symbols"][:5]:
            print(f"         L{s['line']}: {s['signature'] or s['name']}")
    return 0
