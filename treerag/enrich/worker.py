"""Enrichment worker process: ``python -m treerag.enrich.worker``.

Reads one JSON job on stdin ``{"root", "db", "config": {EnrichConfig fields},
"paths": [...], "nice"?}``; the API key comes in the environment variable
``TREERAG_ENRICH_API_KEY`` (never argv). For each file (inside the root only)
it builds Nodes (the file and its main symbols), applies cached enrichment
rows by (hash, node, provider, model) without any request, sends the rest
through privacy and batching to the provider, and writes each batch's results
in one transaction: enrichment rows, files.summary / symbols.summary (remote
wins over local) and the file's FTS docs column. With an embeddings provider
configured it then embeds each file (path, summary and an excerpt) whose
content hash has no vector yet and stores int8 vectors. Prints log lines
(``{"log": …}``) and one report line ``{"result": {...}}`` on stdout; the
report's ``complete`` lists the files with nothing left to do.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from treerag.index.worker import serve_one_job

__all__ = ["main", "run_job"]

logger = logging.getLogger(__name__)

API_KEY_ENV = "TREERAG_ENRICH_API_KEY"
MAX_SYMBOLS = 12
EXCERPT_CHARS = 4000
SYMBOL_CHARS = 1200
EMBED_CHARS = 2000  # of the file's text, after its path and summary
EMBED_BATCH = 32  # texts per embeddings request


def _config(raw: dict[str, Any]) -> Any:
    from treerag.config import EnrichConfig

    names = {f.name: f for f in dataclasses.fields(EnrichConfig)}
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in names}
    return EnrichConfig(**kwargs)


def _nodes_for(db: sqlite3.Connection, root: Path, rel: str, privacy: Any, report: dict[str, Any]) -> Any:
    from treerag.enrich.providers.base import Node

    row = db.execute("SELECT id, language, hash, summary FROM files WHERE path=?", (rel,)).fetchone()
    if row is None:
        report["skipped"].append({"path": rel, "reason": "not indexed"})
        return None
    fid, language, digest, summary = row
    target = (root / rel).resolve()
    if not target.is_relative_to(root):
        report["skipped"].append({"path": rel, "reason": "outside root"})
        return None
    try:
        text = target.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        logger.info("enrich: skip %s: %s", rel, exc)
        report["skipped"].append({"path": rel, "reason": f"unreadable: {type(exc).__name__}"})
        return None
    if privacy.is_secret(rel, text):
        report["skipped"].append({"path": rel, "reason": "secret"})
        return None
    excerpt = privacy.excerpt(rel, text)
    if excerpt is None:
        report["skipped"].append({"path": rel, "reason": "denied"})
        return None
    lines = excerpt.splitlines()
    nodes = [Node(rel, "", "file", language, excerpt[:EXCERPT_CHARS], summary)]
    symbols = db.execute(
        "SELECT qualname, kind, line, end_line, summary FROM symbols WHERE file_id=? AND kind IN "
        "('class','function','method') ORDER BY (end_line - line) DESC LIMIT ?",
        (fid, MAX_SYMBOLS),
    ).fetchall()
    for qualname, kind, line, end_line, ssum in symbols:
        body = "\n".join(lines[max(0, line - 1) : end_line])[:SYMBOL_CHARS]
        nodes.append(Node(rel, qualname, kind, language, body, ssum))
    return fid, digest, nodes, excerpt


def _apply(db: sqlite3.Connection, fid: int, summaries: dict[str, str]) -> None:
    """Write summaries of one file (node "" = the file) and refresh its FTS docs column."""
    for node, text in summaries.items():
        if node:
            db.execute("UPDATE symbols SET summary=? WHERE file_id=? AND qualname=?", (text, fid, node))
        else:
            db.execute("UPDATE files SET summary=? WHERE id=?", (text, fid))
    doc = db.execute("SELECT doc, summary FROM files WHERE id=?", (fid,)).fetchone()
    sym = db.execute("SELECT doc, summary FROM symbols WHERE file_id=?", (fid,)).fetchall()
    parts = [doc[0], doc[1], *(d for d, _ in sym if d), *(s for _, s in sym if s)]
    db.execute("UPDATE fts SET docs=? WHERE rowid=?", (" ".join(p for p in parts if p)[:20000], fid))


def run_job(request: dict[str, Any]) -> dict[str, Any]:
    from treerag.enrich.privacy import Privacy
    from treerag.enrich.providers import make_embedding_provider, make_summary_provider
    from treerag.enrich.providers.base import ProviderError, Usage

    config = _config(request.get("config") or {})
    root = Path(request["root"]).resolve()
    privacy = Privacy(config)
    report: dict[str, Any] = {"done": [], "cached": [], "skipped": [], "errors": [], "embedded": [],
                              "complete": [], "usage": {}}
    db = sqlite3.connect(request["db"], timeout=30)
    db.execute("PRAGMA busy_timeout=30000")
    usage = Usage()
    files: dict[str, tuple[int, str, str]] = {}  # path -> (file id, content hash, excerpt)
    summarised: set[str] = set()
    api_key = os.environ.get(API_KEY_ENV, "")
    try:
        summaries = make_summary_provider(config, api_key=api_key)
        todo: list[Any] = []
        for rel in request.get("paths", []):
            built = _nodes_for(db, root, rel, privacy, report)
            if built is None:
                continue
            fid, digest, nodes, excerpt = built
            files[rel] = (fid, digest, excerpt)
            if summaries is None:
                continue
            cached = dict(db.execute("SELECT node, summary FROM enrichment WHERE hash=? AND provider=? AND model=?",
                                     (digest, config.provider, config.model)).fetchall())
            if nodes and all(n.node in cached for n in nodes):
                with db:
                    _apply(db, fid, {n.node: cached[n.node] for n in nodes})
                report["cached"].append(rel)
                summarised.add(rel)
                continue
            todo.extend(nodes)
        if summaries is not None and todo:
            summarised |= _summarise(db, config, summaries, todo, files, usage, report)
        embedder = make_embedding_provider(config, api_key=api_key)
        embedded = _embed(db, config, embedder, files, usage, report) if embedder is not None else set(files)
    except ProviderError as exc:  # e.g. the local model is not installed: nothing more can be done here
        report["errors"].append({"message": str(exc), "transient": exc.transient, "status": exc.status})
        embedded = set()
    finally:
        db.close()
    summary_needed = config.provider not in ("local", "none", "")
    report["complete"] = sorted(rel for rel in files if (rel in summarised or not summary_needed) and rel in embedded)
    report["complete"] += [s["path"] for s in report["skipped"]]
    report["usage"] = dataclasses.asdict(usage)
    report["done"] = sorted(set(report["done"]))
    return report


def _summarise(db: sqlite3.Connection, config: Any, provider: Any, todo: list[Any],
               files: dict[str, tuple[int, str, str]], usage: Any, report: dict[str, Any]) -> set[str]:
    """Send ``todo`` nodes in batches; write each batch's summaries in one transaction. Returns the
    files all of whose nodes got a summary."""
    from treerag.enrich.batching import batches
    from treerag.enrich.providers.base import ProviderError

    wanted: dict[str, int] = {}
    for node in todo:
        wanted[node.path] = wanted.get(node.path, 0) + 1
    got: dict[str, int] = {}
    for batch in batches(todo, max_nodes=config.batch_nodes, max_chars=config.max_batch_chars):
        try:
            results = provider.summarise(batch, usage)
        except ProviderError as exc:
            report["errors"].append({"message": str(exc), "transient": exc.transient, "status": exc.status})
            if exc.transient:
                break  # the breaker in the daemon decides when to try again
            continue
        by_key = {s.key: s.summary for s in results}
        per_file: dict[str, dict[str, str]] = {}
        for node in batch:
            if node.key in by_key:
                per_file.setdefault(node.path, {})[node.node] = by_key[node.key]
        now = time.time()
        with db:
            for rel, texts in per_file.items():
                fid, digest, _ = files[rel]
                db.executemany(
                    "INSERT OR REPLACE INTO enrichment(hash, node, provider, model, summary, created) "
                    "VALUES (?,?,?,?,?,?)",
                    [(digest, n, config.provider, config.model, t, now) for n, t in texts.items()],
                )
                _apply(db, fid, texts)
                got[rel] = got.get(rel, 0) + len(texts)
        report["done"].extend(sorted(per_file))
    return {rel for rel, n in got.items() if n >= wanted.get(rel, 0)}


def embedding_text(rel: str, summary: str, excerpt: str) -> str:
    return f"{rel}\n{summary}\n{excerpt[:EMBED_CHARS]}".strip()


def _embed(db: sqlite3.Connection, config: Any, provider: Any, files: dict[str, tuple[int, str, str]],
           usage: Any, report: dict[str, Any]) -> set[str]:
    """Vectors for the files whose content hash has none yet; returns the files that have one now."""
    from treerag.enrich.providers import embedding_model
    from treerag.enrich.providers.base import ProviderError
    from treerag.enrich.vectors import put_vectors

    name, model = config.embeddings_provider, embedding_model(config)
    have: set[str] = set()
    todo: list[tuple[str, str, str]] = []  # (path, hash, text)
    for rel, (fid, digest, excerpt) in files.items():
        if db.execute("SELECT 1 FROM embeddings WHERE hash=? AND provider=? AND model=?",
                      (digest, name, model)).fetchone():
            have.add(rel)
            continue
        summary = db.execute("SELECT summary FROM files WHERE id=?", (fid,)).fetchone()
        todo.append((rel, digest, embedding_text(rel, summary[0] if summary else "", excerpt)))
    for start in range(0, len(todo), EMBED_BATCH):
        chunk = todo[start : start + EMBED_BATCH]
        try:
            vectors = provider.embed([text for _, _, text in chunk], usage)
        except ProviderError as exc:
            report["errors"].append({"message": str(exc), "transient": exc.transient, "status": exc.status})
            if exc.transient:
                break
            continue
        with db:
            put_vectors(db, name, model, [(digest, vec) for (_, digest, _), vec in zip(chunk, vectors, strict=True)])
        done = [rel for rel, _, _ in chunk]
        have.update(done)
        report["embedded"].extend(done)
    return have


def main() -> int:
    return serve_one_job(run_job)


if __name__ == "__main__":
    raise SystemExit(main())
