"""Which paths of a project the index never looks at.

One :class:`IgnoreRules` per project root answers ``ignored(rel, is_dir)`` for
the scanner's walk and for every watcher event. It layers, highest precedence
first, the way git does:

1. ``.gitignore`` and ``.treeragignore`` of the path's own directory, then of
   each parent up to the root. In one directory the ``.treeragignore`` lines
   come after the ``.gitignore`` lines, so ``!build/`` there re-includes what
   git ignores. Patterns are relative to the file's directory; within one file
   the last matching pattern wins, and ``!`` negates.
2. ``.git/info/exclude`` (relative to the root).
3. Built-in defaults (:data:`DEFAULT_IGNORED_DIRS` and friends), lowest, so
   any ignore file above can re-include, say, a source package named
   ``build``. Any directory holding a ``pyvenv.cfg`` is a virtualenv and is
   ignored whatever its name (``env`` is ignored only this way). ``build``,
   ``dist`` and ``target`` are ignored unless they hold an ``__init__.py``
   (a Python package so named); other sources so named need ``!build/``.

An ignored directory hides everything under it, as in git: a file under it
cannot be re-included. Ignore files are read lazily, the first time a path in
their directory is asked about, and each exactly once until
:meth:`IgnoreRules.reload_dir`. The user's global ``core.excludesFile`` is not
read: the index should not depend on who runs it.

Matching is the hot path, so each ignore file is compiled twice: pathspec's
:class:`~pathspec.GitIgnoreSpec` (exact git semantics) and one combined
regular expression of all its patterns that only answers "could any pattern
match?". Almost no path matches, and those pay one regex call per ignore file
in scope instead of one per pattern. The defaults are set and suffix lookups.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from pathspec import GitIgnoreSpec

__all__ = [
    "DEFAULT_IGNORED_DIRS",
    "DEFAULT_IGNORED_FILES",
    "DEFAULT_IGNORED_SUFFIXES",
    "DEFAULT_OUTPUT_DIRS",
    "IGNORE_FILE_NAMES",
    "IgnoreRules",
]

logger = logging.getLogger(__name__)

IGNORE_FILE_NAMES = (".gitignore", ".treeragignore")
"""Per-directory ignore files, in the order their lines are concatenated."""

_EXCLUDE_REL = ".git/info/exclude"

DEFAULT_IGNORED_DIRS = frozenset({
    # version control
    ".git", ".hg", ".svn", ".bzr",
    # dependencies and vendored code
    "node_modules", "bower_components", "vendor", "third_party", "site-packages",
    ".venv", "venv",
    # caches and tool state
    "__pycache__", ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache",
    ".eggs", ".gradle", ".idea",
    # build output (see also DEFAULT_OUTPUT_DIRS)
    ".next", ".nuxt", "coverage", "htmlcov",
})  # fmt: skip
"""Directory names ignored at any depth."""

DEFAULT_OUTPUT_DIRS = frozenset({"build", "dist", "target"})
"""Build output names, ignored unless the directory is a Python package of that name
(``pip/_internal/operations/build/`` holds an ``__init__.py``)."""

DEFAULT_IGNORED_FILES = frozenset({
    "package-lock.json", "npm-shrinkwrap.json", "pnpm-lock.yaml", "bun.lockb", "go.sum",
    ".git",  # a worktree's or submodule's pointer file
})  # fmt: skip
"""File names ignored at any depth (lockfiles and the like)."""

DEFAULT_IGNORED_SUFFIXES = (
    ".min.js", ".min.css", ".map",
    ".lock",  # yarn, Cargo, poetry, Pipfile, composer, Gemfile, uv, pdm
    "_pb2.py", "_pb2.pyi", "_pb2_grpc.py", ".pb.go",
    ".egg-info",
)  # fmt: skip
"""File name endings ignored at any depth; ``*.generated.*`` is checked too."""

_DIR_SUFFIXES = (".egg-info",)
_VENV_MARKER = "pyvenv.cfg"
_ANYWHERE = "^(?:.+/)?"  # how pathspec opens the regex of a pattern without a slash
_NAMED_GROUP = re.compile(r"\(\?P<\w+>")

_Chain = tuple[tuple[str, "_Spec"], ...]


class _Spec:
    """One directory's patterns: a cheap "might match" test, then pathspec."""

    __slots__ = ("_maybe", "_spec")

    def __init__(self, spec: GitIgnoreSpec) -> None:
        self._spec = spec
        self._maybe = _prefilter(spec)

    def decide(self, path: str) -> bool | None:
        """True if ignored, False if re-included by ``!``, None if no pattern matches."""
        if self._maybe is not None and self._maybe.match(path) is None:
            return None
        return self._spec.check_file(path).include


