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
    def __init__(self, errors: list[dict[str, Any]] | None = None, crashes: int = 0) -> None:
        self.tasks: list[Any] = []
        self.jobs: list[list[str]] = []
        self.errors = errors or []
        self.crashes = crashes

    def submit(self, kind: str, priority: int, run: Any, *, label: str = "", timeout_s: float | None = None) -> bool:
        assert kind == "enrich"
        self.tasks.append(run)
        return True

    async def run_batch(self, job: dict[str, Any]) -> dict[str, Any]:
        self.jobs.append(job["paths"])
        if self.crashes:
            self.crashes -= 1
            raise RuntimeError("enrichment worker died (exit -9)")
        if self.errors:
            return {"done": [], "errors": self.errors, "usage": {"requests": 1}}
        return {"done": job["paths"], "complete": job["paths"],
                "usage": {"requests": 1, "prompt_tokens": 10, "latencies_s": [0.01]}}

    def run_all(self) -> None:
        async def go() -> None:
            while self.tasks:
                try:
                    await self.tasks.pop(0)()
                except RuntimeError:
                    pass  # the task queue logs and counts it

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


def test_files_the_user_works_on_jump_the_queue_latest_first(tmp_path: Path) -> None:
    root, db = _project(tmp_path)
    h = Harness()
    runner = EnrichmentRunner(_config(), h.submit, run_batch=h.run_batch, batch_files=1)
    runner.queue_project(root, db)  # main.py is dispatched at once; the rest wait
    assert runner.boost(root, ["pkg/b.py"]) == 1
    assert runner.boost(root, ["pkg/a.py", "not/queued.py"]) == 1
    h.run_all()
    assert [job[0] for job in h.jobs] == ["main.py", "pkg/a.py", "pkg/b.py", "pkg/core.py"]


def test_a_dead_worker_gets_one_retry_then_its_files_fail(tmp_path: Path) -> None:
    root, db = _project(tmp_path)
    h = Harness(crashes=1)
    runner = EnrichmentRunner(_config(), h.submit, run_batch=h.run_batch, batch_files=4)
    runner.queue_project(root, db)
    h.run_all()
    assert len(h.jobs) == 2 and runner.statistics()["done"] == 4 and runner.statistics()["failed"] == 0
    assert "died" in runner.statistics()["last_error"]

    root2, db2 = _project(tmp_path / "again")
    h = Harness(crashes=2)
    runner = EnrichmentRunner(_config(), h.submit, run_batch=h.run_batch, batch_files=4)
    runner.queue_project(root2, db2)
    h.run_all()
    stats = runner.statistics()
    assert len(h.jobs) == 2 and stats["failed"] == 4 and stats["backlog"] == 0
    assert runner.statistics()["breaker"] == "closed"  # a crashing worker is not the endpoint's fault


def test_skipped_files_are_not_queued_again_until_they_change(tmp_path: Path) -> None:
    root, db = _project(tmp_path)
    h = Harness()

    async def skip_all(job: dict[str, Any]) -> dict[str, Any]:
        h.jobs.append(job["paths"])
        return {"skipped": [{"path": p, "reason": "denied"} for p in job["paths"]], "usage": {}}

    runner = EnrichmentRunner(_config(), h.submit, run_batch=skip_all, batch_files=8)
    runner.queue_project(root, db)
    h.run_all()
    assert runner.statistics()["skipped"] == 4
    assert runner.queue_project(root, db) == 0 and h.tasks == []  # a reload does not send them again
    assert runner.queue_project(root, db, ["pkg/a.py"]) == 1  # an edit does


def test_the_service_sleeps_until_the_breaker_lets_a_probe_through(tmp_path: Path) -> None:
    root, db = _project(tmp_path)
    h = Harness(errors=[{"message": "HTTP 503", "transient": True}])
    runner = EnrichmentRunner(_config(breaker_cooldown_s=0.2), h.submit, run_batch=h.run_batch, batch_files=4)

    async def go() -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(runner.service)
            runner.queue_project(root, db)
            while runner.statistics()["breaker"] != "open":
                await h.tasks.pop(0)()
            h.errors = []
            assert h.tasks == [] and runner.wake_in() is not None
            with anyio.fail_after(3):
                while not h.tasks:  # nothing but the service's timer can submit now
                    await anyio.sleep(0.02)
            await h.tasks.pop(0)()
            tg.cancel_scope.cancel()

    anyio.run(go)
    stats = runner.statistics()
    assert stats["breaker"] == "closed" and stats["done"] == 4 and stats["backlog"] == 0


def test_embeddings_only_queues_files_without_a_vector(tmp_path: Path) -> None:
    import sqlite3

    from treerag.enrich.vectors import put_vectors

    root, db = _project(tmp_path)
    config = EnrichConfig(embeddings_provider="openai", embeddings_model="e", base_url="http://127.0.0.1:9")
    runner = EnrichmentRunner(config, Harness().submit, run_batch=Harness().run_batch)
    assert runner.enabled
    conn = sqlite3.connect(db)
    digest = conn.execute("SELECT hash FROM files WHERE path='main.py'").fetchone()[0]
    with conn:
        put_vectors(conn, "openai", "e", [(digest, [1.0, 0.0])])
    conn.close()
    missing, gone = runner.missing(db)
    assert sorted(missing) == ["pkg/a.py", "pkg/b.py", "pkg/core.py"] and gone == []
    _, gone = runner.missing(db, ["pkg/a.py", "deleted.py"])
    assert gone == ["deleted.py"]
