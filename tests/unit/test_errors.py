"""The error tree: codes, messages built in __init__, and the wire round trip."""

from __future__ import annotations

import pytest

from treerag import errors
from treerag.errors import (
    ConfigError,
    DaemonAlreadyRunning,
    DaemonNotRunning,
    DiskFull,
    FrameTooLarge,
    InvalidParams,
    MethodNotFound,
    PathOutsideProject,
    PermissionDenied,
    ProjectError,
    ProjectNotFound,
    ProtocolError,
    RemoteError,
    StoreCorrupt,
    StoreError,
    Timeout,
    TreeragError,
    error_from_code,
)

EXAMPLES = [
    pytest.param(TreeragError("boom"), "internal", id="base"),
    pytest.param(ConfigError("unknown key 'x'", source="/c.toml", key="x"), "config", id="config"),
    pytest.param(DaemonNotRunning("/run/user/1/treerag/treerag.sock"), "not_running", id="not-running"),
    pytest.param(DaemonAlreadyRunning(1234, "/tmp/s.sock"), "already_running", id="already-running"),
    pytest.param(ProtocolError("malformed msgpack frame"), "protocol", id="protocol"),
    pytest.param(FrameTooLarge(2_000_000, 1 << 20), "frame_too_large", id="frame-too-large"),
    pytest.param(MethodNotFound("no.such"), "method_not_found", id="method-not-found"),
    pytest.param(InvalidParams("'path' must be absolute"), "invalid_params", id="invalid-params"),
    pytest.param(PermissionDenied("not your socket"), "permission_denied", id="permission-denied"),
    pytest.param(ProjectError("bad project"), "project", id="project"),
    pytest.param(ProjectNotFound("/src/x"), "project_not_found", id="project-not-found"),
    pytest.param(PathOutsideProject("../etc/passwd"), "path_outside_project", id="path-outside-project"),
    pytest.param(StoreError("write failed"), "store", id="store"),
    pytest.param(StoreCorrupt("/c/index.sqlite", "not a treerag index"), "store_corrupt", id="store-corrupt"),
    pytest.param(DiskFull("/c/index.sqlite"), "disk_full", id="disk-full"),
    pytest.param(Timeout("no reply in 3s"), "timeout", id="timeout"),
    pytest.param(RemoteError("quota", "over quota"), "quota", id="remote"),
]


@pytest.mark.parametrize(("error", "code"), EXAMPLES)
def test_round_trip_through_the_wire(error: TreeragError, code: str) -> None:
    assert error.code == code
    back = error_from_code(error.code, str(error))
    assert type(back) is type(error)
    assert back.code == code
    assert str(back) == str(error) == back.message


@pytest.mark.parametrize(("error", "code"), EXAMPLES)
def test_every_error_is_a_treerag_error(error: TreeragError, code: str) -> None:
    assert isinstance(error, TreeragError)
    assert isinstance(error, Exception)


def test_unknown_code_becomes_remote_error() -> None:
    err = error_from_code("something_new", "the server says no")
    assert type(err) is RemoteError
    assert (err.code, str(err)) == ("something_new", "the server says no")


def test_rebuilt_errors_keep_class_defaults_for_attributes() -> None:
    err = error_from_code("already_running", "a treerag daemon is already running (pid 7, socket: /s)")
    assert isinstance(err, DaemonAlreadyRunning) and err.pid is None and err.socket is None


@pytest.mark.parametrize(
    ("error", "parts"),
    [
        pytest.param(DaemonNotRunning("/s.sock"), ["not running", "/s.sock", "treerag serve --headless --detach"],
                     id="not-running"),
        pytest.param(DaemonAlreadyRunning("42", "/s.sock"), ["42", "/s.sock"], id="already-running"),
        pytest.param(FrameTooLarge(5000, 1024), ["5000", "1024"], id="frame-too-large"),
        pytest.param(MethodNotFound("nope"), ["'nope'"], id="method-not-found"),
        pytest.param(ProjectNotFound("/src/p"), ["/src/p"], id="project-not-found"),
        pytest.param(PathOutsideProject("../x"), ["../x"], id="path-outside"),
        pytest.param(StoreCorrupt("/i.sqlite", "bad header"), ["/i.sqlite", "bad header"], id="store-corrupt"),
        pytest.param(DiskFull("/i.sqlite"), ["/i.sqlite", "disk full"], id="disk-full"),
        pytest.param(ConfigError("bad", source="/c.toml"), ["/c.toml: bad"], id="config"),
    ],
)
def test_messages_name_what_went_wrong(error: TreeragError, parts: list[str]) -> None:
    for part in parts:
        assert part in str(error)


def test_hierarchy() -> None:
    assert issubclass(FrameTooLarge, ProtocolError)
    assert issubclass(ProjectNotFound, ProjectError) and issubclass(PathOutsideProject, ProjectError)
    assert issubclass(StoreCorrupt, StoreError) and issubclass(DiskFull, StoreError)


def test_exported_members() -> None:
    public = {name for name in vars(errors) if not name.startswith("_") and name[0].isupper()}
    public.add("error_from_code")
    assert set(errors.__all__) == public - {"Any", "TypeVar"}


def test_a_missing_project_says_what_the_path_is(tmp_path) -> None:
    """A directory gets the hint to index it; a missing path or a file never does (indexing them cannot work)."""
    file = tmp_path / "notes.txt"
    file.write_text("x")
    assert str(ProjectNotFound(str(tmp_path))) == (
        f"no treerag project at {tmp_path}; index it with `treerag index {tmp_path}`")
    assert str(ProjectNotFound(str(tmp_path / "gone"))) == f"no such file or directory: {tmp_path / 'gone'}"
    assert str(ProjectNotFound(str(file))) == f"no treerag project contains {file}"
    assert str(ProjectNotFound(str(file), want_directory=True)) == f"not a directory: {file}"
