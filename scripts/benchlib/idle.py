"""Idle cost: RSS/USS, CPU, wake-ups, fds and threads of an idle (parked) daemon, next to bare interpreters.

An idle daemon parks (treerag/daemon/park.py): the window is measured once it
has, and the cost of waking it — the first request after a park — is
measured against a cold daemon start and an awake ping.

The daemon and the two floor processes (``time.sleep`` with and without
``import asyncio``) run at the same time and are sampled over the same window,
so they share the machine's noise. Wake-ups are voluntary context switches per
second summed over every thread (a process asleep in ``epoll_wait`` with no
timeout makes none). The import breakdown runs a daemon in a probe process to
learn which modules it really loads, then imports the heavy ones one by one in
another probe, reading VmRSS after each step.
"""

from __future__ import annotations

import json
import subprocess
import time

from benchlib.common import (PYTHON, Options, Row, background, context_switches, cpu_seconds, mb, num_fds,
                             num_threads, percentile, rss_bytes, running_daemon, sandbox, uss_bytes, verdict,
                             wait_until)

FLOOR_SLEEP = "import time; time.sleep(600)"
FLOOR_ASYNCIO = "import asyncio, time; time.sleep(600)"
PARK_AFTER_S = 5.0  # resources.park_after_s for this bench (default 60 s): the idle window starts once parked

#: what the daemon is suspected to pay for, in import order; each step's MB is what it adds to the ones before
IMPORT_STEPS = ["ssl", "asyncio", "logging", "sqlite3", "msgpack", "psutil", "anyio", "anyio._backends._asyncio",
                "treerag.daemon.bootstrap", "treerag.runtime.methods", "treerag.daemon.http"]

_RUNNING_PROBE = r"""
import json, os, sys
sock = sys.argv[1]

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) * 1024

before = rss()
from treerag.daemon.bootstrap import build_daemon
daemon = build_daemon({"daemon.socket_path": sock})
import anyio

def ready():
    print(json.dumps({"rss_before": before, "rss_ready": rss(), "modules": sorted(sys.modules)}), flush=True)
    daemon.request_shutdown()

anyio.run(lambda: daemon.run(on_ready=ready))
"""

_STEP_PROBE = r"""
import importlib, json, sys

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) * 1024

steps, rest, sock = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
print(json.dumps({"step": "interpreter + site", "rss": rss()}), flush=True)
for name in steps:
    importlib.import_module(name)
    print(json.dumps({"step": name, "rss": rss()}), flush=True)
for name in rest:
    try:
        importlib.import_module(name)
    except Exception:
        pass
print(json.dumps({"step": "every other module the daemon loads", "rss": rss()}), flush=True)
from treerag.daemon.bootstrap import build_daemon
daemon = build_daemon({"daemon.socket_path": sock})
print(json.dumps({"step": "build_daemon() (objects, config, logging)", "rss": rss()}), flush=True)
import anyio
def ready():
    print(json.dumps({"step": "listening (anyio.run, socket bound)", "rss": rss()}), flush=True)
    daemon.request_shutdown()
anyio.run(lambda: daemon.run(on_ready=ready))
"""


def _sample(pid: int) -> dict[str, float]:
    vol, invol = context_switches(pid)
    return {"t": time.monotonic(), "cpu": cpu_seconds(pid), "vol": vol, "invol": invol}


