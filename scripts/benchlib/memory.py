"""Memory of a loaded project: tracemalloc bytes per file and per symbol, next to a naive loaded form.

Each tree is indexed once with ``treerag index`` into a sandbox cache, then
loaded in fresh probe interpreters so nothing else shares the heap:

- the hot set: ``treerag.index.loaded.load_project`` under tracemalloc; the
  bytes still traced after ``gc.collect()`` are what the project holds, the
  peak is what loading it costs on the way; the largest allocation sites
  (snapshot grouped by line) show what dominates;
- the floor a straightforward implementation would have, measured in the
  same run on the same database: one dict per file (path, language, flags,
  rank, its out- and in-edges as tuples) keyed by path and by id, and one
  dict per symbol (name, qualname, kind, signature, line, end line, file)
  with the strings as SQLite returns them (not interned);
- RSS: VmRSS, split into anonymous and file-backed pages, before and after
  ``load_project`` in a probe without tracemalloc (whose own bookkeeping
  would inflate it), and the daemon's with the large tree loaded from its
  index by a session-start hook, as a user's first prompt of the day does,
  and again after 100 distinct prompts have read the index (FTS, symbols).

Bytes per file and per symbol are the whole of each form divided by the
project's file and symbol counts, so the two forms compare line by line.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from benchlib import corpora
from benchlib.common import PYTHON, Options, Row, error_row, mb, proc_status, running_daemon, sandbox, verdict

_RSS_PROBE = r"""
import gc, json, sys
from pathlib import Path

def rss():
    out = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) * 1024
    return out

from treerag.index.loaded import load_project
gc.collect()
before = rss()
project = load_project(Path(sys.argv[1]), Path(sys.argv[2]))
gc.collect()
after = rss()
print(json.dumps({"before": before, "after": after, "files": project.files}))
"""

_TRACE_PROBE = r"""
import gc, json, sqlite3, sys, time, tracemalloc
from pathlib import Path

root, db_path, form = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

def naive_load(db_path):
    # what a straightforward loader would hold: an object per file and per symbol, strings as read
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    files = {}
    by_id = {}
    for fid, path, language, flags, rank in db.execute("SELECT id, path, language, flags, rank FROM files"):
        record = {"id": fid, "path": path, "language": language, "flags": flags, "rank": rank,
                  "out": [], "in": [], "symbols": []}
        files[path] = record
        by_id[fid] = record
    for src, dst, kind, weight in db.execute("SELECT src, dst, kind, weight FROM edges"):
        a, b = by_id.get(src), by_id.get(dst)
        if a is not None and b is not None:
            a["out"].append((dst, weight, kind))
            b["in"].append((src, weight, kind))
    symbols = []
    for row in db.execute("SELECT file_id, name, qualname, kind, signature, line, end_line FROM symbols"):
        owner = by_id.get(row[0])
        if owner is None:
            continue
        symbol = {"file": owner["path"], "name": row[1], "qualname": row[2], "kind": row[3],
                  "signature": row[4], "line": row[5], "end_line": row[6]}
        symbols.append(symbol)
        owner["symbols"].append(symbol)
    db.close()
    return files, by_id, symbols

if form == "loaded":
    from treerag.index.loaded import load_project
    load = lambda: load_project(root, db_path)
else:
    load = lambda: naive_load(db_path)
db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
n_files = db.execute("SELECT count(*) FROM files").fetchone()[0]
n_symbols = db.execute("SELECT count(*) FROM symbols").fetchone()[0]
db.close()
gc.collect()
tracemalloc.start(1)
before = tracemalloc.take_snapshot()
tracemalloc.reset_peak()
t0 = time.perf_counter()
held = load()
seconds = time.perf_counter() - t0
gc.collect()
after = tracemalloc.take_snapshot()
current, peak = tracemalloc.get_traced_memory()
stats = after.compare_to(before, "lineno")
total = sum(s.size_diff for s in stats)
top = [{"where": f"{Path(s.traceback[0].filename).name}:{s.traceback[0].lineno}", "bytes": s.size_diff,
        "count": s.count_diff} for s in stats[:8]]
