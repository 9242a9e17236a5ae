"""Every error treerag raises on purpose, and how it travels over the wire.

Each class carries ``code``, the protocol error code the daemon puts in an
error reply; clients turn a reply back into the same class with
:func:`error_from_code`. Messages are built in ``__init__`` so a raise site is
one line, and they are written for the user: one clear line, no traceback.

    TreeragError                  internal
    ├── ConfigError               config
    ├── DaemonNotRunning          not_running
    ├── DaemonAlreadyRunning      already_running
    ├── ProtocolError             protocol
    │   └── FrameTooLarge         frame_too_large
    ├── MethodNotFound            method_not_found
    ├── InvalidParams             invalid_params
    ├── PermissionDenied          permission_denied
    ├── ProjectError              project
    │   ├── ProjectNotFound       project_not_found
    │   └── PathOutsideProject    path_outside_project
    ├── StoreError                store
    │   ├── StoreCorrupt          store_corrupt
    │   └── DiskFull              disk_full
    ├── Timeout                   timeout
    └── RemoteError               (the code the server sent)

A subclass that sets its own ``code`` is registered for :func:`error_from_code`
automatically; a code nobody registered comes back as :class:`RemoteError`.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

__all__ = [
    "ConfigError",
    "DaemonAlreadyRunning",
    "DaemonNotRunning",
    "DiskFull",
    "FrameTooLarge",
    "InvalidParams",
    "MethodNotFound",
    "OutOfResources",
    "PathOutsideProject",
    "PermissionDenied",
    "ProjectError",
    "ProjectNotFound",
    "ProtocolError",
    "RemoteError",
    "StoreCorrupt",
    "StoreError",
    "Timeout",
    "TooManyConnections",
    "TreeragError",
    "error_from_code",
]

_E = TypeVar("_E", bound="TreeragError")
_BY_CODE: dict[str, type[TreeragError]] = {}


class TreeragError(Exception):
    """Base of every treerag error; ``code`` is the protocol error code."""

    code: str = "internal"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            _BY_CODE.setdefault(cls.code, cls)

    @property
    def message(self) -> str:
        return str(self)

    @classmethod
    def from_message(cls: type[_E], message: str) -> _E:
        """Rebuild the error from a finished message (a wire reply), skipping ``__init__``.

        Attributes that ``__init__`` would have set keep their class defaults (None).
        """
        err = cls.__new__(cls)
        Exception.__init__(err, message)
        return err


class ConfigError(TreeragError):
    """A bad configuration value, key, section or file; names where it came from."""

    code = "config"
    source: str | None = None
    key: str | None = None

    def __init__(self, problem: str, *, source: str | None = None, key: str | None = None) -> None:
        self.source = source
        self.key = key
        super().__init__(f"{source}: {problem}" if source else problem)


class DaemonNotRunning(TreeragError):
    code = "not_running"
    socket: str | None = None

    def __init__(self, socket: str) -> None:
        self.socket = socket
        super().__init__(
            f"treerag daemon is not running (socket: {socket}); start it with `treerag serve --headless --detach`"
        )


class DaemonAlreadyRunning(TreeragError):
    code = "already_running"
    pid: int | str | None = None
    socket: str | None = None

    def __init__(self, pid: int | str, socket: str) -> None:
        self.pid = pid
        self.socket = socket
        super().__init__(f"a treerag daemon is already running (pid {pid}, socket: {socket})")


class ProtocolError(TreeragError):
    """A malformed frame or reply; the connection is usually closed after it."""

    code = "protocol"


class FrameTooLarge(ProtocolError):
    code = "frame_too_large"
    size: int | None = None
    limit: int | None = None

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"frame of {size} bytes exceeds the limit of {limit} bytes")


class MethodNotFound(TreeragError):
    code = "method_not_found"
    method: str | None = None

    def __init__(self, method: str) -> None:
        self.method = method
        super().__init__(f"unknown method {method!r}; the `methods` method lists them")


class InvalidParams(TreeragError):
    code = "invalid_params"


class PermissionDenied(TreeragError):
    code = "permission_denied"


class ProjectError(TreeragError):
    code = "project"


class ProjectNotFound(ProjectError):
    code = "project_not_found"
    path: str | None = None

    def __init__(self, path: str, *, want_directory: bool = False) -> None:
        """The message says what ``path`` is (missing, a file, a directory: one stat where it is raised, never
        on a hot path). ``want_directory``: it was to be a project root (``treerag index``)."""
        self.path = path
        if not os.path.exists(path):
            message = f"no such file or directory: {path}"
        elif not os.path.isdir(path):
            message = f"not a directory: {path}" if want_directory else f"no treerag project contains {path}"
        else:
            message = f"no treerag project at {path}; index it with `treerag index {path}`"
        super().__init__(message)


class PathOutsideProject(ProjectError):
    code = "path_outside_project"
    path: str | None = None

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"path {path} is outside the project")


class StoreError(TreeragError):
    """The on-disk index could not be read or written."""

    code = "store"


class StoreCorrupt(StoreError):
    code = "store_corrupt"
    path: str | None = None
    reason: str | None = None

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"index {path} is unusable: {reason}")


class DiskFull(StoreError):
    code = "disk_full"
    path: str | None = None

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"disk full while writing {path}; index writes stop, serving from what is loaded")


class Timeout(TreeragError):
    code = "timeout"


class TooManyConnections(TreeragError):
    """The daemon already holds ``daemon.max_connections`` connections."""

    code = "too_many_connections"


class OutOfResources(TreeragError):
    """The daemon ran out of a system resource (file descriptors, threads) for this request."""

    code = "out_of_resources"


class RemoteError(TreeragError):
    """A server error reply whose code no local class claims; keeps the server's code."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def error_from_code(code: str, message: str) -> TreeragError:
    """Map a wire error ``{code, message}`` back to its class (clients re-raise this).

    The message is kept verbatim; an unknown code becomes ``RemoteError(code, message)``.
    """
    if code == TreeragError.code:
        return TreeragError(message)
    cls = _BY_CODE.get(code)
    if cls is None:
        return RemoteError(code, message)
    return cls.from_message(message)
