"""A minimal Linux inotify binding through ctypes: an instance, its watches, and the event parser.

Nothing here blocks or spawns anything: the instance is opened with
``IN_NONBLOCK | IN_CLOEXEC``, so :meth:`Inotify.read` returns ``[]`` when the
queue is empty and the caller waits for readability on :attr:`Inotify.fd`
in its own event loop (see :mod:`treerag.index.watcher`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import struct
import sys
from typing import NamedTuple

__all__ = [
    "IN_CLOSE_WRITE",
    "IN_CREATE",
    "IN_DELETE",
    "IN_DELETE_SELF",
    "IN_DONT_FOLLOW",
    "IN_EXCL_UNLINK",
    "IN_IGNORED",
    "IN_ISDIR",
    "IN_MOVED_FROM",
    "IN_MOVED_TO",
    "IN_MOVE_SELF",
    "IN_ONLYDIR",
    "IN_Q_OVERFLOW",
    "IN_UNMOUNT",
    "Inotify",
    "InotifyEvent",
    "available",
    "parse_events",
]

# <sys/inotify.h>
IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_EXCL_UNLINK = 0x04000000
IN_ISDIR = 0x40000000

_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len — then len bytes of NUL-padded name
# Room for many events per read(); one event is at most 16 + NAME_MAX + 1 bytes.
READ_SIZE = 256 * 1024


class InotifyEvent(NamedTuple):
    wd: int
    mask: int
    cookie: int
    name: str


def parse_events(buf: bytes) -> list[InotifyEvent]:
    """Split a buffer returned by ``read(2)`` on an inotify fd into events (a trailing fragment is ignored)."""
    events: list[InotifyEvent] = []
    offset, size = 0, len(buf)
    while offset + _HEADER.size <= size:
        wd, mask, cookie, length = _HEADER.unpack_from(buf, offset)
        offset += _HEADER.size
        raw = buf[offset : offset + length].split(b"\0", 1)[0]
        offset += length
        events.append(InotifyEvent(wd, mask, cookie, os.fsdecode(raw)))
    return events


def _load_libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_init1.restype = ctypes.c_int
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        libc.inotify_add_watch.restype = ctypes.c_int
        libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.inotify_rm_watch.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


_libc = _load_libc()


def available() -> bool:
    """Whether this platform's libc offers inotify (an instance may still fail to open: see ``Inotify``)."""
    return _libc is not None


def _os_error(path: str | None = None) -> OSError:
    code = ctypes.get_errno()
    return OSError(code, os.strerror(code), path) if path else OSError(code, os.strerror(code))


class Inotify:
    """One inotify instance: a non-blocking fd plus its watch descriptors.

    Raises ``OSError`` on open (``EMFILE``: the per-user ``max_user_instances``
    is used up; ``ENOSYS``: no inotify in this kernel).
    """

    def __init__(self) -> None:
        if _libc is None:
            raise OSError(errno.ENOSYS, "inotify is not available on this platform")
        self._libc = _libc
        fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise _os_error()
        self.fd: int = fd

    def add_watch(self, path: str, mask: int) -> int:
        """Watch ``path`` (absolute); returns its watch descriptor (the same one if already watched)."""
        wd: int = self._libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            raise _os_error(path)
        return wd

    def rm_watch(self, wd: int) -> None:
        """Stop watching ``wd``; a watch the kernel already dropped (``EINVAL``) is not an error."""
        if self._libc.inotify_rm_watch(self.fd, wd) < 0 and ctypes.get_errno() != errno.EINVAL:
            raise _os_error()

    def read(self) -> list[InotifyEvent]:
        """The events queued now, up to ``READ_SIZE`` bytes of them; ``[]`` if none."""
        try:
            return parse_events(os.read(self.fd, READ_SIZE))
        except BlockingIOError:
            return []

    def close(self) -> None:
        """Close the fd; the kernel drops every watch with it."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
