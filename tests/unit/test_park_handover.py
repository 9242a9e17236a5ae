"""The pieces of parking that need no daemon: the command line to come back with, the hand-over
variable, and the pid-file lock passed from one program image to the next."""

from __future__ import annotations

import fcntl
import json
import os
import sys

import pytest

from treerag.daemon.lifecycle import InstanceLock
from treerag.daemon.park import RESUME_ENV, resume_argv, take_inherited


def test_resume_argv_keeps_everything_but_the_one_shot_ready_fd():
    argv = ["python3", "-X", "dev", "-m", "treerag.daemon", "--socket", "/s", "--ready-fd", "7", "--log-file", "/l"]
    assert resume_argv(argv) == [sys.executable, "-X", "dev", "-m", "treerag.daemon", "--socket", "/s",
                                 "--log-file", "/l"]


def test_take_inherited_reads_the_variable_once_and_takes_the_descriptors(monkeypatch, tmp_path):
    listen_r, listen_w = os.pipe()
    lock = os.open(tmp_path / "x.pid", os.O_RDWR | os.O_CREAT)
    os.set_inheritable(listen_r, True)
    state = {"server": {"requests": 3}, "parks": 1}
    monkeypatch.setenv(RESUME_ENV, json.dumps({"listen_fd": listen_r, "lock_fd": lock, "parked_at": 0,
                                               "state": state}))
    try:
        got = take_inherited()
        assert got is not None and (got.listen_fd, got.lock_fd, got.state) == (listen_r, lock, state)
        assert got.parked_s > 0
        assert not os.get_inheritable(listen_r)  # workers the daemon starts must not get the socket
        assert RESUME_ENV not in os.environ and take_inherited() is None
    finally:
        for fd in (listen_r, listen_w, lock):
            os.close(fd)


@pytest.mark.parametrize("raw", ["not json", '{"listen_fd": 3}', '{"listen_fd": 9999, "lock_fd": 9998}'])
def test_a_bad_variable_means_a_fresh_start_with_one_line(monkeypatch, capsys, raw):
    monkeypatch.setenv(RESUME_ENV, raw)
    assert take_inherited() is None
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "starting afresh" in err[0]


def test_the_lock_survives_detach_and_adopt(tmp_path):
    path = tmp_path / "d.pid"
    first = InstanceLock(path)
    first.acquire(tmp_path / "d.sock")
    fd = first.detach()
    first.release()  # detached: releasing the old holder neither unlocks nor removes the pid file
    assert path.exists()
    other = os.open(path, os.O_RDWR)
    with pytest.raises(BlockingIOError):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # still held: a second daemon is refused
    second = InstanceLock(path)
    second.adopt(fd)
    second.release()
    assert not path.exists()
    fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released for real now
    os.close(other)