print(json.dumps({"form": form, "files": n_files, "symbols": n_symbols, "bytes": total, "peak": peak,
                  "seconds": seconds, "top": top}))
"""


def _probe(code: str, *args: str, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run([PYTHON, "-c", code, *args], env=env, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"probe exited {out.returncode}: {out.stderr.strip()[-400:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _index(root: Path, env: dict[str, str], absent_socket: Path) -> dict[str, Any]:
    out = subprocess.run([PYTHON, "-m", "treerag", "index", str(root), "--json", "--socket", str(absent_socket)],
                         env=env, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"treerag index exited {out.returncode}: {out.stderr.strip()[-400:]}")
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _db_for(cache: Path, root: Path) -> Path:
    from treerag.runtime.projects import project_id

    return cache / "treerag" / "projects" / project_id(root.resolve()) / "index.sqlite"


def _size(nbytes: float) -> str:
    return mb(nbytes) if abs(nbytes) >= 1 << 20 else f"{nbytes / 1024:.0f} KiB"


def _per(nbytes: float, count: int) -> str:
    return f"{nbytes / count:,.0f} B" if count else "n/a"


def _split(sample: dict[str, int]) -> str:
    return f"anon {_size(sample.get('RssAnon', 0))}, file-backed {_size(sample.get('RssFile', 0))}"


def bench_memory(opts: Options) -> list[Row]:
    names = opts.pick(("django", "requests"), ("flask", "requests"))
    rows: list[Row] = []
    with sandbox() as box:
        absent = box.path / "no-daemon.sock"
        indexed: list[tuple[corpora.Corpus, Path]] = []
        for name in names:
            corpus = corpora.by_name(name)
            root = corpora.ensure(corpus)
            try:
                _index(root, box.env, absent)
                indexed.append((corpus, root))
                rows += _hot_set_rows(corpus, root, _db_for(box.cache, root), box.env)
            except Exception as exc:
                rows.append(error_row("memory", exc, f"hot set {name}"))
        if indexed:
            try:
                rows += _daemon_rows(box, *indexed[0], prompts=opts.pick(100, 40))
            except Exception as exc:
                rows.append(error_row("memory", exc, "daemon RSS with a large project loaded"))
        if not opts.quick and indexed:
            try:
                rows += _three_large_rows(box, indexed[0][1], absent)
            except Exception as exc:
                rows.append(error_row("memory", exc, "daemon RSS with three large projects loaded"))
    return rows


def _reload_and_load_rows(daemon: Any, root: Path, name: str, first_s: float, cache: Path, *,
                          cycles: int) -> list[Row]:
    """Reload of an evicted project (evict, then one prompt hook), and the daemon's CPU over a steady hook
    load: 5 hooks/s for 30 s (the soak's rate: a busy session), a prompt then four file reads each second."""
    from benchlib.common import cpu_seconds, percentile
    from benchlib.latency import _prompts

    reloads = []
    texts = _prompts(_vocabulary(_db_for(cache, root)), cycles + 60, seed=31)
    payload = {"cwd": str(root), "session_id": "bench-reload", "transcript_path": "/dev/null"}
    for text in texts[:cycles]:
        daemon.call("project.evict", path=str(root))
        t0 = time.perf_counter()
        daemon.call("hook", event="prompt", payload={**payload, "prompt": text})
        reloads.append(time.perf_counter() - t0)
        time.sleep(0.2)  # the reconcile walk that follows a load
    files = sorted(p for p in root.rglob("*.py") if "tests" not in p.parts)[:400]
    time.sleep(2.0)  # the last reload's reconcile walk is not part of the steady load
    window, rate = 30.0, 5
    cpu0, t0, sent = cpu_seconds(daemon.pid), time.monotonic(), 0
    with daemon.client() as client:
        while (now := time.monotonic()) - t0 < window:
            if sent % 5 == 0:
                client.call("hook", event="prompt", payload={**payload, "prompt": texts[cycles + sent // 5 % 60]})
            else:
                read = {"tool_name": "Read", "tool_input": {"file_path": str(files[sent % len(files)])}}
                client.call("hook", event="pre-tool", payload={**payload, **read})
            sent += 1
            time.sleep(max(0.0, t0 + sent / rate - time.monotonic()))
    cpu = 100 * (cpu_seconds(daemon.pid) - cpu0) / (time.monotonic() - t0)
    return [
        Row("memory", f"reload of an evicted project ({name}), next prompt hook, P50 / P99 of {len(reloads)}",
            f"{percentile(reloads, 50) * 1e3:.0f} ms / {percentile(reloads, 99) * 1e3:.0f} ms", "< 1 s",
            f"first load by a session-start hook {first_s * 1e3:.0f} ms", verdict(percentile(reloads, 99) < 1.0),
            {"reload_s": reloads}),
        Row("memory", f"daemon CPU answering a steady hook load ({rate}/s for {window:.0f} s, {name})",
            f"{cpu:.1f} %", "< 5 %", f"{sent} hooks: a distinct (uncached) prompt, then 4 Reads, every second", verdict(cpu < 5),
            {"cpu_percent": cpu, "hooks": sent}),
    ]


def _three_large_rows(box: Any, django: Path, absent: Path) -> list[Row]:
    """django, sympy and twisted loaded at once (each by a session-start hook and 20 prompts), against the
    100 MB default limit; the monitor may evict (past 70 %), so the row says how many stayed loaded."""
    from benchlib.latency import _prompts

    roots = [django]
    for name in ("sympy", "twisted"):
        root = corpora.ensure(corpora.by_name(name))
        _index(root, box.env, absent)
        roots.append(root)
    steps = []
    with running_daemon(box) as daemon:
        for root in roots:
            session = f"bench-3-{root.name}"
            daemon.call("hook", event="session-start", payload={"cwd": str(root), "session_id": session,
                                                                "source": "startup"})
            for text in _prompts(_vocabulary(_db_for(box.cache, root)), 20, seed=29):
                daemon.call("hook", event="prompt", payload={"cwd": str(root), "session_id": session,
                                                             "prompt": text, "transcript_path": "/dev/null"})
            time.sleep(0.5)
            status = daemon.call("status")
            process, resources = status.get("process") or {}, status.get("resources") or {}
            steps.append({"project": root.name, "total": process.get("total_rss_bytes") or 0,
                          "rss": _status(daemon.pid)["VmRSS"], "loaded": resources.get("loaded"),
                          "evictions": resources.get("evictions")})
    last = steps[-1]
    return [Row("memory", "daemon+workers RSS with 3 large projects loaded (django, sympy, twisted)",
                mb(last["total"]), "< 100 MB",
                "; ".join(f"+{s['project']} {mb(s['total'])}" for s in steps)
                + f"; {last['loaded']} of 3 loaded at the end, {last['evictions']} evictions",
                verdict(last["total"] < 100 << 20 and last["loaded"] == 3), {"steps": steps})]


def _hot_set_rows(corpus: corpora.Corpus, root: Path, db: Path, env: dict[str, str]) -> list[Row]:
    loaded = _probe(_TRACE_PROBE, str(root), str(db), "loaded", env=env)
    naive = _probe(_TRACE_PROBE, str(root), str(db), "naive", env=env)
    rss = _probe(_RSS_PROBE, str(root), str(db), env=env)
    files, symbols = loaded["files"], loaded["symbols"]
    name = f"{corpus.name} ({files:,} files, {symbols:,} symbols)"
    before, after = rss["before"], rss["after"]
    added = {k: after[k] - before[k] for k in after}
    sites = "; ".join(f"{t['where']} {t['bytes'] / 1024:.0f} KiB ×{t['count']}" for t in loaded["top"][:5])
    naive_sites = "; ".join(f"{t['where']} {t['bytes'] / 1024:.0f} KiB" for t in naive["top"][:3])
    return [
        Row("memory", f"hot set heap per file, {name}", _per(loaded["bytes"], files), "",
            f"naive dict per file and symbol {_per(naive['bytes'], files)}; held {_size(loaded['bytes'])} vs "
            f"{_size(naive['bytes'])} ({naive['bytes'] / max(loaded['bytes'], 1):.1f}×)", "info",
            {"loaded": loaded, "naive": naive}),
        Row("memory", f"hot set heap per symbol, {corpus.name}", _per(loaded["bytes"], symbols), "",
            f"naive {_per(naive['bytes'], symbols)} (symbols stay in SQLite in the hot set)", "info"),
        Row("memory", f"peak traced while loading, {corpus.name}", _size(loaded["peak"]), "",
            f"naive {_size(naive['peak'])}; load {loaded['seconds'] * 1e3:.0f} ms vs naive "
            f"{naive['seconds'] * 1e3:.0f} ms (under tracemalloc)", "info"),
        Row("memory", f"largest allocation sites of the hot set, {corpus.name}", f"{len(loaded['top'])} sites", "",
            f"{sites} | naive: {naive_sites}", "info"),
        Row("memory", f"RSS added by load_project, {corpus.name}", _size(added["VmRSS"]), "",
            f"{_split(added)}; probe before {mb(before['VmRSS'])}, after {mb(after['VmRSS'])}", "info", rss),
    ]


def _daemon_rows(box: Any, corpus: corpora.Corpus, root: Path, prompts: int) -> list[Row]:
    """A fresh daemon over the sandbox cache; a session-start hook loads the tree from its index, then
    ``prompts`` distinct prompts (each a cache miss: FTS, ranking, rendering) read the index as a session does."""
    from benchlib.latency import _prompts

    with running_daemon(box) as daemon:
        idle = _status(daemon.pid)
        t0 = time.perf_counter()
        daemon.call("hook", event="session-start",
                    payload={"cwd": str(root), "session_id": "bench-memory", "source": "startup"})
        seconds = time.perf_counter() - t0
        time.sleep(1.0)
        loaded = _status(daemon.pid)
        status = daemon.call("status")
        for text in _prompts(_vocabulary(_db_for(box.cache, root)), prompts, seed=23):
            daemon.call("hook", event="prompt", payload={"cwd": str(root), "session_id": "bench-memory",
                                                         "prompt": text, "transcript_path": "/dev/null"})
        time.sleep(0.5)
        served = _status(daemon.pid)
        extra = _reload_and_load_rows(daemon, root, corpus.name, seconds, box.cache, cycles=prompts // 5)
    total = (status.get("process") or {}).get("total_rss_bytes")
    return extra + [
        Row("memory", f"daemon RSS with {corpus.name} loaded (from its index, by a session-start hook)",
            mb(loaded["VmRSS"]), "< 50 MB",
            f"{_split(loaded)}; idle {mb(idle['VmRSS'])} ({_split(idle)}); workers+daemon {mb(total)}; "
            f"first hook {seconds * 1e3:.0f} ms", verdict(loaded["VmRSS"] < 50 << 20),
            {"idle": idle, "loaded": loaded, "hook_seconds": seconds, "status_process": status.get("process")}),
        Row("memory", f"daemon RSS with {corpus.name} loaded, after {prompts} distinct prompts",
            mb(served["VmRSS"]), "< 50 MB", f"{_split(served)}; +{mb(served['VmRSS'] - loaded['VmRSS'])} over "
            "the prompts", verdict(served["VmRSS"] < 50 << 20), {"served": served}),
    ]


def _vocabulary(db: Path) -> list[str]:
    """The index's 300 commonest symbol sub-words, read here (``project.tree`` with symbols would make the
    daemon build a reply of every symbol, tens of MB of transient objects, and be measured instead)."""
    import re
    import sqlite3
    from collections import Counter

    words: Counter[str] = Counter()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        for (name,) in conn.execute("SELECT name FROM symbols"):
            words.update(w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", name) if len(w) >= 4)
    finally:
        conn.close()
    return [w for w, _ in words.most_common(300)]


def _status(pid: int) -> dict[str, int]:
    s = proc_status(pid)
    return {k: int(s[k].split()[0]) * 1024 for k in ("VmRSS", "RssAnon", "RssFile") if k in s}


__all__ = ["bench_memory"]
