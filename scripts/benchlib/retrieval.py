"""Retrieval on real trees: behaviour prompts (no identifiers, few file names) over flask, requests and rich.

Each case is a prompt written like a change description and the file a developer
would change. ``rank_files`` on a real index is measured side by side with BM25
over whole-file text (FTS5, porter, the same words) and next to Aider's repo map
(``aider-chat`` in its own virtualenv, driven by ``aider_map.py``) on the same trees
in the same run: top-1, top-5 and MRR (ranks past 10 count as misses). The cases were
written by reading these projects' code; they are this project's own yardstick,
not an independent benchmark.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

from benchlib import corpora
from benchlib.common import BENCH_DIR, PYTHON, Row, sandbox

AIDER = "aider-chat==0.86.2"
AIDER_VENV = BENCH_DIR / "aider-venv"

CASES = [
    ("flask", "the secret key signs the session cookie and old keys still verify during rotation", "src/flask/sessions.py"),
    ("flask", "load settings from environment variables that start with a prefix", "src/flask/config.py"),
    ("flask", "the command line cannot locate the application factory when pointed at a package", "src/flask/cli.py"),
    ("flask", "serve a file from a directory safely and refuse paths that escape it", "src/flask/helpers.py"),
    ("flask", "responses serialise dictionaries with their keys sorted", "src/flask/json/provider.py"),
    ("flask", "tuples bytes and markup survive a round trip through the signed cookie serializer", "src/flask/json/tag.py"),
    ("flask", "render a jinja template incrementally as a generator", "src/flask/templating.py"),
    ("flask", "teardown callbacks run when the request context is popped", "src/flask/ctx.py"),
    ("flask", "class based handlers dispatch on the http method", "src/flask/views.py"),
    ("flask", "the client used in tests keeps cookies between requests", "src/flask/testing.py"),
    ("flask", "a group of routes registered later with a url prefix and subdomain", "src/flask/sansio/blueprints.py"),
    ("flask", "default handler writes log records to the wsgi errors stream", "src/flask/logging.py"),
    ("flask", "explain in debug mode that the form was not sent with multipart encoding", "src/flask/debughelpers.py"),
    ("flask", "reject request bodies larger than the configured maximum size", "src/flask/wrappers.py"),
    ("flask", "notify subscribers when a template has been rendered", "src/flask/signals.py"),
    ("flask", "context local proxies for the current application and request", "src/flask/globals.py"),
    ("requests", "retries and connection pool size for mounted transport adapters", "src/requests/adapters.py"),
    ("requests", "answer a digest challenge from the server with a hashed nonce", "src/requests/auth.py"),
    ("requests", "a cookie jar that behaves like a dict and works with the standard library", "src/requests/cookies.py"),
    ("requests", "drop the authorization header when a redirect goes to another host", "src/requests/sessions.py"),
    ("requests", "read proxy settings from the environment and honour no_proxy", "src/requests/utils.py"),
    ("requests", "header names compared without regard to case", "src/requests/structures.py"),
    ("requests", "errors raised when the read or connect timeout expires", "src/requests/exceptions.py"),
    ("requests", "look up numeric http codes by friendly names like not_found", "src/requests/status_codes.py"),
    ("requests", "encode uploaded files as a multipart form body", "src/requests/models.py"),
    ("rich", "estimated time remaining column for long running tasks", "rich/progress.py"),
    ("rich", "guide lines drawn for nested hierarchical data", "rich/tree.py"),
    ("rich", "show local variables for each stack frame when an exception is printed", "rich/traceback.py"),
    ("rich", "detect the colour system from the TERM and COLORTERM environment variables", "rich/console.py"),
    ("rich", "highlight source code with a pygments lexer and show line numbers", "rich/syntax.py"),
    ("rich", "square bracket tags for bold text and hyperlinks in strings", "rich/markup.py"),
    ("rich", "columns shrink to fit the terminal when cells contain long text", "rich/table.py"),
    ("rich", "log handler that prints levels in colour with timestamps", "rich/logging.py"),
    ("rich", "a box with a title around renderables", "rich/panel.py"),
    ("rich", "update a display in place many times per second without flicker", "rich/live.py"),
]
DEPTH = 10


def _scores(ranks: list[int]) -> tuple[float, float, float]:
    n = len(ranks) or 1
    return (sum(r == 1 for r in ranks) / n, sum(r <= 5 for r in ranks) / n,
            sum(1 / r for r in ranks if r <= DEPTH) / n)


def _rank_of(expected: str, ranked: list[str]) -> int:
    return ranked.index(expected) + 1 if expected in ranked else DEPTH + 1


def bench_retrieval(opts: object) -> list[Row]:
    from treerag.context.ranking import STOPWORDS, rank_files
    from treerag.index.builder import build_index
    from treerag.index.loaded import load_project

    ours: list[int] = []
    bm25: list[int] = []
    aider: list[int] = []
    aider_python, aider_error = _aider_python()
    with sandbox() as box:
        for name in dict.fromkeys(project for project, _, _ in CASES):
            root = box.path / name
            shutil.copytree(corpora.ensure(corpora.by_name(name)), root, symlinks=True)
            db = box.path / f"{name}.sqlite"
            build_index(root, db)
            project = load_project(root, db)
            whole = sqlite3.connect(":memory:")
            whole.execute("CREATE VIRTUAL TABLE docs USING fts5(path, content, tokenize = 'porter unicode61')")
            whole.executemany("INSERT INTO docs(path, content) VALUES(?, ?)",
                              [(p, (root / p).read_text(errors="replace")) for p in project.paths])
            cases = [(prompt, expected) for project_name, prompt, expected in CASES if project_name == name]
            if aider_python is not None and not aider_error:
                try:
                    rankings = _aider_rankings(aider_python, root, list(project.paths), [p for p, _ in cases])
                    aider += [_rank_of(expected, ranked) for (_, expected), ranked in zip(cases, rankings, strict=True)]
                except (subprocess.SubprocessError, OSError, ValueError, KeyError) as exc:
                    aider_error = f"aider repo map failed: {str(exc)[-200:]}"
            for prompt, expected in cases:
                ours.append(_rank_of(expected, [r.path for r in rank_files(project, prompt, limit=DEPTH)]))
                words = dict.fromkeys(w for w in re.findall(r"[a-z0-9]+", prompt.lower())
                                      if len(w) > 1 and w not in STOPWORDS)
                query = " OR ".join(f'"{w}"' for w in words)
                rows = whole.execute("SELECT path FROM docs WHERE docs MATCH ? ORDER BY bm25(docs), path LIMIT ?",
                                     (query, DEPTH)).fetchall() if query else []
                bm25.append(_rank_of(expected, [r[0] for r in rows]))
            project.close()
            whole.close()
    (o1, o5, om), (b1, b5, bm) = _scores(ours), _scores(bm25)
    projects = ", ".join(dict.fromkeys(p for p, _, _ in CASES))
    beaten = om > bm and o1 > b1
    peer = f"whole-file BM25 {b1:.3f} / {b5:.3f} / {bm:.3f}"
    if aider_error:
        peer += f"; Aider repo map unavailable ({aider_error})"
    else:
        a1, a5, am = _scores(aider)
        peer += f"; Aider repo map {a1:.3f} / {a5:.3f} / {am:.3f}"
        beaten = beaten and om > am and o1 > a1
    return [Row("retrieval", f"behaviour prompts on real trees ({len(CASES)} over {projects}): top-1 / top-5 / MRR",
                f"{o1:.3f} / {o5:.3f} / {om:.3f}", "beat BM25 and Aider's map", peer,
                "pass" if beaten else "short",
                {"ours": ours, "bm25": bm25, "aider": aider, "aider_error": aider_error, "aider_version": AIDER})]


def _aider_python() -> tuple[Path | None, str]:
    """The interpreter of a virtualenv with aider-chat, made on first use (a few minutes, from the registry)."""
    python = AIDER_VENV / "bin" / "python"
    marker = AIDER_VENV / f"{AIDER}.ok"
    if marker.exists():
        return python, ""
    try:
        subprocess.run([PYTHON, "-m", "venv", "--clear", str(AIDER_VENV)], check=True, capture_output=True,
                       timeout=120)
        subprocess.run([str(python), "-m", "pip", "install", "-q", AIDER], check=True, capture_output=True,
                       timeout=1200)
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        return None, f"could not install {AIDER}: {detail.decode(errors='replace').strip()[-160:] or exc}"
    marker.touch()
    return python, ""


def _aider_rankings(python: Path, root: Path, files: list[str], prompts: list[str]) -> list[list[str]]:
    request = {"root": str(root), "files": files, "prompts": prompts, "depth": DEPTH}
    out = subprocess.run([str(python), str(Path(__file__).with_name("aider_map.py"))], check=True,
                         input=json.dumps(request).encode(), capture_output=True, timeout=900)
    rankings = json.loads(out.stdout)["rankings"]
    if len(rankings) != len(prompts):
        raise ValueError(f"{len(rankings)} rankings for {len(prompts)} prompts")
    return rankings  # type: ignore[no-any-return]


__all__ = ["CASES", "bench_retrieval"]
