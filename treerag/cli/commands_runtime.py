"""Resource commands: evict projects from memory, inspect and steer the task queue."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from treerag.cli.common import add_socket_option, load, open_client, print_table

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("evict", help="unload a project from the daemon's memory (its index stays on disk)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("path", nargs="?", help="project root")
    target.add_argument("--all-but-current", action="store_true", help="unload every project but the current one")
    add_socket_option(p)
    p.set_defaults(func=cmd_evict)

    p = sub.add_parser("queue", help="show the background task queue; drain, pause or resume it")
    p.add_argument("action", nargs="?", choices=["status", "drain", "pause", "resume"], default="status")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_socket_option(p)
    p.set_defaults(func=cmd_queue)

    p = sub.add_parser("enrich", help="queue a project for enrichment by the configured remote provider")
    p.add_argument("path", nargs="?", default=".", help="project root (default: the current directory)")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_socket_option(p)
    p.set_defaults(func=cmd_enrich)


def cmd_evict(args: argparse.Namespace) -> int:
    with open_client(load(args)) as client:
        if args.all_but_current:
            result = client.call("project.evict_all_but_current")
            print(f"evicted {len(result['evicted'])} project(s); kept {result['current'] or 'none'}")
        else:
            result = client.call("project.evict", path=str(Path(args.path).expanduser().resolve()))
            print(f"evicted {result['evicted']}")
    return 0


def cmd_queue(args: argparse.Namespace) -> int:
    with open_client(load(args)) as client:
        if args.action != "status":
            result = client.call(f"queue.{args.action}")
            print(json.dumps(result) if args.json else
                  f"dropped {result['dropped']} pending task(s)" if args.action == "drain" else
                  f"queue {'paused' if result['paused'] else 'running'}")
            return 0
        status = client.call("queue.status")
        enrich = client.call("enrich.status")
    if args.json:
        print(json.dumps({**status, "enrich": enrich}, indent=2))
        return 0
    print(f"pending {status['pending']}, running {status['running']}, done {status['done']}, "
          f"failed {status['failed']}, rejected {status['rejected']}{', PAUSED' if status['paused'] else ''}")
    if status["by_kind"]:
        print_table(["kind", "pending", "running", "done", "failed"],
                    [(k, v.get("pending", 0), v.get("running", 0), v.get("done", 0), v.get("failed", 0))
                     for k, v in sorted(status["by_kind"].items())])
    if status["by_priority"]:
        print("pending by priority: " + ", ".join(f"{p}: {n}" for p, n in status["by_priority"].items()))
    for failure in status["failed_tasks"][-5:]:
        print(f"failed {failure['kind']} {failure['label']}: {failure['error']}")
    print(_enrich_line(enrich))
    return 0


def _enrich_line(e: dict) -> str:  # type: ignore[type-arg]
    if not e.get("enabled"):
        return "enrichment: local summaries only (no remote provider configured)"
    bands = ", ".join(f"{k}: {v}" for k, v in e["backlog_by_priority"].items())
    line = (f"enrichment {e['provider']}/{e['model']}: backlog {e['backlog']} ({bands}), done {e['done']}, "
            f"cached {e['cached']}, skipped {e['skipped']}, failed {e['failed']}; this hour {e['requests']} "
            f"requests, {e['tokens']} tokens; breaker {e['breaker']}{', PAUSED' if e['paused'] else ''}")
    return line + (f"; last error: {e['last_error']}" if e["last_error"] else "")


def cmd_enrich(args: argparse.Namespace) -> int:
    with open_client(load(args)) as client:
        result = client.call("enrich.start", path=str(Path(args.path).expanduser().resolve()))
    print(json.dumps(result) if args.json else
          f"queued {result['queued']} file(s) for {result['provider']}" if result["provider"] != "local" else
          "no remote provider configured: local summaries are made at index time")
    return 0
