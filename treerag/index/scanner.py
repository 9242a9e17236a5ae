"""Walk a project root and list the files the index should hold.

:func:`scan` is the first step of indexing, :func:`stat_walk` the watcher's
cheap reconcile after an event burst, :func:`classify_file` the verdict on one
changed path. All three share the rules below and never raise for a file or
directory inside the tree; only a root (or ``under``) that cannot be listed
raises :class:`OSError`.

Per entry, in order (first hit wins, counted in ``ScanResult.skipped``):

``ignored``
    :class:`~treerag.index.ignore.IgnoreRules` (an ignored directory counts
    once; nothing under it is visited, listed or watched).
``symlink_escape`` / ``symlink_loop`` / ``symlink_internal``
    Symlinks are never followed, as git never follows them. One resolving
    outside the root is an escape; a directory link to itself or an ancestor
    is a loop; any other in-root link is internal: its target is indexed once,
    under its own path, if the rules let it (indexing it twice would
    duplicate symbols and graph edges, and the watcher would see changes only
    under one of the two paths). A dangling link is ``unreadable``. The walk
    also records the ``(st_dev, st_ino)`` of every directory, so a bind mount
    looping back is cut as ``symlink_loop`` too.
``special``
    FIFOs, sockets, devices (never opened: opening a FIFO blocks).
``secret``
    :func:`~treerag.index.secrets.is_secret_path`, or, for the files sniffed
    below, :func:`~treerag.index.secrets.looks_like_secret_content`.
``too_large``
    Larger than ``max_file_bytes``.
``binary``
    A known binary extension (no open), or a NUL byte in the first 8 KiB.
``unreadable``
    No read permission (judged from the mode bits already in hand, no
    ``access()`` call), a directory that cannot be listed, or a sniff that
    fails.

Binary policy, chosen to cost the fewest opens: a known binary extension is
binary, a known text extension or name is text, and only files with neither
are opened to sniff their head. The indexer reads every listed file in full
anyway, so it passes the head to :func:`sniff_head` for the final word (a
``.txt`` in UTF-16 is caught there) at no extra open. Empty files are text.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from treerag.index.ignore import IgnoreRules
from treerag.index.secrets import is_secret_path, looks_like_secret_content

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "SKIP_REASONS",
    "SNIFF_BYTES",
    "ScanResult",
    "ScannedFile",
    "classify_file",
    "scan",
    "sniff_head",
    "stat_walk",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_FILE_BYTES = 1_048_576
SNIFF_BYTES = 8192

EXAMPLES_KEPT = 3  # paths remembered per skip reason
SKIP_REASONS = (
    "ignored", "secret", "too_large", "binary",
    "symlink_escape", "symlink_loop", "symlink_internal", "unreadable", "special",
)  # fmt: skip
"""Every key of ``ScanResult.skipped``; :func:`classify_file` may also answer ``missing``."""

_BINARY_EXTS = frozenset({
    # images
    "png", "jpg", "jpeg", "gif", "bmp", "ico", "icns", "tif", "tiff", "webp", "avif",
    "heic", "psd", "xcf",
    # archives and packages
    "zip", "tar", "gz", "tgz", "bz2", "xz", "zst", "lz4", "7z", "rar", "jar", "war",
    "ear", "whl", "egg", "apk", "deb", "rpm", "dmg", "iso",
    # compiled code and objects
    "so", "dll", "dylib", "exe", "o", "obj", "a", "lib", "class", "pyc", "pyo", "pyd",
    "wasm", "bin", "elc", "beam", "mo",
    # fonts
    "woff", "woff2", "ttf", "otf", "eot",
    # media
    "mp3", "mp4", "m4a", "wav", "flac", "ogg", "opus", "aac", "avi", "mov", "mkv",
    "webm",
    # data and documents
    "sqlite", "sqlite3", "db", "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx",
    "odt", "ods", "npy", "npz", "pkl", "pickle", "h5", "hdf5", "parquet", "onnx",
    "pt", "pth", "safetensors", "ckpt",
})  # fmt: skip

_TEXT_EXTS = frozenset({
    # code
    "py", "pyi", "pyx", "pxd", "js", "mjs", "cjs", "jsx", "ts", "mts", "cts", "tsx",
    "go", "rs", "java", "kt", "kts", "scala", "groovy", "gradle", "c", "h", "cc",
    "cpp", "cxx", "hpp", "hh", "hxx", "inl", "m", "mm", "swift", "rb", "rake", "php",
    "pl", "pm", "lua", "sh", "bash", "zsh", "fish", "ps1", "r", "jl", "ex", "exs",
    "erl", "hrl", "hs", "ml", "mli", "fs", "fsx", "cs", "vb", "dart", "clj", "cljs",
    "edn", "elm", "nim", "zig", "v", "sv", "vhd", "sql", "graphql", "gql", "proto",
    "thrift", "vue", "svelte", "astro", "bzl", "star", "nix", "tf", "hcl", "cmake",
    # markup, docs, styles
    "md", "markdown", "rst", "txt", "adoc", "org", "tex", "html", "htm", "xml", "xsl",
    "svg", "css", "scss", "sass", "less", "styl", "ipynb",
    # config and data
    "json", "jsonc", "json5", "yaml", "yml", "toml", "ini", "cfg", "conf",
    "properties", "csv", "tsv", "mk", "gemspec", "podspec", "cabal", "typed",
})  # fmt: skip

_TEXT_NAMES = frozenset({
    "Makefile", "GNUmakefile", "Dockerfile", "Containerfile", "Gemfile", "Rakefile",
    "Procfile", "Vagrantfile", "Jenkinsfile", "BUILD", "WORKSPACE", "LICENSE",
    "COPYING", "NOTICE", "README", "CHANGELOG", "AUTHORS", "CODEOWNERS", "MANIFEST",
    ".gitignore", ".gitattributes", ".gitmodules", ".editorconfig", ".dockerignore",
    ".treeragignore",
})  # fmt: skip

_BINARY, _TEXT, _UNKNOWN = "binary", "text", "unknown"


@dataclass(slots=True, frozen=True)
class ScannedFile:
    """A file the index should hold; ``rel`` is POSIX, relative to the root."""

    rel: str
    size: int
    mtime_ns: int


@dataclass(slots=True)
class ScanResult:
    """What one walk found.

    ``dirs`` are the directories walked (``""`` is the root): the watcher
    watches exactly these, so ignored trees are never watched. ``skipped``
    counts entries by reason, every key of :data:`SKIP_REASONS` present;
    ``examples`` keeps the first few paths of each reason but "ignored", so
    a log line can say which files a user may be missing.
    """

    files: list[ScannedFile] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    examples: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, reason: str, rel: str) -> None:
        self.skipped[reason] += 1
        if reason != "ignored":
            kept = self.examples.setdefault(reason, [])
            if len(kept) < EXAMPLES_KEPT:
                kept.append(rel)


def scan(
    root: Path,
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    rules: IgnoreRules | None = None,
    under: str = "",
) -> ScanResult:
    """List the indexable files under ``root`` (or only under its subdirectory ``under``).

    One ``stat`` per entry; only files with an extension known neither as
    text nor as binary are opened, to sniff their head.
    """
    result = ScanResult()
    skipped = result.skipped
    for rel, path, st, kind in _walk(root, rules, max_file_bytes, under, result):
        if kind == _UNKNOWN and st.st_size:
            try:
                reason = _sniff_file(path)
            except OSError:
                reason = "unreadable"
            if reason is not None:
                result.skip(reason, rel)
                continue
        result.files.append(ScannedFile(rel, st.st_size, st.st_mtime_ns))
    return result


def stat_walk(
    root: Path,
    rules: IgnoreRules | None = None,
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    under: str = "",
) -> dict[str, tuple[int, int]]:
    """``rel -> (size, mtime_ns)`` of the files :func:`scan` would consider, opening none.

    Files of unknown type are not sniffed, so this may list a binary that
    :func:`scan` skipped; the reconcile step should remember what it rejected
    by ``(size, mtime_ns)`` rather than sniff it again.
    """
    return {
        rel: (st.st_size, st.st_mtime_ns)
        for rel, _path, st, _kind in _walk(root, rules, max_file_bytes, under, ScanResult())
    }


def classify_file(
    root: Path,
    rel: str,
    *,
    rules: IgnoreRules | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> str | None:
    """Why the file ``rel`` must not be indexed, or None if it should be.

    Answers a reason of :data:`SKIP_REASONS`, or ``missing`` if nothing is
    there. A directory answers ``special``: for a new directory, call
    :func:`scan` with ``under=rel`` instead.
    """
    rules = rules if rules is not None else IgnoreRules(root)
    real_root = os.path.realpath(root)
    path = os.path.join(real_root, rel)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    except OSError:
        return "unreadable"
    if rules.ignored(rel, stat.S_ISDIR(st.st_mode)):
        return "ignored"
    if stat.S_ISLNK(st.st_mode):
        return _symlink_reason(path, real_root)
    if os.path.realpath(path) != path:  # reached through a linked directory
        return _symlink_reason(os.path.dirname(path), real_root)
    if not stat.S_ISREG(st.st_mode):
        return "special"
    kind = _kind(rel.rpartition("/")[2])
    reason = _file_reason(rel, kind, st, max_file_bytes, _read_check())
    if reason is None and kind == _UNKNOWN and st.st_size:
        try:
            reason = _sniff_file(path)
        except OSError:
            reason = "unreadable"
    return reason


def sniff_head(head: bytes) -> str | None:
    """``binary`` or ``secret`` if a file's first :data:`SNIFF_BYTES` say so, else None."""
    if b"\0" in head:
        return "binary"
    if looks_like_secret_content(head):
        return "secret"
    return None