def _prefilter(spec: GitIgnoreSpec) -> re.Pattern[str] | None:
    """One regex matching whatever any of the spec's patterns matches, or None.

    The shared ``^(?:.+/)?`` prefix is factored out so the engine backtracks
    over the path's slashes once for all basename patterns, not once each.
    """
    anywhere: list[str] = []
    anchored: list[str] = []
    try:
        for pattern in spec.patterns:
            if pattern.include is None or pattern.regex is None:
                continue
            source = _NAMED_GROUP.sub("(?:", pattern.regex.pattern)
            if source.startswith(_ANYWHERE):
                anywhere.append(source[len(_ANYWHERE) :])
            else:
                anchored.append(source)
        branches = anchored
        if anywhere:
            branches = [_ANYWHERE + "(?:" + "|".join(dict.fromkeys(anywhere)) + ")", *anchored]
        return re.compile("|".join(f"(?:{b})" for b in dict.fromkeys(branches)))
    except (AttributeError, re.error):  # a pathspec we do not understand: no shortcut
        logger.debug("ignore patterns not combinable, matching one by one", exc_info=True)
        return None


def _read_patterns(path: str) -> list[str]:
    """The lines of an ignore file; [] if it is missing or unreadable.

    Bytes that are not UTF-8 are kept as surrogate escapes, the same way
    ``os.scandir`` spells such names, so they still match.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    except OSError as exc:  # a directory, no permission, …
        logger.debug("cannot read ignore file %s: %s", path, exc)
        return []
    return data.decode("utf-8-sig", "surrogateescape").splitlines()


def _compile(lines: list[str]) -> _Spec | None:
    spec = GitIgnoreSpec.from_lines(lines)
    if not any(p.include is not None for p in spec.patterns):
        return None
    return _Spec(spec)


def _exclude_path(root: str) -> str:
    """``.git/info/exclude``, following a worktree's or submodule's ``.git`` file."""
    git = os.path.join(root, ".git")
    if os.path.isfile(git):
        try:
            with open(git, encoding="utf-8", errors="surrogateescape") as f:
                first = f.readline().strip()
        except OSError:
            first = ""
        if first.startswith("gitdir:"):
            git = os.path.join(root, first[len("gitdir:") :].strip())
    return os.path.join(git, "info", "exclude")


class IgnoreRules:
    """The ignore rules of one project root, loaded lazily and cached.

    ``rel`` arguments are POSIX paths relative to the root, without a leading
    or trailing slash; ``""`` is the root itself, which is never ignored. Not
    thread-safe: one owner (the project's indexer) asks and reloads.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._root = os.fspath(root)
        self._specs: dict[str, _Spec | None] = {}  # rel_dir -> its own ignore files
        self._chains: dict[str, _Chain] = {}  # rel_dir -> specs in scope, deepest first
        self._dir_ignored: dict[str, bool] = {"": False}
        self._exclude: _Spec | None = None
        self._exclude_loaded = False

    def ignored(self, rel: str, is_dir: bool) -> bool:
        """Whether ``rel`` (or a directory above it) is ignored."""
        if not rel:
            return False
        parent, _, name = rel.rpartition("/")
        if self._is_dir_ignored(parent):
            return True
        if not is_dir:
            return self._match(rel, name, parent, is_dir=False)
        cached = self._dir_ignored.get(rel)
        if cached is None:
            cached = self._dir_ignored[rel] = self._match(rel, name, parent, is_dir=True)
        return cached

    def rule_file_dir(self, rel: str) -> str | None:
        """The directory whose rules the file ``rel`` defines, or None if it defines none.

        The watcher calls :meth:`reload_dir` with the answer when such a file
        changes; ``.git/info/exclude`` answers ``""`` (the root).
        """
        if rel == _EXCLUDE_REL:
            return ""
        parent, _, name = rel.rpartition("/")
        return parent if name in IGNORE_FILE_NAMES else None

    def reload_dir(self, rel_dir: str) -> None:
        """Forget what was read from ``rel_dir``'s ignore files and every answer they shaped.

        The files are read again the next time a path under ``rel_dir`` is
        asked about. ``""`` reloads everything, ``.git/info/exclude`` included.
        """
        self._specs.pop(rel_dir, None)
        if not rel_dir:
            self._exclude_loaded = False
            self._chains.clear()
            self._dir_ignored = {"": False}
            return
        prefix = rel_dir + "/"
        for key in [k for k in self._chains if k == rel_dir or k.startswith(prefix)]:
            del self._chains[key]
        for key in [k for k in self._dir_ignored if k.startswith(prefix)]:
            del self._dir_ignored[key]

    def _is_dir_ignored(self, rel_dir: str) -> bool:
        cached = self._dir_ignored.get(rel_dir)
        if cached is not None:
            return cached
        # Not met before (a watcher event deep in a fresh tree): decide the ancestors.
        parent, _, name = rel_dir.rpartition("/")
        verdict = self._is_dir_ignored(parent) or self._match(rel_dir, name, parent, is_dir=True)
        self._dir_ignored[rel_dir] = verdict
        return verdict

    def _match(self, rel: str, name: str, parent: str, *, is_dir: bool) -> bool:
        """Decide ``rel`` alone, its parent being known not ignored."""
        tail = "/" if is_dir else ""
        for prefix, spec in self._chain(parent):
            verdict = spec.decide(rel[len(prefix) :] + tail)
            if verdict is not None:
                return verdict
        return self._default_ignored(rel, name, is_dir=is_dir)

    def _default_ignored(self, rel: str, name: str, *, is_dir: bool) -> bool:
        if is_dir:
            path = os.path.join(self._root, rel)
            if name in DEFAULT_OUTPUT_DIRS:
                return not os.path.isfile(os.path.join(path, "__init__.py"))
            return (
                name in DEFAULT_IGNORED_DIRS
                or name.endswith(_DIR_SUFFIXES)
                or os.path.isfile(os.path.join(path, _VENV_MARKER))
            )
        return (
            name in DEFAULT_IGNORED_FILES
            or name.endswith(DEFAULT_IGNORED_SUFFIXES)
            or ".generated." in name
        )

    def _chain(self, rel_dir: str) -> _Chain:
        chain = self._chains.get(rel_dir)
        if chain is not None:
            return chain
        if rel_dir:
            parent = rel_dir.rpartition("/")[0]
            chain = self._chain(parent)
        else:
            exclude = self._exclude_spec()
            chain = (("", exclude),) if exclude is not None else ()
        own = self._dir_spec(rel_dir)
        if own is not None:
            chain = ((rel_dir + "/" if rel_dir else "", own), *chain)
        self._chains[rel_dir] = chain
        return chain

    def _dir_spec(self, rel_dir: str) -> _Spec | None:
        if rel_dir in self._specs:
            return self._specs[rel_dir]
        base = os.path.join(self._root, rel_dir)
        lines: list[str] = []
        for file_name in IGNORE_FILE_NAMES:
            lines += _read_patterns(os.path.join(base, file_name))
        spec = self._specs[rel_dir] = _compile(lines) if lines else None
        return spec

    def _exclude_spec(self) -> _Spec | None:
        if not self._exclude_loaded:
            lines = _read_patterns(_exclude_path(self._root))
            self._exclude = _compile(lines) if lines else None
            self._exclude_loaded = True
        return self._exclude
