"""The scanner: what a walk lists, what it skips and why, and what it never touches."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from treerag.index import scanner
from treerag.index.ignore import IgnoreRules
from treerag.index.scanner import (

    SKIP_REASONS,
    SNIFF_BYTES,
    classify_file,
    scan,
    sniff_head,
    stat_walk,
)

MakeTree = Callable[[Mapping[str, str | bytes]], Path]  # the make_tree fixture (conftest.py)


PEM_KEY = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
    "-----END PRIVATE KEY-----\n"
)




def listed(root: Path, **kwargs: object) -> set[str]:
    return {f.rel for f in scan(root, **kwargs).files}  # type: ignore[arg-type]


def test_lists_files_with_size_and_mtime(make_tree: MakeTree) -> None:
    root = make_tree({"README.md": "# hi\n", "src/pkg/mod.py": "x = 1\n", "Makefile": "all:\n"})

    result = scan(root)

    by_rel = {f.rel: f for f in result.files}
    assert set(by_rel) == {"README.md", "src/pkg/mod.py", "Makefile"}
    st = (root / "src/pkg/mod.py").stat()
    assert (by_rel["src/pkg/mod.py"].size, by_rel["src/pkg/mod.py"].mtime_ns) == (
        st.st_size,
        st.st_mtime_ns,
    )
    assert result.dirs == ["", "src", "src/pkg"]
    assert set(result.skipped) == set(SKIP_REASONS)
    assert sum(result.skipped.values()) == 0


def test_ignored_trees_are_neither_listed_nor_walked(make_tree: MakeTree) -> None:
    root = make_tree({
        ".gitignore": "*.log\nout/\n/only_root.txt\n",
        "sub/.gitignore": "!keep.log\n",
        ".treeragignore": "fixtures/\n",
        ".git/info/exclude": "scratch.md\n",
        ".git/HEAD": "ref: refs/heads/main\n",
        "app.log": "", "sub/keep.log": "", "sub/drop.txt": "",
        "out/a.py": "", "only_root.txt": "", "sub/only_root.txt": "",
        "tests/fixtures/big.json": "{}", "scratch.md": "",
        "node_modules/react/index.js": "", ".venv/lib/x.py": "",
        "static/app.min.js": "", "package-lock.json": "{}", "src/main.py": "",
    })  # fmt: skip

    result = scan(root)

    assert {f.rel for f in result.files} == {
        ".gitignore", ".treeragignore", "sub/.gitignore",
        "sub/keep.log", "sub/drop.txt", "sub/only_root.txt", "src/main.py",
    }  # fmt: skip
    assert sorted(result.dirs) == ["", "src", "static", "sub", "tests"]
    # .git, out, node_modules, .venv, fixtures; app.log, only_root.txt, scratch.md, min.js, lock
    assert result.skipped["ignored"] == 10


@pytest.mark.parametrize(
    "rel",
    [
        pytest.param(".env", id="dotenv"),
        pytest.param(".env.local", id="dotenv-local"),
        pytest.param("id_rsa", id="ssh-key"),
        pytest.param("certs/server.pem", id="pem"),
        pytest.param("config/credentials.json", id="credentials-json"),
    ],
)
def test_secrets_are_never_listed(make_tree: MakeTree, rel: str) -> None:
    root = make_tree({rel: "SECRET=1\n", "main.py": ""})

    result = scan(root)

    assert {f.rel for f in result.files} == {"main.py"}
    assert result.skipped["secret"] == 1
    assert classify_file(root, rel) == "secret"


def test_env_example_is_listed(make_tree: MakeTree) -> None:
    root = make_tree({".env.example": "API_KEY=\n", ".env": "API_KEY=x\n"})

    assert listed(root) == {".env.example"}


def test_private_key_content_under_an_innocent_name(make_tree: MakeTree) -> None:
    root = make_tree({"config.txt": PEM_KEY, "deploy_key": PEM_KEY})

    result = scan(root)

    # deploy_key has no known extension, so the scanner sniffs it and sees the key;
    # config.txt is known text and is not opened here: the indexer's sniff_head catches it.
    assert {f.rel for f in result.files} == {"config.txt"}
    assert result.skipped["secret"] == 1
    assert sniff_head((root / "config.txt").read_bytes()[:SNIFF_BYTES]) == "secret"


def test_symlink_loop_is_cut(make_tree: MakeTree) -> None:
    root = make_tree({"a/b/x.py": ""})
    (root / "a/b/up").symlink_to("..", target_is_directory=True)
    (root / "self").symlink_to("self")

    result = scan(root)

    assert {f.rel for f in result.files} == {"a/b/x.py"}
    assert result.skipped["symlink_loop"] == 2
    assert result.dirs == ["", "a", "a/b"]


def test_symlink_escaping_the_root_is_not_followed(make_tree: MakeTree, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "stolen.py").write_text("")
    root = make_tree({"main.py": ""})
    (root / "ext").symlink_to(outside, target_is_directory=True)
    (root / "ext_file.py").symlink_to(outside / "stolen.py")

    result = scan(root)

    assert {f.rel for f in result.files} == {"main.py"}
    assert result.skipped["symlink_escape"] == 2
    assert "ext" not in result.dirs


def test_symlink_inside_the_root_is_indexed_once_at_its_target(make_tree: MakeTree) -> None:
    root = make_tree({"src/real.py": "", "src/pkg/mod.py": ""})
    (root / "alias.py").symlink_to("src/real.py")
    (root / "pkg_link").symlink_to("src/pkg", target_is_directory=True)
    (root / "dangling").symlink_to("nowhere")

    result = scan(root)

    assert {f.rel for f in result.files} == {"src/real.py", "src/pkg/mod.py"}
    assert result.skipped["symlink_internal"] == 2
    assert result.skipped["unreadable"] == 1  # the dangling link
    assert classify_file(root, "pkg_link/mod.py") == "symlink_internal"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        pytest.param("blob.dat", b"abc\x00def", "binary", id="nul-byte"),
        pytest.param("logo.png", b"not really a png", "binary", id="binary-extension"),
        pytest.param("lib.so", b"", "binary", id="empty-but-binary-extension"),
        pytest.param("empty.py", b"", None, id="zero-bytes-is-text"),
        pytest.param("empty_unknown", b"", None, id="zero-bytes-unknown-type"),
        pytest.param("latin1.txt", b"caf\xe9 cr\xe8me\n", None, id="non-utf8-text"),
        pytest.param("notes.nfo", b"caf\xe9\n", None, id="non-utf8-sniffed"),
        pytest.param("LICENSE", b"MIT\n", None, id="known-text-name"),
    ],
)
def test_binary_detection(
    make_tree: MakeTree, name: str, content: bytes, reason: str | None
) -> None:
    root = make_tree({name: content})

    result = scan(root)

    assert classify_file(root, name) == reason
    if reason is None:
        assert [f.rel for f in result.files] == [name]
    else:
        assert result.files == []
        assert result.skipped[reason] == 1


def test_only_files_of_unknown_type_are_opened(
    make_tree: MakeTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_tree({
        "a.py": "x", "b.md": "x", "c.png": "x", "Dockerfile": "x",
        "d.weird": "x", "noext": "x", "empty": "",
    })  # fmt: skip
    opened: list[str] = []
    real_sniff = scanner._sniff_file

    def spy(path: str) -> str | None:
        opened.append(os.path.basename(path))
        return real_sniff(path)

    monkeypatch.setattr(scanner, "_sniff_file", spy)

    scan(root)

    assert sorted(opened) == ["d.weird", "noext"]


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        pytest.param(100, {"f.py"}, id="at-limit"),
        pytest.param(101, set(), id="over-limit"),
    ],
)
def test_size_cap(make_tree: MakeTree, size: int, expected: set[str]) -> None:
    root = make_tree({"f.py": "x" * size})

    result = scan(root, max_file_bytes=100)

    assert {f.rel for f in result.files} == expected
    assert result.skipped["too_large"] == len({"f.py"} - expected)


def test_fifo_is_skipped_without_blocking(make_tree: MakeTree) -> None:
    root = make_tree({"main.py": ""})
    os.mkfifo(root / "pipe")  # opening it for read would block forever

    result = scan(root)

    assert {f.rel for f in result.files} == {"main.py"}
    assert result.skipped["special"] == 1
    assert classify_file(root, "pipe") == "special"


NOBODY = 65534


def scan_as_unprivileged(root: Path) -> tuple[set[str], list[str], dict[str, int]]:
    """Scan ``root`` as the current user, or, if that is root, as ``nobody`` in a forked child.

    Root reads mode-000 files and lists mode-000 directories regardless, so
    the child drops its privileges first; the kernel then denies for real.
    """
    if os.geteuid() != 0:
        result = scan(root)
        return {f.rel for f in result.files}, result.dirs, result.skipped
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            result = scan(root)
            payload = [[f.rel for f in result.files], result.dirs, result.skipped]
            os.write(write_end, json.dumps(payload).encode())
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the unprivileged scan failed"
    files, dirs, skipped = json.loads(data)
    return set(files), dirs, skipped


@pytest.fixture
def world_traversable_tree() -> Iterator[Path]:
    """A root that ``nobody`` can reach: pytest's own tmp_path sits under a 0700 directory."""
    base = Path(tempfile.mkdtemp(prefix="treerag-perm-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        for path in [base, *base.rglob("*")]:
            path.chmod(0o755)
        shutil.rmtree(base)


def test_unreadable_file_and_dir_for_real(world_traversable_tree: Path) -> None:
    root = world_traversable_tree
    for rel in ("ok.py", "locked.py", "odd.bin2", "locked_dir/x.py", "open_dir/y.py"):
        (root / rel).parent.mkdir(exist_ok=True)
        (root / rel).write_text("x\n")
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    for rel in ("locked.py", "odd.bin2", "locked_dir"):  # odd.bin2 would be sniffed
        (root / rel).chmod(0)

    files, dirs, skipped = scan_as_unprivileged(root)

    assert files == {"ok.py", "open_dir/y.py"}
    assert skipped["unreadable"] == 3
    assert sorted(dirs) == ["", "open_dir"]


def test_unreadable_file_simulated(make_tree: MakeTree, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs as root too: pretend to be another user, so mode 000 denies us the read.

    This exercises the scanner's own permission check on the mode bits, not the
    kernel's; the real thing is covered by the test above when not run as root.
    """
    root = make_tree({"ok.py": "", "locked.py": ""})
    (root / "ok.py").chmod(0o644)
    (root / "locked.py").chmod(0)
    monkeypatch.setattr(os, "geteuid", lambda: 54321)
    monkeypatch.setattr(os, "getegid", lambda: 54321)
    monkeypatch.setattr(os, "getgroups", lambda: [])

    result = scan(root)

    assert {f.rel for f in result.files} == {"ok.py"}
    assert result.skipped["unreadable"] == 1
    assert classify_file(root, "locked.py") == "unreadable"


def test_unlistable_dir_simulated(make_tree: MakeTree, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs as root too: listing the directory raises PermissionError as it would for a user."""
    root = make_tree({"ok.py": "", "locked/x.py": "", "locked/deeper/y.py": ""})
    real_scandir = os.scandir
    locked = os.path.realpath(root / "locked")

    def scandir(path: str) -> Iterator[os.DirEntry[str]]:
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)

    result = scan(root)

    assert {f.rel for f in result.files} == {"ok.py"}
    assert result.skipped["unreadable"] == 1
    assert result.dirs == [""]


def test_missing_root_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        scan(tmp_path / "nope")


def test_scan_under_a_subdirectory(make_tree: MakeTree) -> None:
    root = make_tree({"a.py": "", "pkg/b.py": "", "pkg/sub/c.py": "", "node_modules/d.js": ""})
    rules = IgnoreRules(root)

    result = scan(root, rules=rules, under="pkg")
    ignored = scan(root, rules=rules, under="node_modules")

    assert {f.rel for f in result.files} == {"pkg/b.py", "pkg/sub/c.py"}
    assert result.dirs == ["pkg", "pkg/sub"]
    assert (ignored.files, ignored.dirs, ignored.skipped["ignored"]) == ([], [], 1)


def test_stat_walk_matches_scan_and_opens_nothing(
    make_tree: MakeTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_tree({
        "a.py": "x = 1\n", "docs/b.md": "# b\n", "noext": "text\n", "blob.dat": b"\x00",
        ".env": "K=v\n", "img.png": b"\x89PNG", ".gitignore": "*.tmp\n", "c.tmp": "",
    })  # fmt: skip
    rules = IgnoreRules(root)
    expected = {f.rel: (f.size, f.mtime_ns) for f in scan(root, rules=rules).files}

    def no_open(path: str) -> str | None:
        raise AssertionError(f"stat_walk opened {path}")

    monkeypatch.setattr(scanner, "_sniff_file", no_open)
    walked = stat_walk(root, rules)

    # blob.dat is only known binary after a sniff, so stat_walk still offers it
    assert walked == {**expected, "blob.dat": walked["blob.dat"]}
    assert walked["blob.dat"][0] == 1


@pytest.mark.parametrize(
    ("rel", "reason"),
    [
        pytest.param("src/ok.py", None, id="indexable"),
        pytest.param("gone.py", "missing", id="missing"),
        pytest.param("debug.log", "ignored", id="gitignored"),
        pytest.param("node_modules/x/index.js", "ignored", id="under-ignored-dir"),
        pytest.param(".env", "secret", id="secret"),
        pytest.param("src", "special", id="directory"),
        pytest.param("big.txt", "too_large", id="too-large"),
    ],
)
def test_classify_file(make_tree: MakeTree, rel: str, reason: str | None) -> None:
    root = make_tree({
        ".gitignore": "*.log\n", "src/ok.py": "", "debug.log": "",
        "node_modules/x/index.js": "", ".env": "", "big.txt": "x" * 2000,
    })  # fmt: skip

    assert classify_file(root, rel, rules=IgnoreRules(root), max_file_bytes=1000) == reason
