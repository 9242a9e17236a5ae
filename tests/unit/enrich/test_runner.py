"""EnrichmentRunner with an in-memory submit and a scripted run_batch: order, pause/drain, breaker, budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio

from treerag.config import EnrichConfig
from treerag.enrich.runner import EnrichmentRunner
from treerag.index.builder import build_index


def _project(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "p"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "core.py").write_text("def core():\n    return 1\n")
    (root / "pkg" / "a.py").write_text("from pkg.core import core\n")
    (root / "pkg" / "b.py").write_text("from pkg.core import core\n")
    (root / "main.py").write_text("from pkg.core import core\nif __name__ == '__main__':\n    core()\n")
    db = tmp_path / "index.sqlite"
    build_index(root, db)
    return root, db


class Harness:
    def __init__(self, errors: list[dict[str, Any]] | None = None) -> None:
        self.tasks: list[Any] = []
        self.jobs: list[list[str]] = []
        self.errors = errors or []

    def submit(self, kind: str, priority: int, run: Any, *, label: str = "") -> bool:
        assert kind == "enrich"
        self.tasks.append(run)
        return True

    async def run_batch(self, job: dict[str, Any]) -> dict[str, Any]:
        self.jobs.append(job["paths"])
        if self.errors:
            return {"done": [], "errors": self.errors, "usage": {"requests": 1}}
        return {"done": job["paths"], "usage": {"requests": 1, "prompt_tokens": 10, "latencies_s": [0.01]}}

    def run_all(self) -> None:
        async def go() -> None:
            while self.tasks:
                await self.tasks.pop(0)()

        anyio.run(go)


def _config(**kw: Any) -> EnrichConfig:
    return EnrichConfig(provider="openai", model="m", base_url="http://127.0.0.1:9", **kw)


def test_most_important_first_in_batches(tmp_path: Path) -> None:
    root, db = _project(tmp_path)
    h = Harness()
    runner = EnrichmentRunner(_config(), h.submit, run_batch=h.run_batch, batch_files=2)
    assert runner.queue_project(root, db) == 4
    assert len(h.tasks) == 1  # one batch in flight, not the whole backlog
    h.run_all()
    flat = [p for job in h.jobs for p in job]
    assert flat[0] == "main.py" and flat[1] == "pkg/core.py", flat
    stats = runner.statistics()
    assert stats["done"] == 4 and stats["backlog"] == 0 and stats["requests"] == 2
    assert stats["breaker"] == "closed" and stats["latency_p50_ms"] == 10.0


def test_local_provider_does_nothing(tmp_path: Path) -> None:
    root, db = _project(tmp_path)
    h = Harness()
    runner = EnrichmentRunner(EnrichConfig(), h.submit, run_batch=h.run_batch)
    assert runner.queue_project(root, db) == 0
    assert h.tasks == []


def test_pause_holds_and_drain_drops(tmp_path: Path) -> None:
    root, db = _project(tmp_path)
    h = Harness()
    runner = EnrichmentRunner(_config(), h.submit, run_batch=h.run_batch, batch_files=1)
    runner.pause()
    runner.queue_project(root, db)
    assert h.tasks == [] and runner.statistics()["paused"] is True
    runner.resume()
    assert len(h.tasks) == 1
    assert runner.drain() == 3
    h.run_all()
    assert len(h.jobs) == 1


def test_transient_errors_open_the_breaker_and_stop_dispatch(tmp_path: Path) -> None:
    root, db = _project(tmp_path)
    h = Harness(errors=[{"message": "HTTP 500", "transient": True}])
    runner = EnrichmentRunner(_config(), h.submit, run_batch=h.run_batch, batch_files=1)
    runner.queue_project(root, db)
    h.run_all()
    assert len(h.jobs) == 3  # threshold 3, then nothing
    stats = runner.statistics()
    assert stats["breaker"] == "open" and stats["last_error"] == "HTTP 500"
    assert stats["backlog"] == 4  # requeued, not lost
    assert runner.wake_in() is not None


def test_budget_caps_requests(tmp_path: Path) -> None:
    root, db = _project(tmp_path)
    h = Harness()
    runner = EnrichmentRunner(_config(requests_per_hour=2), h.submit, run_batch=h.run_batch, batch_files=1)
    runner.queue_project(root, db)
    h.run_all()
    assert len(h.jobs) == 2
    stats = runner.statistics()
    assert stats["requests_per_hour_left"] == 0 and stats["backlog"] == 2
