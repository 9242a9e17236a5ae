"""Resource governance through a real daemon: idle eviction, manual eviction, fast reload, queue controls.

Memory limits and pressure eviction are in test_memory.py, CPU in test_cpu.py, the cache in test_cache.py.
"""

from __future__ import annotations

import json
import time

from tests.conftest import wait_for
from tests.integration.test_index_daemon import PROJECT, make_project, query, treerag


def states(daemon) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {p["root"]: p["state"] for p in daemon.call("project.list")["projects"]}


def test_idle_project_is_evicted_and_reloads_without_reindexing(daemon_factory, tmp_path):
    daemon = daemon_factory(env={"TREERAG_RESOURCES_IDLE_EVICT_MINUTES": "0.02"})  # 1.2 s
    project = make_project(tmp_path / "shop", PROJECT)
    assert treerag("index", str(project), sock=daemon.socket).returncode == 0
    assert wait_for(lambda: states(daemon)[str(project)] == "evicted", timeout=10)
    assert "idle for" in daemon.log_text()
    started = time.perf_counter()
    assert query(daemon.socket, project, "discount")[0] == "shop/pricing.py"
    assert time.perf_counter() - started < 1.0  # reload from disk, no re-index
    assert states(daemon)[str(project)] == "loaded"
    assert daemon.call("status")["index"]["updates"] == 0


def test_evict_commands_and_status(running_daemon, tmp_path):
    sock = running_daemon.socket
    a = make_project(tmp_path / "a", PROJECT)
    b = make_project(tmp_path / "b", PROJECT)
    for p in (a, b):
        assert treerag("index", str(p), sock=sock).returncode == 0
    query(sock, b, "cart")  # b is now the current project
    out = treerag("evict", "--all-but-current", sock=sock)
    assert out.returncode == 0 and f"kept {b}" in out.stdout
    assert states(running_daemon) == {str(a): "evicted", str(b): "loaded"}
    assert treerag("evict", str(b), sock=sock).returncode == 0
    assert states(running_daemon)[str(b)] == "evicted"
    status = json.loads(treerag("status", "--json", sock=sock).stdout)
    assert status["resources"]["pressure"] == "normal"
    assert status["resources"]["limit_bytes"] == 100 * 1024 * 1024
    assert status["resources"]["evictions"] == 2
    text = treerag("status", sock=sock).stdout
    assert "pressure" in text and "of 100 MB limit" in text


def test_queue_commands(running_daemon, tmp_path):
    sock = running_daemon.socket
    assert treerag("queue", "pause", sock=sock).stdout.strip() == "queue paused"
    project = make_project(tmp_path / "shop", PROJECT)
    assert running_daemon.call("project.index", path=str(project), wait=False)["queued"] is True
    status = json.loads(treerag("queue", "--json", sock=sock).stdout)
    assert status["paused"] and status["pending"] == 1 and status["by_kind"]["index"]["pending"] == 1
    assert "pending 1" in treerag("queue", sock=sock).stdout
    assert treerag("queue", "drain", sock=sock).stdout.strip() == "dropped 1 pending task(s)"
    assert running_daemon.call("project.index", path=str(project), wait=False)["queued"] is True
    assert treerag("queue", "resume", sock=sock).stdout.strip() == "queue running"
    assert wait_for(lambda: states(running_daemon).get(str(project)) == "loaded", timeout=20)
    assert json.loads(treerag("queue", "--json", sock=sock).stdout)["done"] == 1
