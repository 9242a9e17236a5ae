"""Changes made while nobody watched (project evicted, daemon stopped) are caught up when the project loads."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import wait_for
from tests.integration.test_index_daemon import make_project, query

FILES = {
    "pyproject.toml": '[project]\nname = "shop"\n',
    "shop/__init__.py": '"""The shop package."""\n',
    "shop/cart.py": '"""Cart."""\nfrom shop.pricing import price_of\n\n\ndef total(items):\n    return 0\n',
    "shop/pricing.py": '"""Prices."""\n\n\ndef price_of(item):\n    return item.price\n',
    "shop/audit.py": '"""Audit."""\n\n\ndef record_order(order):\n    return order\n',
}


def _paths(daemon, root: Path) -> set[str]:  # type: ignore[no-untyped-def]
    tree = daemon.call("project.tree", path=str(root))
    return {n["path"] for n in tree["tree"] if n["kind"] == "file"}


def test_edits_adds_and_deletes_while_evicted_are_seen_after_reload(running_daemon, tmp_path):
    root = make_project(tmp_path / "shop", FILES)
    running_daemon.call("project.index", path=str(root))
    running_daemon.call("project.evict", path=str(root))
    (root / "shop/pricing.py").write_text('"""Prices."""\n\n\ndef zebra_tariff(item):\n    return 1\n')
    (root / "shop/refunds.py").write_text('"""Refunds."""\n\n\ndef walrus_refund(order):\n    return 0\n')
    (root / "shop/audit.py").unlink()
    (root / "logo.bin").write_bytes(b"\x00\x01binary\x00" * 100)  # walked, then rejected by the builder
    updates = running_daemon.call("status")["index"]["updates"]
    running_daemon.call("project.tree", path=str(root))  # the next request reloads it
    assert wait_for(lambda: running_daemon.call("status")["index"]["updates"] > updates, 10)
    assert wait_for(lambda: "shop/refunds.py" in _paths(running_daemon, root), 5)
    assert "shop/audit.py" not in _paths(running_daemon, root) and "logo.bin" not in _paths(running_daemon, root)
    assert query(running_daemon.socket, root, "zebra_tariff")[:1] == ["shop/pricing.py"]
    assert "shop/refunds.py" in query(running_daemon.socket, root, "walrus_refund")
    # nothing changed since: a second reload updates nothing (the binary is remembered as rejected)
    running_daemon.call("project.evict", path=str(root))
    updates = running_daemon.call("status")["index"]["updates"]
    running_daemon.call("project.tree", path=str(root))
    import time

    time.sleep(1.0)
    assert running_daemon.call("status")["index"]["updates"] == updates
    assert "changed while it was not loaded" in running_daemon.log.read_text()


def test_changes_while_the_daemon_was_stopped_are_seen_after_restart(daemon_factory, tmp_path):
    root = make_project(tmp_path / "shop", FILES)
    first = daemon_factory()
    first.call("project.index", path=str(root))
    first.stop()
    (root / "shop/pricing.py").write_text('"""Prices."""\n\n\ndef zebra_tariff(item):\n    return 1\n')
    second = daemon_factory()
    assert wait_for(lambda: query(second.socket, root, "zebra_tariff")[:1] == ["shop/pricing.py"], 10)