def _sniff_file(path: str) -> str | None:
    with open(path, "rb") as f:
        return sniff_head(f.read(SNIFF_BYTES))


def _walk(
    root: Path,
    rules: IgnoreRules | None,
    max_file_bytes: int,
    under: str,
    result: ScanResult,
) -> Iterator[tuple[str, str, os.stat_result, str]]:
    """Yield ``(rel, path, stat, kind)`` for each file passing the checks that need no open.

    Fills ``result.dirs`` and ``result.skipped`` as it goes.
    """
    rules = rules if rules is not None else IgnoreRules(root)
    skipped = result.skipped
    real_root = os.path.realpath(root)
    start = os.path.join(real_root, under) if under else real_root
    if under and rules.ignored(under, is_dir=True):
        skipped["ignored"] += 1
        return
    if under and os.path.realpath(start) != start:
        skipped[_symlink_reason(start, real_root)] += 1
        return
    can_read = _read_check()
    top = os.stat(start)  # a root that is not there raises
    seen = {(top.st_dev, top.st_ino)}
    stack = [(under, start)]
    while stack:
        rel_dir, dir_path = stack.pop()
        try:
            with os.scandir(dir_path) as it:
                entries = sorted(it, key=_entry_name)
        except OSError as exc:
            if rel_dir == under:
                raise
            logger.debug("cannot list %s: %s", dir_path, exc)
            result.skip("unreadable", rel_dir + "/")
            continue
        result.dirs.append(rel_dir)
        prefix = rel_dir + "/" if rel_dir else ""
        subdirs: list[tuple[str, str]] = []
        for entry in entries:
            name = entry.name
            rel = prefix + name
            try:
                is_link = entry.is_symlink()
                is_dir = not is_link and entry.is_dir(follow_symlinks=False)
                if rules.ignored(rel, is_dir):  # a link is matched as a file, as git does
                    skipped["ignored"] += 1
                elif is_link:
                    result.skip(_symlink_reason(entry.path, real_root), rel)
                elif is_dir:
                    st = entry.stat(follow_symlinks=False)
                    key = (st.st_dev, st.st_ino)
                    if key in seen:
                        result.skip("symlink_loop", rel)
                    else:
                        seen.add(key)
                        subdirs.append((rel, entry.path))
                elif not entry.is_file(follow_symlinks=False):
                    skipped["special"] += 1
                else:
                    st = entry.stat(follow_symlinks=False)
                    kind = _kind(name)
                    reason = _file_reason(rel, kind, st, max_file_bytes, can_read)
                    if reason is None:
                        yield rel, entry.path, st, kind
                    else:
                        result.skip(reason, rel)
            except OSError as exc:  # vanished or unreachable mid-walk
                logger.debug("cannot stat %s: %s", entry.path, exc)
                result.skip("unreadable", rel)
        stack.extend(reversed(subdirs))


