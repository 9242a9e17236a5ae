"""The context cache as a user meets it, through a real daemon: hit rate, invalidation, pressure, warming.

The finer refresh rules (which entries an edit drops, the background
re-ranking of recent prompts) are in test_context_cache.py.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from tests.conftest import DaemonProcess, wait_for
from tests.integration.test_index_daemon import PROJECT, make_project
from tests.integration.test_memory import make_large_project


def hook(daemon: DaemonProcess, root: Path, event: str, **payload: object) -> str:
    return str(daemon.call("hook", event=event, payload={"session_id": "cache", "cwd": str(root),
                                                         "transcript_path": "/dev/null", **payload}))


def read(daemon: DaemonProcess, root: Path, rel: str) -> str:
    return hook(daemon, root, "pre-tool", tool_name="Read", tool_input={"file_path": str(root / rel)})


def prompt(daemon: DaemonProcess, root: Path, text: str) -> str:
    return hook(daemon, root, "prompt", prompt=text)


def cache(daemon: DaemonProcess) -> dict:  # type: ignore[type-arg]
    return daemon.call("status")["cache"]  # type: ignore[index, no-any-return]


def modules(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in (root / "app").rglob("*.py") if p.name != "__init__.py")


def test_hit_rate_above_90_percent_under_repeated_requests(running_daemon, tmp_path):
    """A session's pattern: a working set of files read again and again, a few prompts asked again."""
    root = make_large_project(tmp_path / "app", modules=200, seed=1)
    running_daemon.call("project.index", path=str(root))
    rng = random.Random(5)
    working_set = rng.sample(modules(root), 12)
    prompts = ["where is the refund computed", "invoice tax report", "shipment tracker webhook", "coupon for the cart"]
    before = cache(running_daemon)
    for i in range(200):
        if i % 5 == 0:
            prompt(running_daemon, root, prompts[(i // 5) % len(prompts)])
        else:
            read(running_daemon, root, working_set[min(int(rng.expovariate(0.4)), len(working_set) - 1)])
    after = cache(running_daemon)
    hits, misses = after["hits"] - before["hits"], after["misses"] - before["misses"]
    assert hits + misses == 200
    assert hits / 200 > 0.9, (hits, misses, after["misses_by_kind"])


def test_a_changed_file_is_never_served_stale(running_daemon, tmp_path):
    root = make_project(tmp_path / "shop", PROJECT)
    running_daemon.call("project.index", path=str(root))
    question = "how is the seasonal discount applied"
    assert "pricing" in prompt(running_daemon, root, question)
    assert "price_of" in read(running_daemon, root, "shop/pricing.py")
    updates = running_daemon.call("status")["index"]["updates"]  # type: ignore[index]
    (root / "shop" / "pricing.py").write_text('"""Prices and loyalty points."""\n\n\ndef loyalty_points(item):\n'
                                             '    """Points earned for buying one item."""\n    return 1\n')
    assert wait_for(lambda: running_daemon.call("status")["index"]["updates"] > updates, 15)  # type: ignore[index]
    text = read(running_daemon, root, "shop/pricing.py")
    assert "loyalty_points" in text and "price_of(" not in text.split("shop/pricing.py", 1)[-1].split("\n\n")[0]
    (root / "shop" / "pricing.py").unlink()
    assert wait_for(lambda: running_daemon.call("status")["index"]["updates"] > updates + 1, 15)  # type: ignore[index]
    assert read(running_daemon, root, "shop/pricing.py") == "{}"  # gone from the index: nothing to add
    assert "shop/pricing.py" not in prompt(running_daemon, root, question)


def test_a_file_changed_while_the_project_was_evicted_is_seen_after_reload(running_daemon, tmp_path):
    root = make_project(tmp_path / "shop", PROJECT)
    running_daemon.call("project.index", path=str(root))
    running_daemon.call("project.evict", path=str(root))
    (root / "shop" / "pricing.py").write_text('"""Prices."""\n\n\ndef zebra_tariff(item):\n    return 1\n')
    read(running_daemon, root, "shop/cart.py")  # the next request reloads the project
    assert wait_for(lambda: "zebra_tariff" in read(running_daemon, root, "shop/pricing.py"), 2)


def test_memory_pressure_evicts_cached_context_with_the_project(daemon_factory, tmp_path):
    # 12 MB is below what the interpreter alone needs: the daemon stays at Critical, keeps only the current
    # project and holds the cache at 16 entries.
    daemon = daemon_factory(env={"TREERAG_RESOURCES_MEMORY_LIMIT_MB": "12"})
    a = make_large_project(tmp_path / "a", modules=60, seed=2)
    b = make_project(tmp_path / "b", PROJECT)  # a few files: its warm-up leaves a's entries in the cache
    daemon.call("project.index", path=str(b))
    daemon.call("project.index", path=str(a))
    for rel in modules(a)[:30]:
        read(daemon, a, rel)
    assert cache(daemon)["entries"] <= 16
    invalidations = cache(daemon)["invalidations"]
    read(daemon, b, "shop/cart.py")  # b is loaded and current; a goes, and its entries with it
    states = {p["root"]: p["state"] for p in daemon.call("project.list")["projects"]}  # type: ignore[index]
    assert states == {str(a): "evicted", str(b): "loaded"}
    assert cache(daemon)["invalidations"] > invalidations
    for rel in ("shop/cli.py", "shop/pricing.py", "README.md", "tests/test_cart.py", "shop/__init__.py"):
        read(daemon, b, rel)
    for rel in modules(a)[30:50]:  # a reloads, a comes back as current, b goes; still no more than 16 entries
        read(daemon, a, rel)
    assert cache(daemon)["entries"] <= 16
    assert daemon.call("status")["resources"]["pressure"] == "critical"  # type: ignore[index]


def test_session_start_is_served_warm_and_warms_the_central_files(daemon_factory, tmp_path):
    """The overview and the most central files are computed when the project loads, so the session start
    that loads it and the first reads after it are answered from memory."""
    root = make_large_project(tmp_path / "app", modules=120, seed=4)
    first = daemon_factory("first.sock")
    first.call("project.index", path=str(root))
    first.stop()
    daemon = daemon_factory()  # knows the project from its record; nothing is loaded yet
    before = cache(daemon)
    overview = hook(daemon, root, "session-start", source="startup")
    after = cache(daemon)
    assert after["hits"] == before["hits"] + 1 and after["misses"] == before["misses"]
    assert after["prefetched"] >= 10
    central = list(dict.fromkeys(re.findall(r"- (app/[\w/]+\.py)", overview)))
    assert len(central) >= 5, overview
    for rel in central:
        read(daemon, root, rel)
    assert cache(daemon)["misses"] == after["misses"]
