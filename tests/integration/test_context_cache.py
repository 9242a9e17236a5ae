"""The context cache through a real daemon: prefetch on load and after prompts, precise refresh on edits."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import wait_for
from tests.integration.test_index_daemon import make_project

FILES = {
    "pyproject.toml": '[project]\nname = "shop"\n',
    "shop/__init__.py": '"""The shop package."""\n',
    "shop/cart.py": '"""Shopping cart."""\nfrom shop.pricing import price_of\n\n\nclass Cart:\n'
                    '    def total(self):\n        return sum(price_of(i) for i in [])\n',
    "shop/pricing.py": '"""Prices."""\n\n\ndef price_of(item):\n    return item.price\n',
    "shop/shipping.py": '"""Shipping costs by weight."""\n\n\ndef shipping_cost(weight_kg):\n    return 5 + weight_kg\n',
    "shop/audit.py": '"""Audit trail of orders."""\n\n\ndef record_order(order):\n    return order\n',
}


def _read(daemon, root: Path, rel: str) -> str:  # type: ignore[no-untyped-def]
    out = daemon.call("hook", event="pre-tool", payload={
        "hook_event_name": "PreToolUse", "session_id": "s", "cwd": str(root), "transcript_path": "/dev/null",
        "tool_name": "Read", "tool_input": {"file_path": str(root / rel)}})
    return str(out)


def _cache(daemon) -> dict:  # type: ignore[no-untyped-def, type-arg]
    return daemon.call("status")["cache"]


def test_reads_of_central_files_hit_from_the_first_read(running_daemon, tmp_path):
    root = make_project(tmp_path / "shop", FILES)
    running_daemon.call("project.index", path=str(root))
    before = _cache(running_daemon)
    assert before["prefetched"] >= 4  # the code files were warmed when the project loaded
    text = _read(running_daemon, root, "shop/pricing.py")
    after = _cache(running_daemon)
    assert "price_of" in text
    assert after["hits"] == before["hits"] + 1 and after["misses"] == before["misses"]


def test_an_edit_refreshes_what_it_touches_and_keeps_the_rest(running_daemon, tmp_path):
    root = make_project(tmp_path / "shop", FILES)
    running_daemon.call("project.index", path=str(root))
    for rel in ("shop/cart.py", "shop/pricing.py", "shop/shipping.py", "shop/audit.py"):
        _read(running_daemon, root, rel)
    updates = running_daemon.call("status")["index"]["updates"]
    (root / "shop/pricing.py").write_text('"""Prices."""\n\n\ndef price_of(item):\n    return item.price\n\n\n'
                                          'def discounted_price(item, rate):\n    return item.price * (1 - rate)\n')
    wait_for(lambda: running_daemon.call("status")["index"]["updates"] > updates, 15)
    before = _cache(running_daemon)
    # the edited file's context is fresh (the new function is there) and served from the cache
    assert "discounted_price" in _read(running_daemon, root, "shop/pricing.py")
    # its importer was refreshed too; unrelated files were never dropped
    _read(running_daemon, root, "shop/cart.py")
    _read(running_daemon, root, "shop/shipping.py")
    _read(running_daemon, root, "shop/audit.py")
    after = _cache(running_daemon)
    assert after["misses"] == before["misses"], (before, after)
    assert after["hits"] == before["hits"] + 4


def test_a_prompt_warms_the_files_it_matched_and_an_edit_reranks_it(running_daemon, tmp_path):
    root = make_project(tmp_path / "shop", {**FILES, **{f"shop/extra{i}.py": f"def extra{i}():\n    return {i}\n"
                                                        for i in range(40)}})
    running_daemon.call("project.index", path=str(root))
    prompt = {"hook_event_name": "UserPromptSubmit", "session_id": "s", "cwd": str(root),
              "transcript_path": "/dev/null", "prompt": "how is the shipping cost computed from the weight"}
    assert "shipping" in str(running_daemon.call("hook", event="prompt", payload=prompt))
    wait_for(lambda: _cache(running_daemon)["prefetched"] > 0, 5)
    before = _cache(running_daemon)
    _read(running_daemon, root, "shop/shipping.py")
    assert _cache(running_daemon)["hits"] == before["hits"] + 1
    updates = running_daemon.call("status")["index"]["updates"]
    (root / "shop/audit.py").write_text('"""Audit trail."""\n\n\ndef shipping_audit(order):\n    return order\n')
    wait_for(lambda: running_daemon.call("status")["index"]["updates"] > updates, 15)
    # audit.py now matches the prompt, so the answer was dropped, re-ranked in the background and is served warm
    time.sleep(0.5)  # the re-ranking runs in the background a few ms after the update lands
    before = _cache(running_daemon)
    assert "shop/audit.py" in str(running_daemon.call("hook", event="prompt", payload=prompt))
    assert _cache(running_daemon)["hits"] == before["hits"] + 1


def test_an_edit_keeps_prompt_answers_it_cannot_have_changed(running_daemon, tmp_path):
    root = make_project(tmp_path / "shop", FILES)
    running_daemon.call("project.index", path=str(root))
    prompt = {"hook_event_name": "UserPromptSubmit", "session_id": "s", "cwd": str(root),
              "transcript_path": "/dev/null", "prompt": "how is the shipping cost computed from the weight"}
    answer = str(running_daemon.call("hook", event="prompt", payload=prompt))
    assert "shop/shipping.py" in answer and "shop/audit.py" not in answer
    dropped = _cache(running_daemon).get("invalidations_by_kind", {}).get("prompt", 0)
    updates = running_daemon.call("status")["index"]["updates"]
    # a body edit of a file the answer does not show and whose words do not match the prompt
    (root / "shop/audit.py").write_text('"""Audit trail of orders."""\n\n\ndef record_order(order):\n'
                                        '    return dict(order)\n')
    wait_for(lambda: running_daemon.call("status")["index"]["updates"] > updates, 15)
    after = _cache(running_daemon)
    assert after.get("invalidations_by_kind", {}).get("prompt", 0) == dropped, after
    before = _cache(running_daemon)
    assert str(running_daemon.call("hook", event="prompt", payload=prompt)) == answer
    assert _cache(running_daemon)["hits"] == before["hits"] + 1
    # an edit of a file the answer shows drops it
    updates = running_daemon.call("status")["index"]["updates"]
    (root / "shop/shipping.py").write_text('"""Shipping costs by weight."""\n\n\ndef shipping_cost(weight_kg):\n'
                                           '    return 7 + weight_kg\n')
    wait_for(lambda: running_daemon.call("status")["index"]["updates"] > updates, 15)
    assert _cache(running_daemon)["invalidations_by_kind"]["prompt"] == dropped + 1
