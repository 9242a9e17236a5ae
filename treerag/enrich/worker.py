"""Enrichment worker process: ``python -m treerag.enrich.worker``.

Reads one JSON job on stdin ``{"root", "db", "config": {EnrichConfig fields},
"paths": [...], "nice"?}``; the API key comes in the environment variable
``TREERAG_ENRICH_API_KEY`` (never argv). For each file (inside the root only)
it builds Nodes (the file and its main symbols), applies cached enrichment
rows by (hash, node, provider, model) without any request, sends the rest
through privacy and batching to the provider, and writes each batch's results
in one transaction: enrichment rows, files.summary / symbols.summary (remote
wins over local) and the file's FTS docs column. Prints log lines
(``{"log": …}``) and one report line ``{"result": {...}}`` on stdout.
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
    return fid, digest, nodes


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
    from treerag.enrich.batching import batches
    from treerag.enrich.privacy import Privacy
    from treerag.enrich.providers import make_summary_provider
    from treerag.enrich.providers.base import ProviderError, Usage

    config = _config(request.get("config") or {})
    provider_name, model = config.provider, config.model
    root = Path(request["root"]).resolve()
    privacy = Privacy(config)
    report: dict[str, Any] = {"done": [], "cached": [], "skipped": [], "errors": [], "usage": {}}
    db = sqlite3.connect(request["db"], timeout=30)
    db.execute("PRAGMA busy_timeout=30000")
    usage = Usage()
    todo: list[Any] = []
    files: dict[str, tuple[int, str]] = {}
    for rel in request.get("paths", []):
        built = _nodes_for(db, root, rel, privacy, report)
        if built is None:
            continue
        fid, digest, nodes = built
        files[rel] = (fid, digest)
        cached = dict(
            db.execute(
                "SELECT node, summary FROM enrichment WHERE hash=? AND provider=? AND model=?",
                (digest, provider_name, model),
            ).fetchall()
        )
        if nodes and all(n.node in cached for n in nodes):
            with db:
                _apply(db, fid, {n.node: cached[n.node] for n in nodes})
            report["cached"].append(rel)
            continue
        todo.extend(nodes)
    provider = make_summary_provider(config, api_key=os.environ.get(API_KEY_ENV, ""))
    if provider is not None and todo:
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
                for rel, summaries in per_file.items():
                    fid, digest = files[rel]
                    db.executemany(
                        "INSERT OR REPLACE INTO enrichment(hash, node, provider, model, summary, created) "
                        "VALUES (?,?,?,?,?,?)",
                        [(digest, n, provider_name, model, s, now) for n, s in summaries.items()],
                    )
                    _apply(db, fid, summaries)
            report["done"].extend(sorted(per_file))
    db.close()
    report["usage"] = dataclasses.asdict(usage)
    report["done"] = sorted(set(report["done"]))
    return report


def main() -> int:
    return serve_one_job(run_job)


if __name__ == "__main__":
    raise SystemExit(main())
