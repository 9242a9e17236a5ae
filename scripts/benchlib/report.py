"""The results: machine info, the table (terminal and markdown), raw JSON and docs/BENCHMARKS.md."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchlib.common import BENCH_DIR, PYTHON, REPO, Row

HEADERS = ["benchmark", "metric", "measured", "target", "floor / peer (same run)", "result"]
RESULT_MARK = {"pass": "pass", "short": "**short**", "info": "–", "error": "**error**"}

METHOD_NOTES = """\
How each group measures (numbers above are all measured in the run; nothing is typed in):

- **ping**: msgpack `ping` over one connection with `treerag.client`, in alternating batches of 100 against a
  bare asyncio Unix-socket server (own process) that answers the same length-prefixed msgpack frames with the
  same reply, timed by the same client code; a raw byte echo over a bare socket is shown as the kernel floor.
- **idle**: the daemon and two floor interpreters (`time.sleep`, and `import asyncio` + `time.sleep`) run at
  once. The daemon runs with `resources.park_after_s` = 5 s (default 60 s): its awake VmRSS (what `ps -o rss`
  shows) is read 2 s after start, then, once it has parked (its cmdline shows `parked.py`), VmRSS and USS,
  and CPU (utime+stime from `/proc/PID/stat`) and voluntary context switches summed over all threads
  (wake-ups) over the same window for all three. Wake-up: a daemon with `park_after_s` = 0.3 s, each sample
  a connect + ping once it has parked again, beside 5 pings on the same connection once awake and a cold
  daemon start (spawn to "ok" on its ready pipe) in the same run. The MB breakdown imports the modules a
  running daemon has loaded one by one in a probe process, reading VmRSS after each.
- **memory**: each tree indexed once, then loaded by `load_project` in fresh probe interpreters: under
  tracemalloc (bytes still traced after `gc.collect()`, divided by the project's files and symbols; the peak;
  the largest sites grouped by line), next to a naive loader measured on the same database in the same run
  (a dict per file with its edges as tuples, keyed by path and id, and a dict per symbol with name, qualname,
  kind, signature and lines, strings not interned); VmRSS split into RssAnon/RssFile before and after the load
  in a probe without tracemalloc; a fresh daemon's VmRSS after a session-start hook loads the large tree; and
  one daemon given django, sympy and twisted in turn (a session-start hook and 20 prompts each), its own and
  its workers' RSS (`status` → `process.total_rss_bytes`) read after each.
- **index**: `python -m treerag index PATH --json` with no daemon (in-process mode: the same daemon code and
  index worker) and an empty `XDG_CACHE_HOME` per run, wall clock including interpreter start, alternated with
  `ctags -R --fields=+n -f /dev/null PATH` on the same tree and with tree-sitter's own floor
  (`scripts/benchlib/parse_floor.py`: read, parse and one pass of treerag's query over every source file, in 2
  processes, nothing written); median of 3. Trees are PyPI sdists and an npm
  package, extracted under `.bench/src`. Daemon RSS: the trees indexed one after another (largest first)
  through one daemon with `project.index`, VmRSS and USS read from `/proc` after each.
- **update**: a copy of the medium tree indexed and watched by a daemon; each edit appends a function with a
  fresh random name to one file, then `query` is polled every ~10 ms until that file comes first with the new
  symbol; time from the end of the write.
- **hook**: the command hook exactly as installed (`hook_command(config)` + `prompt`) spawned with a
  UserPromptSubmit payload on stdin (cwd inside the indexed medium tree, 14 prompts in rotation), round-robin
  with the floors `python -S -I -c pass` and `python -I -c 'import socket'` (same interpreter) and the
  `treerag hook prompt` console script; wall time of each spawn, stdin to exit.
- **context**: on the largest tree, one prompt repeated through the `context` method (cached after the first),
  then distinct prompts (made from the tree's own symbol words) through the `hook` method's prompt event, each a
  cache miss. In-daemon figures are the daemon's latency tracker (`status` → `latency`: `context`,
  `hook.prompt`, `query`), which excludes IPC.
- **session**: one scripted session through the `hook` method: SessionStart, 20 prompts (14 distinct, 6
  repeated), 150 Reads over a 30-file working set with Zipf-like repeats (the re-read right after each edit
  included), 10 edits (file changed on disk, PostToolUse, wait for the re-index). Hit rate from the daemon's
  cache counters; the peer is what a perfect cache would score on the same script (only first sights miss).
- **retrieval**: 35 prompts written like change descriptions (behaviour in words, no identifiers, few file
  names) over real flask, requests and rich trees, each with the file a developer would change, read from those
  projects' code (this project's own yardstick, not an independent benchmark); `rank_files` on a real index
  against BM25 over whole-file text (FTS5, porter) and Aider's repo map (`aider-chat` 0.86.2 in its own
  virtualenv under .bench, `RepoMap.get_ranked_tags` with every prompt word as a mentioned identifier, driven by
  `scripts/benchlib/aider_map.py`) on the same trees; ranks past 10 count as misses.
- **concurrency**: 100 threads, each with its own connection, released together, 100 pings each; then
  `health` and `status`.
