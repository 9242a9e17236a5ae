"""EnrichmentRunner: the daemon side of remote enrichment (not yet wired into the runtime).

One runner holds an EnrichmentQueue per project, hands a few batches at a
time to a ``submit(kind, priority, run, label=...)`` callable (the runtime's
TaskQueue.submit) as kind "enrich", and runs each batch through ``run_batch``
(by default the enrichment worker process). A Budget and a CircuitBreaker
gate dispatch; while either says no, nothing is dispatched and the caller is
told when to wake up (``wake_in``), so no timer spins. Nothing runs for the
"local" provider. ``statistics()`` returns the "enrich" sampler's keys.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from treerag.enrich.limits import Budget, CircuitBreaker
from treerag.enrich.queue import EnrichmentQueue, priorities_from_db

__all__ = ["EnrichmentRunner"]

logger = logging.getLogger(__name__)

BATCH_FILES = 8
IN_FLIGHT = 1
LATENCIES_KEPT = 512

Submit = Callable[..., bool]
RunBatch = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass
class _Project:
    root: Path
    db: Path
    queue: EnrichmentQueue = field(default_factory=EnrichmentQueue)
    in_flight: int = 0
    done: int = 0
    failed: int = 0
    cached: int = 0
    skipped: int = 0
    announced: bool = False


def _missing_paths(db: Path, provider: str, model: str, paths: Iterable[str] | None) -> dict[str, int]:
    """Priorities of the files whose content hash has no enrichment row for provider/model."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        done = {
            path
            for (path,) in conn.execute(
                "SELECT f.path FROM files f WHERE EXISTS (SELECT 1 FROM enrichment e WHERE e.hash=f.hash "
                "AND e.node='' AND e.provider=? AND e.model=?)",
                (provider, model),
            )
        }
        prios = priorities_from_db(conn, paths)
    finally:
        conn.close()
    return {p: v for p, v in prios.items() if p not in done}


async def _run_worker(job: dict[str, Any]) -> dict[str, Any]:
    import anyio

    env = dict(os.environ)
    key = job.pop("api_key", "")
    if key:
        env["TREERAG_ENRICH_API_KEY"] = key
    result = await anyio.run_process(
        [sys.executable, "-m", "treerag.enrich.worker"], input=(json.dumps(job) + "\n").encode(), env=env, check=False
    )
    for line in result.stdout.decode(errors="replace").splitlines():
        message = json.loads(line)
        if "log" in message:
            logger.info("enrich worker: %s", message["log"].get("message", ""))
        elif "result" in message:
            return dict(message["result"])
        elif "error" in message:
            raise RuntimeError(message["error"].get("message", "enrichment worker failed"))
    raise RuntimeError(f"enrichment worker died (exit {result.returncode})")


