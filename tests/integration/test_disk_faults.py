"""A full disk under the index: the daemon logs once, keeps serving, and recovers when space returns."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import start_daemon_process
from tests.integration.test_index_daemon import PROJECT, make_project, query, treerag


def _mount_tmpfs(path: Path, size: str) -> bool:
    if os.getuid() != 0 or shutil.which("mount") is None:
        return False
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


@pytest.fixture
def tiny_cache(tmp_path):
    mount = tmp_path / "tiny"
    if not _mount_tmpfs(mount, "4m"):
        pytest.skip("needs root and tmpfs mounts to make a small disk")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_full_disk_keeps_the_daemon_serving(tiny_cache, tmp_path, short_dir):
    project = make_project(tmp_path / "shop", PROJECT)
    daemon = start_daemon_process(short_dir / "treerag.sock", env={"XDG_CACHE_HOME": str(tiny_cache)})
    try:
        assert treerag("index", str(project), sock=daemon.socket).returncode == 0
        assert query(daemon.socket, project, "discount")[0] == "shop/pricing.py"
        filler = tiny_cache / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=4k"], capture_output=True)  # fill the disk
        big = project / "big"
        big.mkdir()
        for i in range(150):
            (big / f"m{i}.py").write_text("".join(f"def function_{i}_{j}(a, b):\n    return a + b\n" for j in range(20)))
        out = treerag("index", str(project), sock=daemon.socket)
        assert out.returncode == 1
        assert "disk full" in out.stderr and out.stderr.count("\n") == 1
        time.sleep(1.0)  # let the watcher try its automatic update too
        assert daemon.call("ping") == "pong"
        assert query(daemon.socket, project, "discount")[0] == "shop/pricing.py"  # still served
        log = daemon.log_text()
        assert log.count("disk full writing the index") == 1
        filler.unlink()
        out = treerag("index", str(project), "--json", sock=daemon.socket)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["files"] == 158
    finally:
        daemon.stop()
