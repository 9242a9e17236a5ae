"""EnrichmentRunner: the daemon side of remote enrichment (summaries and/or embeddings).

One runner holds an EnrichmentQueue per project, hands a few batches at a
time to a ``submit(kind, priority, run, label=...)`` callable (the runtime's
TaskQueue.submit) as kind "enrich", and runs each batch through ``run_batch``
(by default the enrichment worker process). A Budget and a CircuitBreaker
gate dispatch; while either says no, nothing is dispatched and ``service``
sleeps once until ``wake_in`` says dispatch may resume, so no timer spins
(with nothing gated it waits on an event and never wakes). Nothing runs for
the "local" provider without an embeddings provider. After a batch lands,
``on_batch`` callbacks get the project root and the files whose enrichment
changed. ``statistics()`` returns the "enrich" sampler's keys.

Threads: :meth:`missing` only reads SQLite and may run in a worker thread;
everything else runs on the event loop.
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
MAX_ATTEMPTS = 2  # a batch whose worker died is tried once more, then its files count as failed
MIN_WAKE_S = 0.05
BATCH_TIMEOUT_REQUESTS = 20  # request timeouts a batch may take in all
INTEREST_PRIORITY = 1000  # files the user works on jump ahead of entry points, latest first

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
    embedded: int = 0
    announced: bool = False
    attempts: dict[str, int] = field(default_factory=dict)
    skipped_paths: set[str] = field(default_factory=set)  # secret, denied, unreadable: not re-queued on load


def _summaries_wanted(config: Any) -> bool:
    return config.provider not in ("local", "none", "")


def _embeddings_wanted(config: Any) -> bool:
    return config.embeddings_provider not in ("local", "none", "")


def _missing_paths(db: Path, config: Any, paths: Iterable[str] | None) -> tuple[dict[str, int], list[str]]:
    """Priorities of the files that still need a summary and/or a vector from the configured
    providers, and which of ``paths`` are no longer indexed."""
    from treerag.enrich.providers import embedding_model

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        needs = []
        args: list[str] = []
        if _summaries_wanted(config):
            needs.append("NOT EXISTS (SELECT 1 FROM enrichment e WHERE e.hash=f.hash AND e.node='' "
                         "AND e.provider=? AND e.model=?)")
            args += [config.provider, config.model]
        if _embeddings_wanted(config):
            needs.append("NOT EXISTS (SELECT 1 FROM embeddings v WHERE v.hash=f.hash AND v.provider=? AND v.model=?)")
            args += [config.embeddings_provider, embedding_model(config)]
        if not needs:
            return {}, []
        todo = {path for (path,) in conn.execute(f"SELECT f.path FROM files f WHERE {' OR '.join(needs)}", args)}
        wanted = None if paths is None else list(paths)
        prios = priorities_from_db(conn, wanted)
    finally:
        conn.close()
    gone = [p for p in wanted if p not in prios] if wanted is not None else []
    return {p: v for p, v in prios.items() if p in todo}, gone


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
        self.paused = False
        self.last_error = ""
        self.latencies_ms: deque[float] = deque(maxlen=LATENCIES_KEPT)
        self.projects: dict[Path, _Project] = {}
        self.on_batch: list[Callable[[Path, list[str]], None]] = []
        self.breaker = CircuitBreaker(cooldown_s=float(getattr(config, "breaker_cooldown_s", 30.0)), clock=clock)
        self._gated: Any = None  # anyio.Event the service waits on while nothing is gated
        # a batch is a few requests with retries; past this its worker is killed and the batch retried once
        self.batch_timeout_s = BATCH_TIMEOUT_REQUESTS * float(getattr(config, "request_timeout_s", 30.0))
        self._interest = 0

    @property
    def enabled(self) -> bool:
        return _summaries_wanted(self.config) or _embeddings_wanted(self.config)

    # -- queueing ------------------------------------------------------------------

    def missing(self, db: Path, paths: Iterable[str] | None = None) -> tuple[dict[str, int], list[str]]:
        """What :meth:`push` needs: (priority of each file still to enrich, paths gone). Reads SQLite
        only, so it may run in a worker thread."""
        if not self.enabled:
            return {}, []
        return _missing_paths(db, self.config, paths)

    def push(self, root: Path, db: Path, missing: dict[str, int], gone: Iterable[str] = (), *,
             changed: bool = False) -> int:
        """Queue ``missing`` for ``root`` (from :meth:`missing`) and dispatch; returns how many were new.
        Files skipped before (secrets, denied) are queued again only when they ``changed``."""
        if not self.enabled:
            return 0
        project = self.projects.setdefault(root, _Project(root, db))
        for path in gone:
            project.queue.discard(path)
            project.skipped_paths.discard(path)
        if changed:
            project.skipped_paths.difference_update(missing)
        else:
            missing = {p: v for p, v in missing.items() if p not in project.skipped_paths}
        new = project.queue.push_many(missing)
        self.pump()
        return new

    def queue_project(self, root: Path, db: Path, paths: Iterable[str] | None = None) -> int:
        """Queue the files (all, or the changed ``paths``) that still need enrichment (reads SQLite here)."""
        missing, gone = self.missing(db, paths)
        return self.push(root, db, missing, gone, changed=paths is not None)

    def forget(self, root: Path) -> int:
        """Drop a removed project's backlog; returns how many files it had queued."""
        project = self.projects.pop(root, None)
        return 0 if project is None else project.queue.drop()

    def boost(self, root: Path, paths: Iterable[str]) -> int:
        """The user works on ``paths``: move those still queued ahead of everything, the latest first."""
        project = self.projects.get(root)
        if project is None:
            return 0
        self._interest += 1
        moved = 0
        for path in paths:
            if path in project.queue:
                project.queue.push(path, INTEREST_PRIORITY + self._interest)
                moved += 1
        return moved

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

    def backlog(self) -> int:
        return sum(len(p.queue) for p in self.projects.values())

    async def service(self, task_status: Any = None) -> None:
        """One sleep at a time while dispatch is gated and work waits; otherwise wait for the next gating."""
        import anyio

        if task_status is not None:
            task_status.started()
        while True:
            delay = self.wake_in() if self.backlog() and not self.paused else None
            if delay is None:
                self._gated = anyio.Event()
                await self._gated.wait()
                continue
            await anyio.sleep(max(delay, MIN_WAKE_S))
            if self.pump():
                logger.info("enrichment resumed after waiting %.0f s (%s)", delay, self.breaker.state)

    def _gate_hit(self) -> None:
        if self._gated is not None:
            self._gated.set()

    def pump(self) -> int:
        """Dispatch batches while allowed; returns how many were submitted."""
        if self.paused or not self.enabled:
            return 0
        submitted = 0
        for project in self.projects.values():
            while project.in_flight < self.max_in_flight and len(project.queue):
                if not self.budget.allows() or not self.breaker.allow():
                    self._gate_hit()
                    return submitted
                paths = project.queue.pop_batch(self.batch_files)
                if not project.announced:
                    project.announced = True
                    from treerag.enrich.privacy import describe

                    logger.info("%s", describe(self.config, str(project.root), paths))
                project.in_flight += 1
                ok = self.submit("enrich", 10, lambda p=project, b=paths: self._batch(p, b),
                                 label=f"{project.root} ({len(paths)} files)", timeout_s=self.batch_timeout_s + 30)
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
        import anyio

        try:
            with anyio.fail_after(self.batch_timeout_s):  # ours, so a hung worker counts as a failure
                report = await self.run_batch(job)
        except Exception as exc:
            project.in_flight -= 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._retry_or_fail(project, paths)
            self.breaker.failure(transient=False)  # the worker, not the endpoint: keep the breaker as it is
            self.pump()
            raise
        except BaseException:  # cancelled (daemon stopping, task timeout): the files stay queued
            project.in_flight -= 1
            project.queue.push_many(dict.fromkeys(paths, 1))
            raise
        project.in_flight -= 1
        usage = report.get("usage") or {}
        self.budget.record(int(usage.get("requests", 0)),
                           int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0)))
        self.latencies_ms.extend(1000.0 * s for s in usage.get("latencies_s", []))
        project.done += len(report.get("done", []))
        project.cached += len(report.get("cached", []))
        project.embedded += len(report.get("embedded", []))
        skipped = [s.get("path") for s in report.get("skipped", [])]
        project.skipped += len(skipped)
        project.skipped_paths.update(p for p in skipped if p)
        complete = set(report.get("complete", [])) | set(skipped)
        for path in paths:
            project.attempts.pop(path, None)
        errors = report.get("errors") or []
        if errors:
            self.last_error = str(errors[-1].get("message", ""))
            transient = any(e.get("transient") for e in errors)
            self.breaker.failure(transient=transient)
            rest = [p for p in paths if p not in complete]
            if transient:
                project.queue.push_many(dict.fromkeys(rest, 1))  # try again later
            else:
                project.failed += len(rest)
        else:
            self.breaker.success()
        changed = sorted(set(report.get("done", [])) | set(report.get("cached", []))
                         | set(report.get("embedded", [])))
        if changed:
            for callback in self.on_batch:
                try:
                    callback(project.root, changed)
                except Exception:
                    logger.exception("enrichment batch callback failed")
        self.pump()

    def _retry_or_fail(self, project: _Project, paths: list[str]) -> None:
        """The worker died or timed out: its files go back once, then count as failed."""
        again = {}
        for path in paths:
            tries = project.attempts.get(path, 0) + 1
            if tries < MAX_ATTEMPTS:
                project.attempts[path] = tries
                again[path] = 1
            else:
                project.attempts.pop(path, None)
                project.failed += 1
        project.queue.push_many(again)
        if len(again) < len(paths):
            logger.warning("enrichment of %d file(s) in %s failed twice; given up until they change",
                           len(paths) - len(again), project.root, extra={"project": str(project.root)})

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
            "embedded": sum(p.embedded for p in projects),
            "embeddings_provider": self.config.embeddings_provider,
            "breaker": self.breaker.state,
            "wake_in_s": None if (w := self.wake_in()) is None else round(w, 1),
            "paused": self.paused,
            "last_error": self.last_error,
            "projects": {str(p.root): {"backlog": len(p.queue), "in_flight": p.in_flight, "done": p.done,
                                       "cached": p.cached, "skipped": p.skipped, "failed": p.failed,
                                       "embedded": p.embedded} for p in projects},
        }