def _entry_name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _kind(name: str) -> str:
    dot = name.rfind(".")
    if dot > 0:
        ext = name[dot + 1 :].lower()
        if ext in _TEXT_EXTS:
            return _TEXT
        if ext in _BINARY_EXTS:
            return _BINARY
    return _TEXT if name in _TEXT_NAMES else _UNKNOWN


def _file_reason(
    rel: str,
    kind: str,
    st: os.stat_result,
    max_file_bytes: int,
    can_read: Callable[[os.stat_result], bool],
) -> str | None:
    """The skip reason of a regular file that needs no open, or None."""
    if is_secret_path(rel):
        return "secret"
    if st.st_size > max_file_bytes:
        return "too_large"
    if kind == _BINARY:
        return "binary"
    if not can_read(st):
        return "unreadable"
    return None


def _symlink_reason(link: str, real_root: str) -> str:
    """Why the symlink (or a path through a linked directory) at ``link`` is not followed."""
    target = os.path.realpath(link)
    if target != real_root and not target.startswith(real_root + os.sep):
        return "symlink_escape"
    try:
        st = os.stat(target)
    except OSError as exc:
        return "symlink_loop" if exc.errno == errno.ELOOP else "unreadable"
    if stat.S_ISDIR(st.st_mode):
        link_dir = os.path.dirname(link)
        if link_dir == target or link_dir.startswith(target + os.sep):
            return "symlink_loop"
    return "symlink_internal"


def _read_check() -> Callable[[os.stat_result], bool]:
    """A test of read permission from a stat result, as ``access(R_OK)`` would answer.

    Saves a syscall per file; ACLs are not consulted (the indexer's open
    still fails safely if one denies the read).
    """
    euid = os.geteuid()
    if euid == 0:
        return _always
    groups = {os.getegid(), *os.getgroups()}

    def can_read(st: os.stat_result) -> bool:
        if st.st_uid == euid:
            return bool(st.st_mode & stat.S_IRUSR)
        if st.st_gid in groups:
            return bool(st.st_mode & stat.S_IRGRP)
        return bool(st.st_mode & stat.S_IROTH)

    return can_read


def _always(st: os.stat_result) -> bool:
    return True