def _parked(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"parked.py" in f.read()
    except OSError:
        return False


def bench_idle(opts: Options) -> list[Row]:
    """The window is sampled while the daemon is parked (it parks after ``resources.park_after_s``, 60 s
    by default, shortened here to PARK_AFTER_S); the awake RSS is read before it parks."""
    window = opts.pick(60.0, 30.0)
    measured: dict[str, dict[str, float | int | None]] = {}
    with sandbox() as box:
        box.env["TREERAG_RESOURCES_PARK_AFTER_S"] = str(PARK_AFTER_S)
        with running_daemon(box) as daemon, \
                background([PYTHON, "-c", FLOOR_SLEEP], env=box.env) as f1, \
                background([PYTHON, "-c", FLOOR_ASYNCIO], env=box.env) as f2:
            procs = {"daemon": daemon.pid, "floor_sleep": f1.pid, "floor_asyncio": f2.pid}
            time.sleep(2.0)
            for name, pid in procs.items():
                measured[name] = {"rss": rss_bytes(pid), "uss": uss_bytes(pid)}
            measured["daemon"]["awake_rss"] = measured["daemon"]["rss"]
            if not wait_until(lambda: _parked(daemon.pid), timeout=PARK_AFTER_S + 30, interval=0.1):
                raise RuntimeError(f"the daemon did not park within {PARK_AFTER_S + 30:.0f} s")
            time.sleep(0.5)
            measured["daemon"].update(rss=rss_bytes(daemon.pid), uss=uss_bytes(daemon.pid))
            start = {name: _sample(pid) for name, pid in procs.items()}
            time.sleep(window)
            for name, pid in procs.items():
                end = _sample(pid)
                elapsed = end["t"] - start[name]["t"]
                measured[name].update(
                    cpu_percent=100 * (end["cpu"] - start[name]["cpu"]) / elapsed,
                    wakeups_per_s=(end["vol"] - start[name]["vol"]) / elapsed,
                    involuntary_per_s=(end["invol"] - start[name]["invol"]) / elapsed,
                    fds=num_fds(pid), threads=num_threads(pid), window_s=elapsed,
                    rss_end=rss_bytes(pid))
            measured["daemon"]["still_parked"] = _parked(daemon.pid)
            daemon.call("ping", timeout=10)  # wakes it; the first requests load msgpack, and status loads psutil
            daemon.call("status", timeout=10)
            time.sleep(1.0)
            measured["daemon"].update(rss_served=rss_bytes(daemon.pid), uss_served=uss_bytes(daemon.pid))
    d, f1m, f2m = measured["daemon"], measured["floor_sleep"], measured["floor_asyncio"]
    floors = f"sleep {mb(f1m['rss'])}, asyncio {mb(f2m['rss'])}"
    parked = bool(d["still_parked"])
    rows = [
        Row("idle", "daemon RSS idle (parked, VmRSS)", mb(d["rss"]), "< 15 MB",
            f"{floors}; awake before parking {mb(d['awake_rss'])}",
            verdict(d["rss"] < 15 << 20 and parked), {"measured": measured, "park_after_s": PARK_AFTER_S}),
        Row("idle", "daemon USS idle (parked)", mb(d["uss"]), "", f"sleep {mb(f1m['uss'])}, asyncio {mb(f2m['uss'])}"),
        Row("idle", "daemon RSS awake, idle, after its first ping + status", mb(d["rss_served"]), "",
            f"USS {mb(d['uss_served'])}; awake for park_after_s (60 s) after the last client, then parked",
            "info"),
        Row("idle", f"daemon CPU over {window:.0f} s idle (parked)", f"{d['cpu_percent']:.3f} %", "< 1 %",
            f"sleep {f1m['cpu_percent']:.3f} %, asyncio {f2m['cpu_percent']:.3f} %", verdict(d["cpu_percent"] < 1)),
        Row("idle", "daemon wake-ups (voluntary ctx switches/s)", f"{d['wakeups_per_s']:.2f} /s", "~0 /s",
            f"sleep {f1m['wakeups_per_s']:.2f} /s, asyncio {f2m['wakeups_per_s']:.2f} /s",
            verdict(d["wakeups_per_s"] < 0.1)),
        Row("idle", "daemon open fds (parked)", str(d["fds"]), "< 50", f"sleep {f1m['fds']}, asyncio {f2m['fds']}",
            verdict(d["fds"] < 50)),
        Row("idle", "daemon threads (parked)", str(d["threads"]), "< 10", f"sleep {f1m['threads']}",
            verdict(d["threads"] < 10)),
    ]
    for name, extra in (("wake-up latency", lambda: _wake_latency(opts)), ("import breakdown", _import_breakdown)):
        try:
            rows += extra()
        except Exception as exc:
            from benchlib.common import error_row

            rows.append(error_row("idle", exc, name))
    return rows


def _wake_latency(opts: Options) -> list[Row]:
    """What the first client after a park pays: connect + ping on a parked daemon, against a ping on an
    awake one and a daemon's cold start (spawn to listening), all in this run."""
    samples = opts.pick(30, 10)
    wake: list[float] = []
    awake: list[float] = []
    cold: list[float] = []
    with sandbox() as box:
        box.env["TREERAG_RESOURCES_PARK_AFTER_S"] = "0.3"
        with running_daemon(box) as daemon:
            for _ in range(samples):
                if not wait_until(lambda: _parked(daemon.pid), timeout=30, interval=0.02):
                    raise RuntimeError("the daemon did not park again")
                started = time.perf_counter()
                with daemon.client(timeout=30) as client:
                    client.call("ping")
                    wake.append(time.perf_counter() - started)
                    for _ in range(5):
                        started = time.perf_counter()
                        client.call("ping")
                        awake.append(time.perf_counter() - started)
    for _ in range(opts.pick(10, 4)):
        with sandbox() as box:
            started = time.perf_counter()
            with running_daemon(box):
                cold.append(time.perf_counter() - started)

    def ms(xs: list[float], q: float) -> str:
        return f"{percentile(xs, q) * 1e3:.0f} ms"

    return [Row("idle", f"first request to a parked daemon (wake + ping), P50 / P99 of {len(wake)}",
                f"{ms(wake, 50)} / {ms(wake, 99)}", "< 1 s (hook deadline 2.5 s)",
                f"cold daemon start P50 {ms(cold, 50)}; awake ping P50 {percentile(awake, 50) * 1e6:.0f} µs",
                verdict(percentile(wake, 99) < 1.0), {"wake_s": wake, "cold_start_s": cold, "awake_ping_s": awake})]


def _import_breakdown() -> list[Row]:
    with sandbox() as box:
        out = subprocess.run([PYTHON, "-c", _RUNNING_PROBE, str(box.path / "p.sock")], env=box.env,
                             capture_output=True, text=True, timeout=60, check=True)
        running = json.loads(out.stdout.strip().splitlines()[-1])
        loaded = set(running["modules"])
        steps = [m for m in IMPORT_STEPS if m in loaded]
        missing = [m for m in IMPORT_STEPS if m not in loaded]
        rest = sorted(m for m in loaded if not m.startswith("__") and m != "__main__")
        out = subprocess.run([PYTHON, "-c", _STEP_PROBE, json.dumps(steps), json.dumps(rest),
                              str(box.path / "q.sock")], env=box.env, capture_output=True, text=True,
                             timeout=60, check=True)
    records = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    parts = []
    previous = None
    for rec in records:
        delta = "" if previous is None else f"+{(rec['rss'] - previous) / (1 << 20):.1f}"
        parts.append(f"{rec['step']} {mb(rec['rss'])}" if previous is None else f"{rec['step']} {delta}")
        previous = rec["rss"]
    third_party = sorted({m.split(".")[0] for m in loaded} & {"psutil", "msgpack", "anyio", "sniffio", "idna",
                                                              "watchfiles", "pathspec", "tree_sitter", "ssl",
                                                              "sqlite3", "textual", "rich", "_ssl", "_sqlite3"})
    raw = {"steps": records, "not_loaded_by_daemon": missing, "daemon_modules": len(loaded),
           "probe_rss_ready": running["rss_ready"], "loaded_of_interest": third_party}
    return [
        Row("idle", "where the MBs go (VmRSS after each import, MB added)", mb(records[-1]["rss"]), "",
            "; ".join(parts), "info", raw),
        Row("idle", "daemon's modules at ready (count; heavy ones present)", str(len(loaded)), "",
            ", ".join(third_party) + (f"; not loaded: {', '.join(missing)}" if missing else ""), "info"),
    ]


__all__ = ["bench_idle"]
