"""Single instance, the socket's directory and file, and readiness reporting.

The pid file next to the socket is held with ``flock`` for the daemon's whole
life, parked or not (the descriptor survives the exec into the waiter). The
kernel drops the lock when the process dies, however it dies, so a socket
file found while we hold the lock is stale by construction and is replaced;
a lock we cannot take means a live daemon, and we refuse.
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
from contextlib import suppress
from pathlib import Path

from treerag.errors import DaemonAlreadyRunning, PermissionDenied

__all__ = ["InstanceLock", "prepare_socket_dir", "remove_stale_socket"]

logger = logging.getLogger(__name__)


def prepare_socket_dir(directory: Path) -> None:
    """Create the socket directory 0700, or check that an existing one is ours and private."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = directory.lstat()
    if not stat.S_ISDIR(st.st_mode):
        raise PermissionDenied(f"socket directory {directory} is not a directory")
    if st.st_uid != os.getuid():
        raise PermissionDenied(
            f"socket directory {directory} belongs to uid {st.st_uid}, not to you (uid {os.getuid()}); "
            "remove it, or set daemon.socket_path to a directory you own"
        )
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(directory, 0o700)
        logger.warning("socket directory %s had mode %o, open to other users; set it to 0700", directory,
                       stat.S_IMODE(st.st_mode), extra={"reason": "socket_dir_mode"})


class InstanceLock:
    """The flock'd pid file that makes the daemon a single instance."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1

    def acquire(self, socket_path: Path) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise DaemonAlreadyRunning(pid, str(socket_path)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def adopt(self, fd: int) -> None:
        """Take over the lock a parked predecessor (this same process, before exec) held on ``fd``."""
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the same open file: succeeds iff we still hold it
        self._fd = fd

    def detach(self) -> int:
        """Give the locked descriptor away (to the parked waiter), keeping the lock and the file."""
        fd, self._fd = self._fd, -1
        return fd

    def release(self) -> None:
        if self._fd < 0:
            return
        with suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = -1


def remove_stale_socket(socket_path: Path) -> bool:
    """Remove a socket left by a dead daemon. Call only while holding the InstanceLock."""
    try:
        st = socket_path.lstat()
    except FileNotFoundError:
        return False
    if not stat.S_ISSOCK(st.st_mode):
        raise PermissionDenied(f"{socket_path} exists and is not a socket; remove it by hand")
    socket_path.unlink()
    logger.info("replaced stale socket %s left by a daemon that is gone (it crashed or was killed); nothing to do",
                socket_path, extra={"reason": "stale_socket"})
    return True
