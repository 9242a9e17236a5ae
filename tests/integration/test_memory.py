"""Memory governance through a real daemon over its socket: limits, LRU eviction, recovery, sustained load.

CI has no downloaded corpora, so the "large projects" are synthetic Python
trees generated here (``make_large_project``: packages of modules importing
each other, with classes, methods, functions and docstrings, ~8 symbols and
3 imports a module) and indexed once per module into a shared cache, which
each test copies into its own ``XDG_CACHE_HOME``: the daemon discovers them
as evicted projects and loads them from disk on the first request, as it
does the morning after. Limits are set low (``memory_limit_mb``) so that a
few projects approach them; where a test needs the warning line between
two and three loaded projects, it reads what loading them costs on this
machine from a calibration daemon doing the same thing first.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import DaemonProcess, wait_for

MB = 1024 * 1024
WORDS = ("account audit batch cache cart catalog channel checkout client config coupon customer delivery "
         "discount event export filter gateway index invoice ledger loader merchant metric order parser payment "
         "pipeline price profile queue refund report request router schedule search session shipment stock store "
         "tax template token tracker user vendor warehouse webhook").split()
MODULES = 1500  # per project: about 1,560 files and 12,000 symbols, ~1 s to index


def make_large_project(root: Path, modules: int = MODULES, seed: int = 0) -> Path:
    """A synthetic Python project: ``modules`` modules in packages of 25, each importing three others."""
    rng = random.Random(seed)
    packages = max(1, modules // 25)
    names = []
    for m in range(modules):
        pkg = f"pkg_{m % packages:03d}_{WORDS[m % packages % len(WORDS)]}"
        names.append((pkg, f"{rng.choice(WORDS)}_{rng.choice(WORDS)}_{m}"))
    (root / "app").mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(f'[project]\nname = "{root.name}"\n')
    (root / "app" / "__init__.py").write_text('"""The application."""\n')
    for pkg in {p for p, _ in names}:
        (root / "app" / pkg).mkdir(exist_ok=True)
        (root / "app" / pkg / "__init__.py").write_text(f'"""The {pkg} package."""\n')

    def class_of(mod: str) -> str:
        a, b, m = mod.split("_")
        return f"{a.title()}{b.title()}{m}"

    for pkg, mod in names:
        a, b, _ = mod.split("_")
        cls = class_of(mod)
        lines = [f'"""{a.title()} {b} handling: keeps the {a} and its {b} in step."""', ""]
        for dep_pkg, dep in (names[rng.randrange(modules)] for _ in range(3)):
            lines.append(f"from app.{dep_pkg}.{dep} import {class_of(dep)}")
        lines += ["", "", f"class {cls}:", f'    """A {a} with its {b}."""', "",
                  "    def __init__(self, items=None):", "        self.items = list(items or [])", ""]
        for k in range(3):
            w = rng.choice(WORDS)
            lines += [f"    def {w}_{k}(self, value):", f'        """Apply the {w} rule to value."""',
                      f"        return [v for v in self.items if v != value] + [{k}]", ""]
        for k in range(3):
            w = rng.choice(WORDS)
            lines += ["", f"def {w}_{b}_{k}(data):", f'    """Compute the {w} of the {b} data."""',
                      f"    return {cls}(data).items[:{k + 1}]", ""]
        (root / "app" / pkg / f"{mod}.py").write_text("\n".join(lines) + "\n")
    return root


def index_into(cache: Path, root: Path) -> None:
    """``treerag index`` with no daemon (in-process), writing the index and project record under ``cache``."""
    home = cache.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREERAG_")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(cache), XDG_CONFIG_HOME=str(home / "config"),
               XDG_STATE_HOME=str(home / "state"))
    out = subprocess.run([sys.executable, "-m", "treerag", "index", str(root), "--json", "--socket",
                          str(home / "absent.sock")], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.fixture(scope="module")
def large_cache(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    """Three large synthetic projects, indexed once; (roots, the cache dir holding their indexes)."""
    base = tmp_path_factory.mktemp("large")
    cache = base / "home" / "cache"
    cache.mkdir(parents=True)
    roots = [make_large_project(base / f"large{i}", seed=i) for i in range(3)]
    for root in roots:
        index_into(cache, root)
    return roots, cache


@pytest.fixture
def large_projects(large_cache: tuple[list[Path], Path]) -> list[Path]:
    """The three projects, known to (but not loaded in) the daemons this test starts."""
    roots, cache = large_cache
    shutil.copytree(cache / "treerag", Path(os.environ["XDG_CACHE_HOME"]) / "treerag")
    return roots


def states(daemon: DaemonProcess) -> dict[str, str]:
    return {p["root"]: p["state"] for p in daemon.call("project.list")["projects"]}  # type: ignore[index]


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS"))


def use(daemon: DaemonProcess, root: Path, text: str = "refund ledger for the customer") -> list[str]:
    """One request that needs the project loaded (loading it first when evicted): the ranked paths."""
    reply = daemon.call("query", path=str(root), text=text)
    return [f["path"] for f in reply["files"]]  # type: ignore[index]


def resources(daemon: DaemonProcess) -> dict:  # type: ignore[type-arg]
    return daemon.call("status")["resources"]  # type: ignore[index, no-any-return]


def test_three_large_projects_approach_the_limit_and_the_least_recent_is_evicted(daemon_factory, large_projects):
    a, b, c = large_projects
    # Calibrate: what the monitor reads after each load, in a daemon doing exactly what the next one will.
    probe = daemon_factory("calibrate.sock")
    usage = []
    for root in (a, b, c):
        use(probe, root)
        usage.append(resources(probe)["usage_bytes"])
    probe.stop()
    assert usage[0] < usage[1] < usage[2], usage
    # The warning line (70% of the limit) half way between two and three loaded projects.
    limit_mb = round((usage[1] + usage[2]) / 2 / 0.7 / MB)
    assert usage[1] + 0.3 * MB < 0.7 * limit_mb * MB < usage[2] - 0.3 * MB, (usage, limit_mb)

    daemon = daemon_factory(env={"TREERAG_RESOURCES_MEMORY_LIMIT_MB": str(limit_mb)})
    use(daemon, a)
    use(daemon, b)
    assert states(daemon) == {str(a): "loaded", str(b): "loaded", str(c): "evicted"}
    assert resources(daemon)["pressure"] == "normal"
    use(daemon, c)
    after = resources(daemon)
    assert states(daemon) == {str(a): "evicted", str(b): "loaded", str(c): "loaded"}, after
    assert after["pressure_evictions"] == 1
    assert f"evicted {a} (memory pressure warning: least recently used)" in daemon.log_text()
    assert use(daemon, a), "an evicted project still answers (reloaded from its index)"


def test_one_large_project_stays_under_the_limit(daemon_factory, large_projects):
    daemon = daemon_factory(env={"TREERAG_RESOURCES_MEMORY_LIMIT_MB": "50"})  # the product target for one
    root = large_projects[0]
    assert use(daemon, root)[0].startswith("app/")
    for text in ("invoice tax report", "shipment tracker webhook", "coupon discount for the cart"):
        assert use(daemon, root, text)
    res = resources(daemon)
    assert res["pressure"] != "critical" and res["pressure_evictions"] == 0, res
    assert res["usage_bytes"] < res["limit_bytes"] and rss(daemon.pid) < 50 * MB, res
    assert states(daemon)[str(root)] == "loaded"


def _cycle(daemon: DaemonProcess, roots: list[Path]) -> tuple[int, int, int]:
    """Load every project, then evict them all: (RSS with all loaded, hot-set bytes the daemon counted, RSS after)."""
    for root in roots:
        use(daemon, root)
    loaded = rss(daemon.pid)
    records = daemon.call("project.list")["projects"]  # type: ignore[index]
    held = sum(p["memory_bytes"] for p in records if p["state"] == "loaded")
    for root in roots:
        daemon.call("project.evict", path=str(root))
    time.sleep(0.2)
    return loaded, held, rss(daemon.pid)


def test_memory_recovers_after_unload(large_projects, running_daemon):
    # The first round also pays for one-time imports and caches; from then on, unloading gives back what
    # loading took, round after round: the hot sets are dropped (the daemon counts none) and RSS does not
    # grow. (Loading again may reuse the heap the last round freed, so RSS need not rise while loaded.)
    _, _, baseline = _cycle(running_daemon, large_projects)
    records = running_daemon.call("project.list")["projects"]  # type: ignore[index]
    assert all(p["state"] == "evicted" and p["memory_bytes"] == 0 for p in records)
    for _ in range(3):
        loaded, held, unloaded = _cycle(running_daemon, large_projects)
        assert held > 3 * 100_000, held  # three large hot sets were really loaded
        assert unloaded < baseline + 1 * MB, (baseline, loaded, unloaded)
        records = running_daemon.call("project.list")["projects"]  # type: ignore[index]
        assert all(p["memory_bytes"] == 0 for p in records)


def test_no_oom_under_sustained_load(daemon_factory, large_projects):
    # A limit two projects' worth above idle: switching between three keeps the daemon evicting
    # and reloading; every request must still be answered and memory must stay bounded.
    probe = daemon_factory("calibrate.sock")
    idle = rss(probe.pid)
    use(probe, large_projects[0])
    one = resources(probe)["usage_bytes"] - idle
    probe.stop()
    limit_mb = math.ceil((idle + 2 * one) / 0.9 / MB)
    daemon = daemon_factory(env={"TREERAG_RESOURCES_MEMORY_LIMIT_MB": str(limit_mb)})
    texts = ["refund ledger", "invoice tax report", "shipment tracker", "cart coupon discount", "user session token"]
    peak = 0
    started = time.monotonic()
    requests = 0
    while time.monotonic() - started < 4.0:
        root = large_projects[requests % 3]
        assert use(daemon, root, texts[requests % len(texts)]), requests
        requests += 1
        if requests % 10 == 0:
            peak = max(peak, rss(daemon.pid))
    res = resources(daemon)
    assert daemon.proc.poll() is None and daemon.call("ping") == "pong"
    assert requests >= 30
    assert res["evictions"] >= 5, res  # it kept making room rather than growing
    assert peak < res["limit_bytes"], (peak, res)
    assert daemon.call("status")["server"]["errors"] == 0  # type: ignore[index]


def test_memory_limit_is_enforced_by_evicting_all_but_the_current_project(daemon_factory, tmp_path):
    # A limit below what the interpreter alone needs keeps the daemon at Critical: it must keep serving,
    # hold one project in memory (the one in use) and evict the rest, saying why in the log.
    from tests.integration.test_index_daemon import PROJECT, make_project, query, treerag

    daemon = daemon_factory(env={"TREERAG_RESOURCES_MEMORY_LIMIT_MB": "12"})
    first = make_project(tmp_path / "one", PROJECT)
    second = make_project(tmp_path / "two", PROJECT)
    assert treerag("index", str(first), sock=daemon.socket).returncode == 0
    assert treerag("index", str(second), sock=daemon.socket).returncode == 0
    assert wait_for(lambda: list(states(daemon).values()).count("loaded") <= 1, timeout=10), states(daemon)
    assert states(daemon)[str(first)] == "evicted"
    assert daemon.call("status")["resources"]["pressure"] == "critical"  # type: ignore[index]
    assert query(daemon.socket, first, "discount")[0] == "shop/pricing.py"  # still answered: reloaded from disk
    assert wait_for(lambda: states(daemon)[str(second)] == "evicted", timeout=10), states(daemon)
    assert "memory pressure critical: all but the current project" in daemon.log_text()

