"""Latency through a running daemon: live updates, cached context, uncached prompt ranking.

``update``: a copy of the medium tree is indexed and watched; each edit appends
a function with a fresh random name (letters only, so it is one search term no
earlier edit shares) to one file, then ``query`` is polled every ~10 ms until
that file comes back first with the new symbol. The time is from the end of
the write to that answer.

``context``: on the largest tree, one prompt asked again and again through the
``context`` method (cached after the first), then 100 distinct prompts through
the ``hook`` method's prompt event (each a cache miss: rank + render). The
daemon's own latency tracker (``status`` → ``latency``) gives the in-daemon
figures without IPC: ``context`` for the cached calls, ``hook.prompt`` for the
uncached ones, whose windows do not mix.
"""

from __future__ import annotations

import random
import re
import shutil
import string
import time
from collections import Counter
from pathlib import Path

from benchlib import corpora
from benchlib.common import Options, Row, ms, running_daemon, sandbox, summary, us, verdict

POLL_S = 0.010
UPDATE_TIMEOUT_S = 10.0
EDIT_FILE_CANDIDATES = ("src/flask/helpers.py", "src/flask/app.py")


def _pick_edit_file(root: Path) -> str:
    for rel in EDIT_FILE_CANDIDATES:
        if (root / rel).is_file():
            return rel
    biggest = max(root.rglob("*.py"), key=lambda p: p.stat().st_size)
    return biggest.relative_to(root).as_posix()


def _fresh_word(rng: random.Random, used: set[str]) -> str:
    while True:
        word = "zq" + "".join(rng.choice(string.ascii_lowercase) for _ in range(12))
        if word not in used:
            used.add(word)
            return word


def bench_update(opts: Options) -> list[Row]:
    edits = opts.pick(50, 20)
    rng = random.Random(7)
    used: set[str] = set()
    samples: list[float] = []
    timeouts = 0
    polls: list[int] = []
    with sandbox() as box:
        root = box.path / "tree"
        shutil.copytree(corpora.ensure(corpora.by_name(corpora.MEDIUM)), root, symlinks=True)
        rel = _pick_edit_file(root)
        target = root / rel
        with running_daemon(box) as daemon, daemon.client(30) as client:
            client.call("project.index", path=str(root))

            def edit_and_wait(name: str) -> tuple[float | None, int]:
                with open(target, "a") as f:
                    f.write(f"\n\ndef {name}():\n    return {name!r}\n")
                t0 = time.perf_counter()
                n = 0
                while time.perf_counter() - t0 < UPDATE_TIMEOUT_S:
                    n += 1
                    files = client.call("query", path=str(root), text=name, limit=3)["files"]
                    if files and files[0]["path"] == rel and any(s["name"] == name for s in files[0]["symbols"]):
                        return time.perf_counter() - t0, n
                    time.sleep(POLL_S)
                return None, n

            warm, _ = edit_and_wait(_fresh_word(rng, used))  # the watcher is running and the path is hot
            if warm is None:
                raise RuntimeError(f"an edit of {rel} never showed up in query within {UPDATE_TIMEOUT_S} s")
            for _ in range(edits):
                time.sleep(0.2)  # a gap between edits, so each is its own update (not one debounced batch)
                seconds, n = edit_and_wait(_fresh_word(rng, used))
                polls.append(n)
                if seconds is None:
                    timeouts += 1
                else:
                    samples.append(seconds)
            status = client.call("status")
        worker = _worker_alone(box, root, rel, opts.pick(15, 5))
    s = summary(samples)
    raw = {"file": rel, "edits": edits, "samples_s": samples, "timeouts": timeouts, "summary": s,
           "polls_per_edit": summary(polls), "index_stats": status.get("index"), "queue": status.get("queue"),
           "worker_alone": worker}
    if not samples:
        raise RuntimeError(f"none of {edits} edits showed up within {UPDATE_TIMEOUT_S} s")
    return [
        Row("update", f"edit → query finds it, P50 ({len(samples)}/{edits} edits of {rel})", ms(s["p50"], 0), "",
            f"poll every {POLL_S * 1e3:.0f} ms; timeouts {timeouts}", "info", raw),
        Row("update", "edit → query finds it, P99", ms(s["p99"], 0), "< 300 ms",
            f"max {ms(s['max'], 0)}; one-file index worker run alone P50 {ms(worker.get('p50', float('nan')), 0)}"
            f" / P99 {ms(worker.get('p99', float('nan')), 0)} (spawn + imports + update)",
            verdict(s["p99"] < 0.300 and timeouts == 0)),
    ]


