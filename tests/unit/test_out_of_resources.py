"""A method that fails for want of descriptors or threads answers ``out_of_resources`` (a cause the user can
act on), not ``internal``; a daemon served in this process over a real socket."""

from __future__ import annotations

import errno
import json
import socket
from pathlib import Path

import anyio
import pytest

from treerag.daemon.app import Daemon, DaemonSettings
from treerag.daemon.server import _out_of_resources


@pytest.mark.parametrize(("exc", "short"), [
    (OSError(errno.EMFILE, "Too many open files"), "file descriptors"),
    (RuntimeError("can't start new thread"), "threads"),
    (ValueError("bad"), ""),
    (OSError(errno.ENOENT, "No such file"), ""),
])
def test_classifies_what_ran_out(exc, short):
    assert _out_of_resources(exc) == short


def _ask(path: Path, method: str) -> dict:
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(10)
        conn.connect(str(path))
        conn.sendall(json.dumps({"id": 1, "method": method}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            data += conn.recv(65536)
    return json.loads(data)


def test_a_method_out_of_threads_or_fds_says_so(short_dir):
    daemon = Daemon(DaemonSettings(socket_path=short_dir / "d.sock"))

    async def no_thread(ctx, params):  # what threading.Thread.start raises at the thread limit
        raise RuntimeError("can't start new thread")

    async def no_fd(ctx, params):
        open("/dev/null").close()
        raise OSError(errno.EMFILE, "Too many open files")

    daemon.methods.register("no_thread", no_thread)
    daemon.methods.register("no_fd", no_fd)
    replies: dict[str, dict] = {}

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            ready = anyio.Event()
            tg.start_soon(lambda: daemon.run(on_ready=ready.set))
            await ready.wait()
            for name in ("no_thread", "no_fd", "ping"):
                replies[name] = await anyio.to_thread.run_sync(_ask, daemon.config.socket_path, name)
            daemon.request_shutdown()

    anyio.run(main)
    assert replies["no_thread"]["error"]["code"] == "out_of_resources"
    assert "out of threads" in replies["no_thread"]["error"]["message"]
    assert replies["no_fd"]["error"]["code"] == "out_of_resources"
    assert "out of file descriptors" in replies["no_fd"]["error"]["message"]
    assert replies["ping"]["result"] == "pong"  # and it serves on
