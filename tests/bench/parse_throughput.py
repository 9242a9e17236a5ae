"""Parse throughput, run by hand (not a test): every .py file of the installed stdlib.

    .venv/bin/python tests/bench/parse_throughput.py [DIRECTORY] [--profile]

Prints files/s, MB/s and symbols/s of ``parse_file`` over the directory
(default: the stdlib of the running interpreter, site-packages excluded), and
the time the bare tree-sitter parse of the same bytes takes, for scale: the
machine's load moves both, their ratio much less.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sysconfig
import time
from pathlib import Path

from treerag.index.parsing import parse_file
from treerag.index.parsing.engine import load
from treerag.index.parsing.python import SPEC


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", default=sysconfig.get_paths()["stdlib"])
    parser.add_argument("--profile", action="store_true", help="print the top functions by cumulative time")
    args = parser.parse_args()
    root = Path(args.directory)
    files = [(p.relative_to(root).as_posix(), p.read_bytes()) for p in sorted(root.rglob("*.py"))
             if "site-packages" not in p.parts and p.is_file()]
    parse_file("warmup.py", b"def f(): pass\n")  # load the grammar outside the timing
    profile = cProfile.Profile() if args.profile else None
    if profile:
        profile.enable()
    started = time.perf_counter()
    symbols = imports = 0
    for rel, data in files:
        parsed = parse_file(rel, data)
        symbols += len(parsed.symbols)
        imports += len(parsed.imports)
    elapsed = time.perf_counter() - started
    if profile:
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(15)
    grammar = load(SPEC).parser
    started = time.perf_counter()
    for _, data in files:
        grammar.parse(data)
    bare = time.perf_counter() - started
    megabytes = sum(len(data) for _, data in files) / 1e6
    print(f"{len(files)} files, {megabytes:.1f} MB, {symbols} symbols, {imports} imports in {elapsed:.2f}s")
    print(f"{len(files) / elapsed:.0f} files/s, {megabytes / elapsed:.1f} MB/s, {symbols / elapsed:.0f} symbols/s")
    print(f"bare tree-sitter parse: {bare:.2f}s ({bare / elapsed:.0%} of the total)")


if __name__ == "__main__":
    main()