def _worker_alone(box, root: Path, rel: str, runs: int) -> dict:  # type: ignore[no-untyped-def, type-arg]
    """What one update costs in its worker process alone: ``python -m treerag.index.worker`` on one changed file.

    Run after the daemon stopped, against the index it left, with the request the daemon sends.
    """
    import json
    import subprocess

    from benchlib.common import PYTHON

    dbs = list((box.cache / "treerag").rglob("index.sqlite"))
    if not dbs:
        return {"error": "no index.sqlite found"}
    times = []
    for i in range(runs):
        with open(root / rel, "a") as f:
            f.write(f"\n\ndef zqworkeralone{i}():\n    return {i}\n")
        request = {"root": str(root), "db": str(dbs[0]), "paths": [rel], "max_file_bytes": 1 << 20, "nice": 0}
        t0 = time.perf_counter()
        out = subprocess.run([PYTHON, "-m", "treerag.index.worker"], input=json.dumps(request).encode() + b"\n",
                             capture_output=True, env=box.env, timeout=60)
        times.append(time.perf_counter() - t0)
        if b'"result"' not in out.stdout:
            return {"error": out.stderr.decode(errors="replace")[-300:] or out.stdout.decode()[-300:]}
    return summary(times)


# -- context -----------------------------------------------------------------------------

_SPLIT = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_TEMPLATES = [
    "how does {a} work together with {b} in this codebase",
    "where is the {a} {b} logic implemented and who calls it",
    "fix the bug where {a} breaks {b} when {c} is empty",
    "add support for {a} to the {b} {c} handling",
    "why is {a} slow when {b} has many {c} entries",
    "refactor {a} so that {b} no longer depends on {c}",
    "write tests for {a} covering {b} and {c}",
    "explain the {a} lifecycle and how {b} is cleaned up",
]


def _vocabulary(tree: dict) -> list[str]:  # type: ignore[type-arg]
    words: Counter[str] = Counter()
    for node in tree["tree"]:
        for sym in node.get("symbols", []):
            for w in _SPLIT.findall(sym["name"]):
                if len(w) >= 4:
                    words[w.lower()] += 1
    return [w for w, _ in words.most_common(300)]


def _prompts(vocab: list[str], n: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        a, b, c = rng.sample(vocab, 3)
        prompt = rng.choice(_TEMPLATES).format(a=a, b=b, c=c)
        if prompt not in seen:
            seen.add(prompt)
            out.append(prompt)
    return out


def bench_context(opts: Options) -> list[Row]:
    cached_calls = opts.pick(2_000, 500)
    distinct = opts.pick(100, 40)
    corpus = corpora.largest(opts.quick)
    root = str(corpus.path)
    with running_daemon() as daemon, daemon.client(60) as client:
        report = client.call("project.index", path=root)
        vocab = _vocabulary(client.call("project.tree", path=root, symbols=True))
        if len(vocab) < 10:
            raise RuntimeError(f"{corpus.name}: too few symbol words ({len(vocab)}) to make prompts")
        prompts = _prompts(vocab, distinct + 1)
        repeated, fresh = prompts[0], prompts[1:]

        first = _timed(lambda: client.call("context", path=root, kind="prompt", prompt=repeated))
        cached_client = [_timed(lambda: client.call("context", path=root, kind="prompt", prompt=repeated))
                         for _ in range(cached_calls)]
        status1 = client.call("status")

        uncached_client = [_timed(lambda p=p: client.call(
            "hook", event="prompt", payload={"hook_event_name": "UserPromptSubmit", "cwd": root, "prompt": p,
                                             "session_id": "bench", "transcript_path": "/dev/null"}))
            for p in fresh]
        query_client = [_timed(lambda p=p: client.call("query", path=root, text=p, limit=10)) for p in fresh]
        status2 = client.call("status")
        text = client.call("context", path=root, kind="prompt", prompt=fresh[0])["text"]
    c, u, q = summary(cached_client), summary(uncached_client), summary(query_client)
    in_ctx = status1["latency"].get("context", {})
    in_hook = status2["latency"].get("hook.prompt", {})
    in_query = status2["latency"].get("query", {})
    raw = {"corpus": corpus.spec, "files": report.get("files"), "first_call_s": first, "cached_client": c,
           "uncached_client": u, "query_client": q, "in_daemon_context": in_ctx, "in_daemon_hook_prompt": in_hook,
           "in_daemon_query": in_query, "cache": status2.get("cache"), "example_prompts": fresh[:5],
           "example_context_chars": len(text)}
    label = f"{corpus.name}, {report.get('files')} files"
    rows = [
        Row("context", f"cached context P99 in-daemon ({cached_calls} calls, {label})",
            us(in_ctx.get("p99", float("nan"))), "< 1 ms",
            f"client P50 {us(c['p50'])} / P99 {us(c['p99'])}; first (uncached) {ms(first)}",
            verdict(in_ctx.get("p99", 1) < 0.001), raw),
        Row("context", f"uncached prompt ranking P50 in-daemon ({distinct} prompts, hook.prompt)",
            ms(in_hook.get("p50", float("nan"))), "", f"client P50 {ms(u['p50'])}", "info"),
        Row("context", "uncached prompt ranking P99 in-daemon", ms(in_hook.get("p99", float("nan"))), "< 20 ms",
            f"client P99 {ms(u['p99'])}; query method in-daemon P50 {ms(in_query.get('p50', float('nan')))} "
            f"/ P99 {ms(in_query.get('p99', float('nan')))}", verdict(in_hook.get("p99", 1) < 0.020)),
    ]
    return rows


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


__all__ = ["bench_context", "bench_update"]
