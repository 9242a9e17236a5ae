"""The enrichment worker as a real process against the fake OpenAI server: summaries written, cache reused."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from treerag.index.builder import build_index


def _run(job: dict, token: str) -> dict:  # type: ignore[type-arg]
    env = {**os.environ, "TREERAG_ENRICH_API_KEY": token}
    proc = subprocess.run(
        [sys.executable, "-m", "treerag.enrich.worker"],
        input=json.dumps(job) + "\n", capture_output=True, text=True, env=env, timeout=60, check=False,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    return next(line["result"] for line in lines if "result" in line)


def test_worker_summarises_then_reuses_the_cache(tmp_path: Path, fake_openai) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "proj"
    root.mkdir()
    (root / "app.py").write_text("def main():\n    return 1\n")
    (root / ".env").write_text("SECRET=1\n")
    db = tmp_path / "index.sqlite"
    build_index(root, db)
    job = {
        "root": str(root), "db": str(db), "paths": ["app.py", "missing.py"],
        "config": {"provider": "openai", "base_url": fake_openai.base_url, "model": "m"},
    }
    first = _run(job, "test-token")
    assert first["done"] == ["app.py"], first
    assert first["usage"]["requests"] == 1
    summary = sqlite3.connect(db).execute("SELECT summary FROM files WHERE path='app.py'").fetchone()[0]
    assert summary
    sent = len(fake_openai.requests)
    second = _run(job, "test-token")
    assert second["cached"] == ["app.py"] and second["done"] == []
    assert len(fake_openai.requests) == sent
