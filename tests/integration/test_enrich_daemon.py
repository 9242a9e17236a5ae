"""Remote enrichment through a real daemon process and the fake OpenAI server.

Queued by hand (enrich.start) and automatically (after an index build and each edit), most important
files first; summaries reach query and context; pause/resume; a failing endpoint opens the breaker and a
timer (not a user action) lets the probe through; a killed worker's batch is tried again; embeddings
make prompt ranking find what the words alone do not.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from tests.conftest import wait_for
from tests.integration.test_index_daemon import make_project, query, treerag


def configure(fake: Any, extra: str = "") -> None:
    conf = Path(os.environ["XDG_CONFIG_HOME"]) / "treerag"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "config.toml").write_text(
        f'[enrich]\nprovider = "openai"\nbase_url = "{fake.base_url}"\nmodel = "m"\napi_key_env = "FAKE_KEY"\n'
        + extra
    )


def status(daemon: Any) -> dict[str, Any]:
    return dict(daemon.call("enrich.status"))


def chats(fake: Any) -> list[Any]:
    return [r for r in fake.requests if r.path.endswith("/chat/completions")]


def test_project_enriched_most_important_first(daemon_factory, fake_openai, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    configure(fake_openai, "auto = false\n")
    daemon = daemon_factory(env={"FAKE_KEY": "test-token"})
    project = make_project(tmp_path / "shop")
    out = treerag("index", str(project), "--json", sock=daemon.socket)
    assert out.returncode == 0, out.stderr
    started = daemon.call("enrich.start", path=str(project))
    assert started["queued"] > 0, started
    assert wait_for(lambda: daemon.call("enrich.status")["backlog"] == 0
                    and daemon.call("enrich.status")["done"] >= started["queued"], timeout=20)
    status = daemon.call("enrich.status")
    assert status["requests"] >= 1 and status["breaker"] == "closed", status
    assert fake_openai.requests
    sent = len(fake_openai.requests)
    again = daemon.call("enrich.start", path=str(project))
    assert again["queued"] == 0
    assert len(fake_openai.requests) == sent
    assert daemon.call("ping") is not None


def test_cli_enrich_and_queue_show_enrichment(daemon_factory, fake_openai, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    configure(fake_openai, "auto = false\n")
    daemon = daemon_factory(env={"FAKE_KEY": "test-token"})
    project = make_project(tmp_path / "shop")
    assert treerag("index", str(project), sock=daemon.socket).returncode == 0
    out = treerag("enrich", str(project), sock=daemon.socket)
    assert out.returncode == 0 and out.stdout.startswith("queued "), (out.stdout, out.stderr)
    assert wait_for(lambda: daemon.call("enrich.status")["backlog"] == 0, timeout=20)
    out = treerag("queue", sock=daemon.socket)
    assert out.returncode == 0, out.stderr
    assert "enrichment openai/m: backlog 0" in out.stdout, out.stdout


def test_indexing_queues_automatically_and_summaries_reach_query_and_context(  # type: ignore[no-untyped-def]
        daemon_factory, fake_openai, tmp_path: Path) -> None:
    fake_openai.summary_for = lambda n: ("settles zebra invoices with the bank" if n["key"] == "shop/pricing.py"
                                         else f"summary of {n['key']}")
    configure(fake_openai)
    daemon = daemon_factory(env={"FAKE_KEY": "test-token"})
    project = make_project(tmp_path / "shop")
    assert treerag("index", str(project), sock=daemon.socket).returncode == 0
    assert wait_for(lambda: status(daemon)["done"] >= 5 and status(daemon)["backlog"] == 0, timeout=20)
    first = chats(fake_openai)[0].nodes
    assert first[0]["path"] == "shop/cli.py", [n["path"] for n in first]  # the entry point goes first
    assert "sk-live" not in fake_openai.bodies_text()  # the .env secret is never indexed, never sent
    per_project = status(daemon)["projects"][str(project.resolve())]
    assert per_project["done"] >= 5 and per_project["failed"] == 0, per_project
    # the remote summary feeds FTS: a word only the summary has now finds the file
    assert query(daemon.socket, project, "zebra invoices")[:1] == ["shop/pricing.py"]
    out = treerag("context", str(project), "--file", "shop/pricing.py", sock=daemon.socket)
    assert "settles zebra invoices" in out.stdout, out.stdout
    out = treerag("context", str(project), "--session", sock=daemon.socket)
    assert "summary of shop/cli.py" in out.stdout or "settles zebra invoices" in out.stdout, out.stdout
    out = treerag("status", sock=daemon.socket)
    assert "enrichment" in out.stdout and "openai/m" in out.stdout, out.stdout


def test_an_edit_sends_only_the_edited_file_again(daemon_factory, fake_openai, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    configure(fake_openai)
    daemon = daemon_factory(env={"FAKE_KEY": "test-token"})
    project = make_project(tmp_path / "shop")
    assert treerag("index", str(project), sock=daemon.socket).returncode == 0
    assert wait_for(lambda: status(daemon)["backlog"] == 0 and status(daemon)["done"] >= 5, timeout=20)
    assert daemon.call("project.tree", path=str(project))  # loaded, so watched
    sent = len(chats(fake_openai))
    (project / "shop" / "pricing.py").write_text('"""Prices."""\n\ndef price_of(item):\n    return item.price\n')
    assert wait_for(lambda: len(chats(fake_openai)) > sent, timeout=15)
    time.sleep(1.0)  # anything else that was going to be sent has been by now
    again = chats(fake_openai)[sent:]
    assert {n["path"] for r in again for n in r.nodes} == {"shop/pricing.py"}
    assert daemon.call("enrich.start", path=str(project))["queued"] == 0  # nothing left to do


def test_pause_holds_the_backlog_and_resume_sends_it(daemon_factory, fake_openai, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    configure(fake_openai)
    daemon = daemon_factory(env={"FAKE_KEY": "test-token"})
    assert treerag("queue", "pause", sock=daemon.socket).returncode == 0
    project = make_project(tmp_path / "shop")
    assert treerag("index", str(project), sock=daemon.socket).returncode == 0
    assert wait_for(lambda: status(daemon)["backlog"] >= 5, timeout=10), status(daemon)
    time.sleep(0.5)
    assert chats(fake_openai) == [] and status(daemon)["paused"] is True
    assert treerag("queue", "resume", sock=daemon.socket).returncode == 0
    assert wait_for(lambda: status(daemon)["backlog"] == 0 and status(daemon)["done"] >= 5, timeout=20)
    assert treerag("queue", "drain", sock=daemon.socket).returncode == 0


def test_a_failing_endpoint_opens_the_breaker_and_a_timer_lets_the_probe_through(  # type: ignore[no-untyped-def]
        daemon_factory, fake_openai, tmp_path: Path) -> None:
    from tests.fakes.openai_server import Reply

    # 3 batches x 3 attempts each, all rate-limited: the breaker opens after the third batch
    fake_openai.script(*[Reply(status=429, headers={"Retry-After": "0.05"}) for _ in range(9)])
    configure(fake_openai, "breaker_cooldown_s = 1.5\n")
    daemon = daemon_factory(env={"FAKE_KEY": "test-token"})
    project = make_project(tmp_path / "shop")
    assert treerag("index", str(project), sock=daemon.socket).returncode == 0
    assert wait_for(lambda: status(daemon)["breaker"] == "open", timeout=20), status(daemon)
    opened = status(daemon)
    assert "429" in opened["last_error"] and opened["backlog"] >= 5 and opened["failed"] == 0, opened
    assert fake_openai.pending == 0
    # no user action from here: the runner's one timer wakes it after the cool-down
    assert wait_for(lambda: status(daemon)["backlog"] == 0 and status(daemon)["done"] >= 5, timeout=20)
    assert status(daemon)["breaker"] == "closed"
    assert daemon.call("ping") is not None
    log = daemon.log.read_text()
    assert "enrichment resumed" in log, log[-2000:]


def test_malformed_replies_and_timeouts_are_reported_and_the_daemon_stays_healthy(  # type: ignore[no-untyped-def]
        daemon_factory, fake_openai, tmp_path: Path) -> None:
    from tests.fakes.openai_server import Reply

    fake_openai.script(Reply(content="this is not JSON"), Reply(content='{"summaries": [{"key": 1}]}'),
                       Reply(content="{}"), Reply(status=500), Reply(delay_s=3.0), Reply(body=b"<html>"))
    configure(fake_openai, "auto = false\nrequest_timeout_s = 1.0\nbreaker_cooldown_s = 0.5\n")
    daemon = daemon_factory(env={"FAKE_KEY": "test-token"})
    project = make_project(tmp_path / "shop")
    assert treerag("index", str(project), sock=daemon.socket).returncode == 0
    assert daemon.call("enrich.start", path=str(project))["queued"] >= 5
    assert wait_for(lambda: status(daemon)["backlog"] == 0 and status(daemon)["done"] >= 5, timeout=40)
    final = status(daemon)
    assert final["last_error"] and final["failed"] == 0, final  # errors were reported, nothing was lost
    assert daemon.call("ping") is not None and query(daemon.socket, project, "cart")


def test_a_killed_worker_costs_one_retry_not_the_files(daemon_factory, fake_openai, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import psutil

    from tests.fakes.openai_server import Reply

    fake_openai.script(Reply(delay_s=8.0))  # the first request hangs, so the worker is there to be killed
    configure(fake_openai, "auto = false\nrequest_timeout_s = 20\n")
    daemon = daemon_factory(env={"FAKE_KEY": "test-token"})
    project = make_project(tmp_path / "shop")
    assert treerag("index", str(project), sock=daemon.socket).returncode == 0
    assert daemon.call("enrich.start", path=str(project))["queued"] >= 5

    def enrich_worker() -> Any:
        for child in psutil.Process(daemon.pid).children(recursive=True):
            if "treerag.enrich.worker" in " ".join(child.cmdline()):
                return child
        return None

    worker = wait_for(enrich_worker, timeout=10)
    assert worker is not None and wait_for(lambda: len(chats(fake_openai)) >= 1, timeout=10)
    worker.kill()
    assert wait_for(lambda: status(daemon)["backlog"] == 0 and status(daemon)["done"] >= 5, timeout=30)
    final = status(daemon)
    assert "died" in final["last_error"] and final["failed"] == 0, final
    failed = daemon.call("queue.status")["failed_tasks"]
    assert any(f["kind"] == "enrich" for f in failed), failed


def test_embeddings_let_prompt_ranking_find_what_the_words_do_not(daemon_factory, fake_openai, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # A stand-in for a semantic model: texts about walruses (or pinnipeds) point one way, everything else
    # another. The prompt shares no word with any file, so only the vectors can find the ledger.
    def concept(text: str) -> list[float]:
        about = any(w in text.lower() for w in ("walrus", "pinniped"))
        return [1.0, 0.0, 0.1] if about else [0.0, 1.0, 0.1]

    fake_openai.embedding_for = concept
    files = {
        "app/main.py": '"""Entry."""\nfrom app import ledger, mailer, report\n\ndef main():\n    pass\n',
        "app/ledger.py": '"""Books."""\n\ndef post(entry):\n    # reconcile walrus tariffs against customs manifests\n'
                         '    return entry\n',
        "app/mailer.py": '"""Mail."""\n\ndef send(msg):\n    # smtp delivery with retries\n    return msg\n',
        "app/report.py": '"""Reports."""\n\ndef render(rows):\n    # html tables for the monthly summary\n    return rows\n',
    }
    configure(fake_openai, 'embeddings_provider = "openai"\nembeddings_model = "e"\nembed_timeout_ms = 2000\n')
    daemon = daemon_factory(env={"FAKE_KEY": "test-token"})
    project = make_project(tmp_path / "books", files)
    prompt = "which module charges the pinniped levies?"
    assert treerag("index", str(project), sock=daemon.socket).returncode == 0
    assert wait_for(lambda: status(daemon)["embedded"] >= 4 and status(daemon)["backlog"] == 0,
                    timeout=20), status(daemon)
    assert query(daemon.socket, project, prompt)[:1] != ["app/ledger.py"]  # the words alone do not find it
    out = treerag("context", str(project), "--prompt", prompt, sock=daemon.socket)
    assert out.returncode == 0, out.stderr
    listed = [line[2:].split(" ")[0] for line in out.stdout.splitlines() if line.startswith("- ")]
    assert listed[:1] == ["app/ledger.py"], out.stdout
    vectors = status(daemon)["vectors"]
    assert vectors["used"] >= 1, vectors
    embeds = [r for r in fake_openai.requests if r.path.endswith("/embeddings")]
    assert any(prompt in r.body["input"] for r in embeds)  # the prompt itself was embedded


def test_reading_a_file_moves_it_to_the_front_of_the_queue(daemon_factory, fake_openai, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    configure(fake_openai)
    daemon = daemon_factory(env={"FAKE_KEY": "test-token"})
    assert treerag("queue", "pause", sock=daemon.socket).returncode == 0
    project = make_project(tmp_path / "shop")
    assert treerag("index", str(project), sock=daemon.socket).returncode == 0
    assert wait_for(lambda: status(daemon)["backlog"] >= 5, timeout=10)
    # the least important file by the queue's own measure (no importers, not an entry point)
    assert treerag("context", str(project), "--file", "tests/test_cart.py", sock=daemon.socket).returncode == 0
    assert treerag("queue", "resume", sock=daemon.socket).returncode == 0
    assert wait_for(lambda: chats(fake_openai), timeout=10)
    assert chats(fake_openai)[0].nodes[0]["path"] == "tests/test_cart.py"


def test_budget_stops_dispatch_and_says_when_it_resumes(daemon_factory, fake_openai, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    configure(fake_openai, "requests_per_hour = 1\n")
    daemon = daemon_factory(env={"FAKE_KEY": "test-token"})
    files = {f"pkg/m{i}.py": f"def f{i}():\n    return {i}\n" for i in range(12)}
    project = make_project(tmp_path / "many", files)
    assert treerag("index", str(project), sock=daemon.socket).returncode == 0
    assert wait_for(lambda: status(daemon)["requests"] >= 1, timeout=10)
    time.sleep(0.5)
    spent = status(daemon)
    assert len(chats(fake_openai)) == 1 and spent["backlog"] >= 4, spent  # one batch of 8, then the budget
    assert spent["requests_per_hour_left"] == 0 and spent["wake_in_s"] > 3000, spent


def test_denied_globs_and_secrets_never_leave_the_machine(daemon_factory, fake_openai, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    configure(fake_openai, 'deny = ["shop/pricing.py"]\n')
    daemon = daemon_factory(env={"FAKE_KEY": "test-token"})
    files = {"shop/pricing.py": "DISCOUNT_RATE = 0.1  # do-not-send-me\n",
             "shop/keys.py": "AWS = 'AKIAABCDEFGHIJKLMNOP'\n\ndef key():\n    return AWS\n",
             "shop/cart.py": "from shop.pricing import DISCOUNT_RATE\n"}
    project = make_project(tmp_path / "shop", files)
    assert treerag("index", str(project), sock=daemon.socket).returncode == 0
    assert wait_for(lambda: status(daemon)["backlog"] == 0 and status(daemon)["skipped"] >= 1, timeout=20)
    body = fake_openai.bodies_text()
    assert "do-not-send-me" not in body and "AKIAABCDEFGHIJKLMNOP" not in body
    assert "shop/cart.py" in body
