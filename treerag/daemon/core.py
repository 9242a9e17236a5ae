"""Core daemon methods: ping, health, status, metrics, subscribe, unsubscribe, shutdown, methods."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from treerag import __version__
from treerag.daemon.broadcast import TOPICS
from treerag.errors import InvalidParams

if TYPE_CHECKING:
    from treerag.daemon.app import Daemon
    from treerag.daemon.methods import RequestContext

__all__ = ["register"]


async def ping(ctx: RequestContext, params: dict[str, Any]) -> str:
    """Answer "pong"; the cheapest round trip."""
    return "pong"


async def health(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Liveness and identity: version, pid, uptime."""
    daemon = ctx.daemon
    return {
        "ok": True,
        "version": __version__,
        "pid": os.getpid(),
        "uptime_s": round(time.time() - daemon.started_at, 3),
        "socket": str(daemon.config.socket_path),
    }


async def status(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Everything `treerag status` shows: identity, process, server counters, features."""
    daemon = ctx.daemon
    sample = daemon.metrics_sample()
    sample.update(await health(ctx, params))
    sample["methods"] = daemon.methods.names()
    sample["subscribers"] = {topic: daemon.broadcast.listeners(topic) for topic in sorted(TOPICS)}
    return sample


async def metrics(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Metrics as JSON; ``names`` (list) or ``prefix`` (str) filter the registry part."""
    names = params.get("names")
    prefix = params.get("prefix")
    if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise InvalidParams("'names' must be a list of strings")
    if prefix is not None and not isinstance(prefix, str):
        raise InvalidParams("'prefix' must be a string")
    daemon = ctx.daemon
    return {
        "registry": daemon.metrics.export(names=names, prefix=prefix),
        "sample": daemon.metrics_sample(),
    }


def _topics(params: dict[str, Any]) -> set[str]:
    topics = params.get("topics", ["metrics"])
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        raise InvalidParams("'topics' must be a list of strings")
    unknown = set(topics) - TOPICS
    if unknown:
        raise InvalidParams(f"unknown topics {sorted(unknown)}; known: {sorted(TOPICS)}")
    return set(topics)


async def subscribe(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Push events on this connection: topics metrics (1 Hz), log, progress."""
    topics = _topics(params)
    ctx.daemon.broadcast.subscribe(ctx.connection, topics)
    return {"topics": sorted(ctx.connection.topics)}


async def unsubscribe(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Stop pushing the given topics (all when none are given)."""
    topics = _topics(params) if "topics" in params else set(TOPICS)
    ctx.daemon.broadcast.unsubscribe(ctx.connection, topics)
    return {"topics": sorted(ctx.connection.topics)}


async def shutdown(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Stop the daemon gracefully after this reply."""
    ctx.daemon.request_shutdown()
    return {"stopping": True, "pid": os.getpid()}


async def methods(ctx: RequestContext, params: dict[str, Any]) -> dict[str, str]:
    """List every method with its one-line description."""
    return ctx.daemon.methods.describe()


def register(daemon: Daemon) -> None:
    table = daemon.methods
    for name, handler in [
        ("ping", ping),
        ("health", health),
        ("status", status),
        ("metrics", metrics),
        ("subscribe", subscribe),
        ("unsubscribe", unsubscribe),
        ("shutdown", shutdown),
        ("methods", methods),
    ]:
        table.register(name, handler)
