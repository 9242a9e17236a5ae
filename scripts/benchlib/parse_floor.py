"""The tree-sitter floor of a cold index: what parsing alone costs, for the cold-index rows.

``python parse_floor.py ROOT [PROCESSES]`` scans ROOT as treerag does, then
times, in PROCESSES forked processes (files dealt round-robin), reading every
file of a parsed language, ``Parser.parse`` and one pass of treerag's own
definitions-and-tags query over the tree (consumed, not interpreted). No
symbols, rows, graph or database: any tree-sitter indexer pays at least this.
Prints one JSON object: wall seconds of the parse + query phase (forks
included, interpreter start and scan not), its CPU seconds, and the parse-only
CPU seconds. Run as its own process so that the bench keeps no grammars.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def _files(root: Path) -> list[tuple[str, str]]:
    from treerag.index.ignore import IgnoreRules
    from treerag.index.parsing import language_for
    from treerag.index.scanner import scan

    result = scan(root, rules=IgnoreRules(root))
    return [(f.rel, language_for(f.rel)) for f in result.files if language_for(f.rel) not in ("", "markdown")]


def _grammars(languages: set[str]) -> dict[str, tuple[object, object]]:
    from treerag.index.parsing import _available
    from treerag.index.parsing.engine import load

    grammars = {}
    for language in languages:
        spec = _available(language)
        if spec is not None:
            grammar = load(spec)
            grammars[language] = (grammar.parser, grammar.query)
    return grammars


def _work(root: Path, files: list[tuple[str, str]], grammars: dict[str, tuple[object, object]]) -> tuple[float, float]:
    from tree_sitter import QueryCursor

    parse_cpu = query_cpu = 0.0
    for rel, language in files:
        if language not in grammars:
            continue
        parser, query = grammars[language]
        try:
            data = (root / rel).read_bytes()
        except OSError:
            continue
        c0 = time.process_time()
        tree = parser.parse(data)  # type: ignore[attr-defined]
        c1 = time.process_time()
        len(QueryCursor(query).matches(tree.root_node))  # type: ignore[arg-type]
        parse_cpu += c1 - c0
        query_cpu += time.process_time() - c1
    return parse_cpu, query_cpu


def main(argv: list[str]) -> int:
    root = Path(argv[1]).resolve()
    processes = int(argv[2]) if len(argv) > 2 else 2
    files = _files(root)
    grammars = _grammars({language for _, language in files})
    started = time.perf_counter()
    pipes = []
    for i in range(processes):
        read_end, write_end = os.pipe()
        if os.fork() == 0:
            os.close(read_end)
            parse_cpu, query_cpu = _work(root, files[i::processes], grammars)
            os.write(write_end, json.dumps([parse_cpu, query_cpu]).encode())
            os._exit(0)
        os.close(write_end)
        pipes.append(read_end)
    parse_cpu = query_cpu = 0.0
    for read_end in pipes:
        with os.fdopen(read_end, "rb") as f:
            p, q = json.loads(f.read())
        parse_cpu, query_cpu = parse_cpu + p, query_cpu + q
    for _ in range(processes):
        os.wait()
    wall = time.perf_counter() - started
    print(json.dumps({"wall_s": round(wall, 4), "cpu_s": round(parse_cpu + query_cpu, 4),
                      "parse_cpu_s": round(parse_cpu, 4), "files": len(files), "processes": processes}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
