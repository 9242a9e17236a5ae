"""Indexing: cold index time next to ctags, index size on disk, and daemon RSS per loaded tree.

Cold index = ``python -m treerag index PATH --json`` with no daemon running (the
CLI's in-process mode, which runs the same daemon code and index worker) and
an empty ``XDG_CACHE_HOME`` every run; timed wall clock, interpreter start
included, as a user waits for it. The peer is ``ctags -R --fields=+n -f
/dev/null PATH`` on the same tree (also wall clock, process start included).
Runs alternate treerag, ctags, floor, treerag, ctags, floor, ... and the median
is kept. The floor (``parse_floor.py``) is tree-sitter's share alone: reading
and parsing every source file and one pass of treerag's query, in as many
processes as a build parses in; it shows how much of the gap to ctags any
tree-sitter indexer pays before it writes a row.

Bytecode is cached as an installed package has it (see ``common.Sandbox``);
one untimed run first makes sure the cache is full.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from benchlib import corpora
from benchlib.common import (PYTHON, Options, Row, error_row, mb, ratio, rss_bytes, running_daemon, sandbox,
                             uss_bytes, verdict)

CTAGS = ["ctags", "-R", "--fields=+n", "-f", "/dev/null"]
PARSE_FLOOR = Path(__file__).with_name("parse_floor.py")
PARSE_PROCESSES = 2  # as a requested build on this 2-core machine (treerag.index.worker.PARSE_WORKERS)


def _ctags_version() -> str | None:
    if shutil.which("ctags") is None:
        return None
    out = subprocess.run(["ctags", "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else None


def _tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def _dir_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def bench_index(opts: Options) -> list[Row]:
    runs = 3
    version = _ctags_version()
    rows: list[Row] = []
    for corpus in corpora.selected(opts.quick):
        try:
            rows += _cold_index(corpus, runs, version)
        except Exception as exc:
            rows.append(error_row("index", exc, f"cold index {corpus.name}"))
    try:
        rows += _daemon_rss(opts)
    except Exception as exc:
        rows.append(error_row("index", exc, "daemon RSS per loaded tree"))
    return rows


def _cold_index(corpus: corpora.Corpus, runs: int, ctags_version: str | None) -> list[Row]:
    root = corpora.ensure(corpus)
    walls: list[float] = []
    reported: list[float] = []
    ctags_walls: list[float] = []
    floor_walls: list[float] = []
    report: dict = {}  # type: ignore[type-arg]
    db_bytes = 0
    with sandbox() as box:
        absent_socket = box.path / "no-daemon.sock"
        command = [PYTHON, "-m", "treerag", "index", str(root), "--json", "--socket", str(absent_socket)]
        for run in range(runs + 1):
            env = box.fresh_cache()
            t0 = time.perf_counter()
            out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
            wall = time.perf_counter() - t0
            if out.returncode != 0:
                raise RuntimeError(f"treerag index exited {out.returncode}: {out.stderr.strip()[-400:]}")
            if run == 0:  # untimed: fills the bytecode cache
                continue
            walls.append(wall)
            report = json.loads(out.stdout)
            reported.append(float(report["seconds"]))
            db_bytes = _dir_bytes(box.cache / "treerag")
            if ctags_version:
                t0 = time.perf_counter()
                subprocess.run([*CTAGS, str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               check=True, timeout=900)
                ctags_walls.append(time.perf_counter() - t0)
            floor = subprocess.run([PYTHON, str(PARSE_FLOOR), str(root), str(PARSE_PROCESSES)], env=env,
                                   capture_output=True, text=True, timeout=900, check=True)
            floor_walls.append(float(json.loads(floor.stdout)["wall_s"]))
    files = int(report["files"])
    wall = statistics.median(walls)
    label = f"{corpus.name} ({corpus.language}, {files} files)"
    raw = {"corpus": corpus.spec, "files": files, "symbols": report.get("symbols"), "walls_s": walls,
           "reported_s": reported, "ctags_walls_s": ctags_walls, "floor_walls_s": floor_walls, "ctags": ctags_version, "db_bytes": db_bytes,
           "tree_bytes": _tree_bytes(root), "bytecode_cached": True, "languages": report.get("languages"),
           "skipped": report.get("skipped")}
    floor = statistics.median(floor_walls)
    if ctags_walls:
        ct = statistics.median(ctags_walls)
        rows = [Row("index", f"cold index {label}, median of {runs}",
                    f"{wall:.2f} s ({files / wall:.0f} files/s)", "≤ 3× ctags",
                    f"ctags {ct:.2f} s → {ratio(wall, ct):.1f}×; build alone {statistics.median(reported):.2f} s; "
                    f"tree-sitter parse + query alone {floor:.2f} s ({ratio(floor, ct):.1f}× ctags)",
                    verdict(wall <= 3 * ct), raw)]
    else:
        rows = [Row("index", f"cold index {label}, median of {runs}", f"{wall:.2f} s ({files / wall:.0f} files/s)",
                    "≤ 3× ctags", f"ctags not installed; tree-sitter parse + query alone {floor:.2f} s", "info", raw)]
    per_k = db_bytes / files * 1000 if files else 0
    rows.append(Row("index", f"index size on disk, {corpus.name}", f"{mb(per_k)} / 1,000 files", "",
                    f"total {mb(db_bytes)} for {mb(raw['tree_bytes'])} of source", "info"))
    return rows


def _daemon_rss(opts: Options) -> list[Row]:
    """Index the trees one after the other through one daemon (largest first) and read its memory."""
    order = sorted(corpora.selected(opts.quick), key=lambda c: -corpora.count_files(corpora.ensure(c)))
    rows: list[Row] = []
    steps = []
    with sandbox() as box, running_daemon(box) as daemon:
        base = {"rss": rss_bytes(daemon.pid), "uss": uss_bytes(daemon.pid)}
        loaded: list[str] = []
        for corpus in order:
            t0 = time.perf_counter()
            report = daemon.call("project.index", path=str(corpus.path))
            seconds = time.perf_counter() - t0
            loaded.append(corpus.name)
            status = daemon.call("status")
            rss, uss = rss_bytes(daemon.pid), uss_bytes(daemon.pid)
            proc = status["process"]
            states = {p["name"]: p["state"] for p in status.get("projects", [])}
            steps.append({"loaded": list(loaded), "rss": rss, "uss": uss, "status_process": proc,
                          "resources": status.get("resources"), "states": states,
                          "index_seconds": seconds, "files": report.get("files")})
    for i, step in enumerate(steps, start=1):
        target, ok = "", None
        if i == 1:
            target, ok = "< 50 MB", step["rss"] < 50 << 20
        elif i == 3:
            target, ok = "< 100 MB", step["rss"] < 100 << 20
        n_loaded = sum(1 for s in step["states"].values() if s == "loaded")
        rows.append(Row(
            "index", f"daemon RSS after indexing {i} project(s): +{step['loaded'][-1]}", mb(step["rss"]), target,
            f"USS {mb(step['uss'])}; idle {mb(base['rss'])}; workers+daemon {mb(step['status_process'].get('total_rss_bytes'))}; "
            f"{n_loaded}/{len(step['states'])} loaded; through daemon {step['index_seconds']:.2f} s",
            "info" if ok is None else verdict(ok), {"base": base, **step}))
    return rows


__all__ = ["bench_index"]