class EnrichmentRunner:
    def __init__(
        self,
        config: Any,
        submit: Submit,
        *,
        run_batch: RunBatch = _run_worker,
        api_key: str = "",
        clock: Callable[[], float] = time.monotonic,
        batch_files: int = BATCH_FILES,
        in_flight: int = IN_FLIGHT,
    ) -> None:
        self.config = config
        self.submit = submit
        self.run_batch = run_batch
        self.api_key = api_key
        self.batch_files = batch_files
        self.max_in_flight = in_flight
        self.budget = Budget(config.requests_per_hour, config.tokens_per_hour, clock=clock)
        self.breaker = CircuitBreaker(clock=clock)
        self.paused = False
        self.last_error = ""
        self.latencies_ms: deque[float] = deque(maxlen=LATENCIES_KEPT)
        self.projects: dict[Path, _Project] = {}

    @property
    def enabled(self) -> bool:
        return self.config.provider not in ("local", "none", "")

    # -- queueing ------------------------------------------------------------------

    def queue_project(self, root: Path, db: Path, paths: Iterable[str] | None = None) -> int:
        """Queue the files (all, or the changed ``paths``) that have no enrichment row yet."""
        if not self.enabled:
            return 0
        project = self.projects.setdefault(root, _Project(root, db))
        missing = _missing_paths(db, self.config.provider, self.config.model, paths)
        new = project.queue.push_many(missing)
        self.pump()
        return new

    def boost(self, root: Path, paths: Iterable[str], amount: int = 100) -> int:
        project = self.projects.get(root)
        return 0 if project is None else project.queue.boost(paths, amount)

    def drain(self) -> int:
        return sum(p.queue.drop() for p in self.projects.values())

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self.pump()

    # -- dispatch ------------------------------------------------------------------

    def wake_in(self) -> float | None:
        """Seconds until dispatch may resume when gated by the breaker or budget; None otherwise."""
        retry = self.breaker.retry_in()
        if retry is not None:
            return retry
        wait = self.budget.next_allowed_in()
        return wait or None

    def pump(self) -> int:
        """Dispatch batches while allowed; returns how many were submitted."""
        if self.paused or not self.enabled:
            return 0
        submitted = 0
        for project in self.projects.values():
            while project.in_flight < self.max_in_flight and len(project.queue):
                if not self.budget.allows() or not self.breaker.allow():
                    return submitted
                paths = project.queue.pop_batch(self.batch_files)
                if not project.announced:
                    project.announced = True
                    from treerag.enrich.privacy import describe

                    logger.info("%s", describe(self.config, str(project.root), paths))
                project.in_flight += 1
                ok = self.submit("enrich", 10, lambda p=project, b=paths: self._batch(p, b),
                                 label=f"{project.root} ({len(paths)} files)")
                if not ok:
                    project.in_flight -= 1
                    project.queue.push_many(dict.fromkeys(paths, 1))
                    return submitted
                submitted += 1
        return submitted

    async def _batch(self, project: _Project, paths: list[str]) -> None:
        job = {"root": str(project.root), "db": str(project.db), "paths": paths,
               "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.config).items()},
               "api_key": self.api_key, "nice": 10}
        try:
            report = await self.run_batch(job)
        except Exception as exc:
            project.failed += len(paths)
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.breaker.failure(transient=True)
            raise
        finally:
            project.in_flight -= 1
        usage = report.get("usage") or {}
        self.budget.record(int(usage.get("requests", 0)),
                           int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0)))
        self.latencies_ms.extend(1000.0 * s for s in usage.get("latencies_s", []))
        project.done += len(report.get("done", []))
        project.cached += len(report.get("cached", []))
        project.skipped += len(report.get("skipped", []))
        errors = report.get("errors") or []
        if errors:
            self.last_error = str(errors[-1].get("message", ""))
            transient = any(e.get("transient") for e in errors)
            self.breaker.failure(transient=transient)
            finished = set(report.get("done", [])) | set(report.get("cached", []))
            finished |= {s.get("path") for s in report.get("skipped", [])}
            rest = [p for p in paths if p not in finished]
            if transient:
                project.queue.push_many(dict.fromkeys(rest, 1))  # try again later
            else:
                project.failed += len(rest)
        else:
            self.breaker.success()
        self.pump()

    # -- status --------------------------------------------------------------------

    def _percentile(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    def statistics(self) -> dict[str, Any]:
        """The "enrich" sampler's keys (read by the dashboard)."""
        by_band = {"100": 0, "50": 0, "1": 0}
        for project in self.projects.values():
            for key, n in project.queue.counts_by_band().items():
                by_band[key] += n
        budget = self.budget.statistics()
        projects = self.projects.values()
        return {
            "provider": self.config.provider,
            "model": self.config.model,
            "backlog": sum(by_band.values()),
            "backlog_by_priority": by_band,
            "done": sum(p.done for p in projects),
            "failed": sum(p.failed for p in projects),
            "cached": sum(p.cached for p in projects),
            "skipped": sum(p.skipped for p in projects),
            "requests": budget["requests"],
            "tokens": budget["tokens"],
            "requests_per_hour_left": budget["requests_per_hour_left"],
            "tokens_per_hour_left": budget["tokens_per_hour_left"],
            "latency_p50_ms": self._percentile(0.5),
            "latency_p99_ms": self._percentile(0.99),
            "breaker": self.breaker.state,
            "paused": self.paused,
            "last_error": self.last_error,
        }