"""


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "kernel": platform.release(),
                            "python": platform.python_version(), "python_path": PYTHON,
                            "cores": os.cpu_count(), "loadavg_start": os.getloadavg()}
    try:
        with open("/proc/cpuinfo") as f:
            models = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        info["cpu"] = models[0] if models else platform.processor()
    except OSError:
        info["cpu"] = platform.processor()
    try:
        with open("/proc/meminfo") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("MemTotal"))
        info["ram"] = f"{kb / (1 << 20):.1f} GiB"
    except (OSError, StopIteration):
        info["ram"] = "?"
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        info["commit"] = rev + (" (with uncommitted changes)" if dirty else "")
    except OSError:
        info["commit"] = "?"
    return info


def _load(values: Any) -> str:
    return "/".join(f"{v:.2f}" for v in values) if values else "?"


def _cells(row: Row) -> list[str]:
    return [row.bench, row.metric, row.value, row.target or "–", row.peer or "–", RESULT_MARK.get(row.status, row.status)]


def markdown_table(rows: list[Row]) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join("---" for _ in HEADERS) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in _cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def terminal_table(rows: list[Row], width: int = 60) -> str:
    def clip(text: str, n: int) -> str:
        return text if len(text) <= n else text[: n - 1] + "…"

    cells = [[r.bench, clip(r.metric, 58), r.value if r.status != "error" else clip(r.value, 70), r.target or "-",
              clip(r.peer or "-", width), r.status] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(HEADERS)]
    out = ["  ".join(h.ljust(w) for h, w in zip(HEADERS, widths)),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(out)


def summary_line(rows: list[Row]) -> str:
    counts = {k: sum(1 for r in rows if r.status == k) for k in ("pass", "short", "error")}
    return f"{counts['pass']} pass, {counts['short']} short, {counts['error']} error (of {len(rows)} rows)"


def write_json(payload: dict[str, Any]) -> Path:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path = BENCH_DIR / f"results-{time.strftime('%Y-%m-%d-%H%M%S')}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def rows_to_json(rows: list[Row]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]


def write_markdown(rows: list[Row], machine: dict[str, Any], mode: str, benches: list[str],
                   durations: dict[str, float], json_path: Path | None) -> Path:
    path = REPO / "docs" / "BENCHMARKS.md"
    took = ", ".join(f"{k} {v:.0f} s" for k, v in durations.items())
    text = f"""# Benchmarks

Written by `scripts/bench` (run it again to refresh; `--quick` for a short run, `--only NAME[,NAME]`,
`--no-write` to leave this file alone). Targets are the product's, from DESIGN.md §8. Every floor or peer
is measured in the same run on the same machine; medians and P99 are over the samples stated.

- **date**: {machine['date']}
- **mode**: {mode}; benchmarks: {', '.join(benches)}
- **machine**: {machine['cpu']}, {machine['cores']} cores, {machine['ram']} RAM, Linux {machine['kernel']}
- **python**: {machine['python']} ({machine['python_path']})
- **treerag**: commit {machine.get('commit', '?')}
- **time taken**: {took}
- **load average** (1/5/15 min) at start {_load(machine.get('loadavg_start'))}, at end {_load(machine.get('loadavg_end'))}
  (other work on the machine moves the numbers; the floors run interleaved with the measured side to share it)
- **raw results**: `{json_path.relative_to(REPO) if json_path else '(not written)'}` (gitignored)

Result: {summary_line(rows)}.

{markdown_table(rows)}

{METHOD_NOTES}"""
    path.write_text(text + kept_notes_section(path) + kept_soak_section(path))
    return path


SOAK_BEGIN, SOAK_END = "<!-- soak:begin (written by scripts/soak --record) -->", "<!-- soak:end -->"
NOTES_BEGIN, NOTES_END = "<!-- notes:begin (prose kept as it is by scripts/bench) -->", "<!-- notes:end -->"


def kept_notes_section(path: Path) -> str:
    """Hand-written notes (what a figure means, before/after of a change), which a benchmark run keeps."""
    old = path.read_text() if path.exists() else ""
    start, end = old.find(NOTES_BEGIN), old.find(NOTES_END)
    return "\n" + old[start:end + len(NOTES_END)] + "\n" if 0 <= start < end else ""


def kept_soak_section(path: Path) -> str:
    """The soak section of the current file, which a benchmark run keeps as it is."""
    old = path.read_text() if path.exists() else ""
    start, end = old.find(SOAK_BEGIN), old.find(SOAK_END)
    return "\n" + old[start:end + len(SOAK_END)] + "\n" if 0 <= start < end else ""


def write_soak_section(section: str) -> Path:
    """Replace (or append) the soak section of docs/BENCHMARKS.md."""
    path = REPO / "docs" / "BENCHMARKS.md"
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    start, end = old.find(SOAK_BEGIN), old.find(SOAK_END)
    block = f"{SOAK_BEGIN}\n{section.strip()}\n{SOAK_END}"
    text = old[:start] + block + old[end + len(SOAK_END):] if 0 <= start < end else old.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
    return path


__all__ = ["machine_info", "markdown_table", "rows_to_json", "summary_line", "terminal_table", "write_json",
           "write_markdown"]
