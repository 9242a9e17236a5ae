"""Claude Code hooks: the command hook's spawn cost, and the cache hit rate of a scripted session.

``hook``: the command hook exactly as ``install-hooks`` writes it
(``hook_command(config)`` + ``prompt``), fed a UserPromptSubmit payload on
stdin whose ``cwd`` lies inside the indexed medium tree, spawned again and
again, interleaved round-robin (order rotated each round) with the floors
``python -S -I -c pass`` and ``python -I -c 'import socket'`` and with the
``treerag hook prompt`` console script (report only).

``session``: a scripted session through the ``hook`` method — SessionStart, 20
turns of one prompt (14 distinct, 6 repeated) followed by Reads drawn from a
working set of 30 files with Zipf-like repeats (150 in all), and 10 edits
(file changed on disk, then PostToolUse; the script waits for the re-index,
as the model's next turn would). The hit rate is the daemon's own cache
counters (``status`` → ``cache``) over the session.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import time
from pathlib import Path

from benchlib import corpora
from benchlib.common import PYTHON, REPO, Options, Row, ms, ratio, running_daemon, sandbox, summary, verdict, wait_until

PROMPTS = [
    "how are blueprints registered on the application and when do their url rules get added",
    "why does the request context get pushed twice when testing with the test client",
    "add a config option to disable the json sorting of keys in responses",
    "where is the session cookie signed and how can I rotate the secret key",
    "explain how url_for builds external urls behind a proxy",
    "the cli command fails to find the app factory when FLASK_APP points to a package, fix it",
    "write tests for send_file with conditional requests and etags",
    "how do before_request and after_request hooks run for blueprints",
    "refactor the template rendering so that stream_template shares code with render_template",
    "what happens to g and the app context when an exception is raised in a view",
    "make the json provider pluggable per blueprint",
    "how does the debug reloader interact with the click cli group",
    "trace how a static file request is served from the static folder",
    "why is the teardown_appcontext callback not called in my async view",
]


def _payload(cwd: Path, prompt: str, event: str = "UserPromptSubmit") -> dict:  # type: ignore[type-arg]
    return {"session_id": "3f6e1c52-bench", "transcript_path": str(cwd / ".transcript.jsonl"), "cwd": str(cwd),
            "permission_mode": "default", "hook_event_name": event, "prompt": prompt}


def bench_hook(opts: Options) -> list[Row]:
    from treerag.cli.commands_hooks import hook_command
    from treerag.config import load_config

    rounds = opts.pick(220, 50)
    corpus = corpora.by_name(corpora.MEDIUM)
    root = corpora.ensure(corpus)
    cwd = root / "src" if (root / "src").is_dir() else root
    console = REPO / ".venv" / "bin" / "treerag"
    with sandbox() as box, running_daemon(box) as daemon:
        daemon.call("project.index", path=str(root))
        config = load_config(flags={"daemon.socket_path": str(daemon.socket)}, env=box.env)
        command = [*hook_command(config), "prompt"]
        variants = {
            "hook": command,
            "floor_pass": [PYTHON, "-S", "-I", "-c", "pass"],
            "floor_socket": [PYTHON, "-I", "-c", "import socket"],
        }
        if console.exists():
            variants["console"] = [str(console), "hook", "prompt", "--socket", str(daemon.socket)]
        payloads = [json.dumps(_payload(cwd, p)).encode() for p in PROMPTS]
        samples: dict[str, list[float]] = {k: [] for k in variants}
        outputs = {"with_context": 0, "empty": 0, "stderr": 0}
        stderr_examples: list[str] = []
        names = list(variants)
        for i in range(rounds + 3):  # the first 3 rounds warm the page cache and the daemon's caches
            order = names[i % len(names):] + names[:i % len(names)]
            data = payloads[i % len(payloads)]
            for name in order:
                t0 = time.perf_counter()
                out = subprocess.run(variants[name], input=data, capture_output=True, env=box.env, timeout=30)
                elapsed = time.perf_counter() - t0
                if i < 3:
                    continue
                samples[name].append(elapsed)
                if name == "hook":
                    if b"additionalContext" in out.stdout:
                        outputs["with_context"] += 1
                    else:
                        outputs["empty"] += 1
                    if out.stderr:
                        outputs["stderr"] += 1
                        if len(stderr_examples) < 3:
                            stderr_examples.append(out.stderr.decode(errors="replace")[-300:])
        in_daemon = daemon.call("status")["latency"].get("hook.prompt", {})
    s = {k: summary(v) for k, v in samples.items()}
    h, fp, fs = s["hook"], s["floor_pass"], s["floor_socket"]
    raw = {"command": command, "rounds": rounds, "summary": s, "outputs": outputs, "stderr": stderr_examples,
           "in_daemon_hook_prompt": in_daemon}
    floors = f"-S -I pass {ms(fp['p50'])}; -I import socket {ms(fs['p50'])} (P50)"
    rows = [
        Row("hook", f"command hook spawn P50 (n={h['n']}, {outputs['with_context']} with context)", ms(h["p50"]),
            "", floors, "info", raw),
        Row("hook", "command hook P50 / `python -I -c 'import socket'` P50", f"{ratio(h['p50'], fs['p50']):.2f}×",
            "≤ 1.3×", floors, verdict(ratio(h["p50"], fs["p50"]) <= 1.3)),
        Row("hook", "command hook P99 / floor P99", f"{ratio(h['p99'], fs['p99']):.2f}×", "≤ 1.3×",
            f"hook P99 {ms(h['p99'])}; floor P99 {ms(fs['p99'])}; in-daemon P99 "
            f"{ms(in_daemon.get('p99', float('nan')))}", verdict(ratio(h["p99"], fs["p99"]) <= 1.3)),
    ]
    if "console" in s:
        c = s["console"]
        rows.append(Row("hook", "`treerag hook prompt` console script P50 / P99 (report only)",
                        f"{ms(c['p50'])} / {ms(c['p99'])}", "", f"{ratio(c['p50'], fs['p50']):.2f}× the floor",
                        "info"))
    if outputs["stderr"] or outputs["with_context"] == 0:
        rows.append(Row("hook", "hook runs that wrote to stderr / gave no context",
                        f"{outputs['stderr']} / {outputs['empty']}", "0 / few", "; ".join(stderr_examples)[:300],
                        verdict(outputs["stderr"] == 0)))
    return rows


# -- session -----------------------------------------------------------------------------


def _session_script(files: list[str], rng: random.Random) -> list[tuple[str, str]]:
    """[(kind, arg)]: kind is prompt | read | edit."""
    working = files[:30]
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(working))]
    distinct = PROMPTS[:14]
    prompts = distinct + [distinct[i] for i in (0, 2, 3, 5, 8, 9)]  # 6 repeats: a re-asked question, an interrupted turn
    order = distinct[:2] + [distinct[0]] + distinct[2:4] + [distinct[2], distinct[3]] + distinct[4:9] \
        + [distinct[5], distinct[8]] + distinct[9:] + [distinct[9]]
    assert sorted(order) == sorted(prompts) and len(order) == 20
    reads_per_turn = [8] * 10 + [7] * 10  # 150 reads
    edit_turns = set(range(5, 15))  # 10 edits, one per turn in the middle of the session
    script: list[tuple[str, str]] = []
    read_so_far: list[str] = []
    for turn, prompt in enumerate(order):
        script.append(("prompt", prompt))
        for _ in range(reads_per_turn[turn]):
            f = rng.choices(working, weights)[0]
            script.append(("read", f))
            read_so_far.append(f)
        if turn in edit_turns:
            f = rng.choice(read_so_far[-10:])
            script.append(("edit", f))
            script.append(("read", f))  # the model re-reads what it just changed
    # the re-reads after edits count against the 150: drop that many ordinary reads from the end
    extra = sum(1 for k, _ in script if k == "read") - 150
    for i in range(len(script) - 1, -1, -1):
        if extra <= 0:
            break
        if script[i][0] == "read" and (i == 0 or script[i - 1][0] != "edit"):
            del script[i]
            extra -= 1
    return script


def _run_session(with_edits: bool) -> dict:  # type: ignore[type-arg]
    """Play the scripted session against a fresh daemon on a fresh copy of the medium tree."""
    rng = random.Random(3)
    with sandbox() as box:
        root = box.path / "tree"
        shutil.copytree(corpora.ensure(corpora.by_name(corpora.MEDIUM)), root, symlinks=True)
        with running_daemon(box) as daemon, daemon.client(30) as client:
            client.call("project.index", path=str(root))
            tree = client.call("project.tree", path=str(root))
            files = [n["path"] for n in tree["tree"] if n["kind"] == "file" and n["path"].endswith(".py")]
            files.sort(key=lambda p: (not p.startswith("src/"), p))  # the package first, then tests and examples
            working = files[:30]
            rng.shuffle(working)
            script = _session_script(working, rng)
            if not with_edits:
                script = [step for step in script if step[0] != "edit"]
            before = client.call("status")
            cwd = str(root)

            def hook(event: str, payload: dict) -> dict:  # type: ignore[type-arg]
                return client.call("hook", event=event, payload={"session_id": "bench", "cwd": cwd,
                                                                 "transcript_path": "/dev/null", **payload})

            answered = {"session-start": 0, "prompt": 0, "pre-tool": 0}
            if hook("session-start", {"hook_event_name": "SessionStart", "source": "startup"}):
                answered["session-start"] += 1
            counts = {"prompt": 0, "read": 0, "edit": 0}
            for kind, arg in script:
                counts[kind] += 1
                if kind == "prompt":
                    if hook("prompt", {"hook_event_name": "UserPromptSubmit", "prompt": arg}):
                        answered["prompt"] += 1
                elif kind == "read":
                    if hook("pre-tool", {"hook_event_name": "PreToolUse", "tool_name": "Read",
                                         "tool_input": {"file_path": str(root / arg)}}):
                        answered["pre-tool"] += 1
                else:
                    updates = client.call("status")["index"]["updates"]
                    with open(root / arg, "a") as f:
                        f.write(f"\n\n# edited by the session benchmark ({counts['edit']})\n")
                    hook("post-edit", {"hook_event_name": "PostToolUse", "tool_name": "Edit",
                                       "tool_input": {"file_path": str(root / arg), "old_string": "",
                                                      "new_string": "# edited"}, "tool_response": {"success": True}})
                    wait_until(lambda u=updates: client.call("status")["index"]["updates"] > u, 10, 0.02)
            hook("session-end", {"hook_event_name": "SessionEnd", "reason": "exit"})
            after = client.call("status")
    b, a = before["cache"], after["cache"]
    hits, misses = a["hits"] - b["hits"], a["misses"] - b["misses"]
    keys = [(k, x) for k, x in script if k != "edit"]
    return {"hits": hits, "misses": misses, "hit_rate": hits / (hits + misses) if hits + misses else 0.0,
            "counts": counts, "answered": answered, "distinct_requests": len(set(keys)),
            "ideal": 1 - (len(set(keys)) + 1) / (len(keys) + 1),  # + the session start; first sights miss
            "invalidations": a.get("invalidations", 0) - b.get("invalidations", 0),
            "updates": after["index"]["updates"] - before["index"]["updates"], "script": script,
            "misses_by_kind": {k: v - b.get("misses_by_kind", {}).get(k, 0)
                               for k, v in a.get("misses_by_kind", {}).items()},
            "prefetched": a.get("prefetched", 0) - b.get("prefetched", 0)}


def bench_session(opts: Options) -> list[Row]:
    full = _run_session(with_edits=True)
    no_edits = _run_session(with_edits=False)
    counts, answered, rate = full["counts"], full["answered"], full["hit_rate"]
    return [
        Row("session", f"cache hit rate, scripted session ({counts['prompt']} prompts, {counts['read']} reads, "
            f"{counts['edit']} edits)", f"{rate * 100:.1f} % ({full['hits']}/{full['hits'] + full['misses']})",
            "> 90 %", f"same script without the edits {no_edits['hit_rate'] * 100:.1f} %; an on-demand cache that "
            f"never forgets {full['ideal'] * 100:.1f} %; {full['invalidations']} entries invalidated by "
            f"{full['updates']} updates", verdict(rate > 0.90), {"with_edits": full, "without_edits": no_edits}),
        Row("session", "hooks that returned context",
            f"{sum(answered.values())}/{1 + counts['prompt'] + counts['read']}", "",
            f"session-start {answered['session-start']}, prompt {answered['prompt']}, Read {answered['pre-tool']}",
            "info"),
    ]


__all__ = ["bench_hook", "bench_session"]
