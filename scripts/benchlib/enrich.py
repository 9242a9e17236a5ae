"""Enrichment: local summaries per second, what they cost in worker RSS and index size, and ranking.

Summaries/s times ``treerag.enrich.local.summarise`` alone over every parsed
file of the largest corpus (django unless --quick), parsing excluded. Cost =
a cold ``build_index`` in a fresh interpreter with and without summaries: its
peak RSS (ru_maxrss, the index worker's work done in one process) and the
index size on disk. Ranking = the regression set's aggregate test
(tests/unit/context/test_ranking_regression.py) run with summaries on and off.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

from benchlib import corpora
from benchlib.common import PYTHON, Options, Row, error_row, mb

REPO = Path(__file__).resolve().parents[2]

_BUILD = """
import json, resource, sys, time
from pathlib import Path
from treerag.index.builder import build_index
root, db, on = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "1"
t = time.perf_counter()
build_index(root, db, summaries=on)
size = sum(p.stat().st_size for p in db.parent.iterdir() if p.name.startswith(db.name))
print(json.dumps({"seconds": time.perf_counter() - t, "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "size": size}))
"""

_RANK = """
import sys, pytest
import treerag.index.builder as b
b.build_index.__kwdefaults__["summaries"] = sys.argv[1] == "1"
sys.exit(pytest.main(["-q", "-s", "-p", "no:cacheprovider", "tests/unit/context/test_ranking_regression.py",
                      "-k", "aggregate"]))
"""


def bench_enrich(opts: Options) -> list[Row]:
    corpus = corpora.by_name("flask" if opts.quick else "django")
    rows: list[Row] = []
    for step in (_speed, _cost, _ranking):
        try:
            rows += step(corpus)
        except Exception as exc:
            rows.append(error_row("enrich", exc, step.__name__.strip("_")))
    return rows


def _speed(corpus: corpora.Corpus) -> list[Row]:
    from treerag.enrich.local import summarise
    from treerag.index.parsing import parse_file

    root = corpora.ensure(corpus)
    parsed = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.stat().st_size < (1 << 20):
            rel = path.relative_to(root).as_posix()
            parsed.append((rel, parse_file(rel, path.read_bytes())))
    symbols = sum(len(pf.symbols) for _, pf in parsed)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for rel, pf in parsed:
            summarise(pf, rel)
        best = min(best, time.perf_counter() - t)
    per_s = len(parsed) / best
    return [Row("enrich", f"local summaries, {corpus.name} ({len(parsed)} files, {symbols} symbols)",
                f"{per_s:,.0f} files/s ({(len(parsed) + symbols) / best:,.0f} nodes/s; {best:.2f} s)",
                raw={"files": len(parsed), "symbols": symbols, "seconds": best, "files_per_s": per_s})]


def _build(root: Path, on: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="trb-enrich-") as tmp:
        out = subprocess.run([PYTHON, "-c", _BUILD, str(root), str(Path(tmp) / "index.sqlite"), "1" if on else "0"],
                             capture_output=True, text=True, check=True, cwd=REPO, timeout=1800)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cost(corpus: corpora.Corpus) -> list[Row]:
    root = corpora.ensure(corpus)
    off, on = _build(root, False), _build(root, True)
    return [
        Row("enrich", f"cold build peak RSS, {corpus.name}, summaries on / off",
            f"{mb(on['maxrss'])} / {mb(off['maxrss'])} (+{mb(on['maxrss'] - off['maxrss'])})", raw={"on": on, "off": off}),
        Row("enrich", f"index size, {corpus.name}, summaries on / off",
            f"{mb(on['size'])} / {mb(off['size'])} (+{mb(on['size'] - off['size'])})"),
        Row("enrich", f"cold build time, {corpus.name}, summaries on / off", f"{on['seconds']:.1f} s / {off['seconds']:.1f} s"),
    ]


def _ranking(corpus: corpora.Corpus) -> list[Row]:
    del corpus
    result = {}
    for on in (True, False):
        out = subprocess.run([PYTHON, "-c", _RANK, "1" if on else "0"], capture_output=True, text=True, cwd=REPO,
                             timeout=900).stdout
        m = re.search(r"^all \(\d+\) treerag\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", out, re.MULTILINE)
        w = re.search(r"^\s+kind=words \(\d+\) treerag\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", out, re.MULTILINE)
        if not m:
            raise RuntimeError("regression table not found in pytest output")
        result[on] = (m.groups(), w.groups() if w else ("?",) * 3)
    fmt = lambda g: "/".join(g)  # noqa: E731
    return [Row("enrich", "ranking top-1/top-5/MRR, all cases, summaries on | off",
                f"{fmt(result[True][0])} | {fmt(result[False][0])}", raw={"on": result[True], "off": result[False]}),
            Row("enrich", "ranking top-1/top-5/MRR, kind=words, summaries on | off",
                f"{fmt(result[True][1])} | {fmt(result[False][1])}")]
