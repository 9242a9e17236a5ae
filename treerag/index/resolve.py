"""Import resolution: which project file an import (as written) refers to.

An :class:`ImportResolver` is built once per project from the relative posix
paths of all indexed files, plus the few metadata files it can read cheaply
from the project root (``go.mod``, ``Cargo.toml``, ``tsconfig.json`` /
``jsconfig.json``). Each language builds its lookup tables on first use, in
one pass over the paths; a lookup is then a handful of dict and set probes,
never a scan of the paths. ``None`` means external (stdlib, a dependency) or
not found.

Per language:

- **Python**: a file is importable under the dotted names of its path below
  any directory that is not a package (no ``__init__.py``), so
  ``src/mypkg/sub/mod.py`` is ``mypkg.sub.mod`` (and ``src.mypkg.sub.mod``).
  A single-segment name (``import utils``) only matches a package, a sibling
  of the importer, or a module at the project root or in a ``src``/``lib``
  directory, so that ``import json`` does not land on ``scripts/json.py``.
  Relative imports count dots from the importer's package;
  ``from pkg import name`` prefers the submodule ``pkg/name`` over ``pkg``.
- **JavaScript/TypeScript**: relative specifiers with extension probing
  (``.ts .tsx .d.ts .js .jsx .mjs .cjs .mts .cts``, then ``/index.*``; a
  ``.js`` specifier also finds the ``.ts`` source); bare specifiers through
  the nearest tsconfig/jsconfig ``paths`` and ``baseUrl`` (no ``extends``).
- **Go**: the module path of each ``go.mod`` maps an import path to a
  package directory; the package is represented by its first ``.go`` file in
  sorted order that is not a ``_test.go`` (any ``.go`` file if all are tests).
- **Rust**: ``crate::``, ``self::``, ``super::``, the crate's own name from
  ``Cargo.toml``, and paths relative to the importing module, mapped onto
  ``a.rs`` / ``a/mod.rs`` below the crate's ``src`` (any directory holding a
  ``lib.rs`` or ``main.rs``); the longest module prefix of the path wins, so
  ``crate::store::Db`` is ``src/store.rs``. ``mod:foo`` (``mod foo;``) is
  ``foo.rs`` or ``foo/mod.rs`` next to a crate root or ``mod.rs``, else in the
  directory named after the declaring module.
- **Java**: the qualified name against the path suffixes of ``.java`` files
  (``com.acme.Foo`` → ``**/com/acme/Foo.java``); a member or nested class
  falls back to its enclosing class, ``com.acme.*`` to a file of the package.
- **C/C++**: an include relative to the includer, else the project file
  whose path ends with the include (``<...>`` too: projects often include
  their own headers with brackets).
- **Ruby**: ``./x`` and ``../x`` (``require_relative``) relative to the
  requirer; ``require 'x'`` → ``…/lib/x.rb`` first, else any ``**/x.rb``.

Where several files match, the one sharing the longest directory prefix with
the importer wins (then the shorter path, then the first in sorted order).
"""

from __future__ import annotations

import functools
import json
import logging
import posixpath
import re
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from treerag.index.parsing.rust import MOD_PREFIX

if TYPE_CHECKING:
    from os import PathLike

    from treerag.index.model import Import

__all__ = ["ImportResolver"]

logger = logging.getLogger(__name__)

_METADATA_LIMIT = 1 << 20  # bytes read from one go.mod / Cargo.toml / tsconfig.json
_PYTHON_SOURCE_ROOTS = frozenset({"", "src", "lib"})
_JS_EXTENSIONS = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
_JS_SOURCE_OF = {".js": (".ts", ".tsx"), ".jsx": (".tsx",), ".mjs": (".mts",), ".cjs": (".cts",)}
_C_EXTENSIONS = frozenset(
    {".h", ".hh", ".hpp", ".hxx", ".h++", ".inc", ".inl", ".ipp", ".tcc", ".def", ".c", ".cc", ".cpp", ".cxx"}
)
_GO_MODULE = re.compile(r"^\s*module\s+\"?([^\s\"]+)", re.MULTILINE)


class ImportResolver:
    """Resolve imports to project files; see the module docstring for the rules per language."""

    def __init__(self, paths: Iterable[str], root: str | PathLike[str] | None = None) -> None:
        self._paths = frozenset(paths)
        self._sorted = sorted(self._paths)
        self._root = Path(root) if root is not None else None

    def resolve(self, importer: str, language: str, imp: Import) -> str | None:
        """The project file ``imp`` (found in ``importer``) refers to, or None when it is external."""
        found = self.resolve_all(importer, language, imp)
        return found[0] if found else None

    def resolve_all(self, importer: str, language: str, imp: Import) -> list[str]:
        """Every project file ``imp`` refers to, most specific first.

        Only Python and Rust name several modules in one import
        (``from pkg import a, b``, ``use crate::{a, b}``); elsewhere this is
        ``[resolve(...)]`` or ``[]``.
        """
        if language == "python":
            found = self._python.resolve(importer, imp)
        elif language in ("javascript", "typescript", "tsx"):
            found = [p] if (p := self._js.resolve(importer, imp.target)) else []
        elif language == "go":
            found = [p] if (p := self._go.resolve(imp.target)) else []
        elif language == "rust":
            found = self._rust.resolve(importer, imp)
        elif language == "java":
            found = [p] if (p := self._java.resolve(importer, imp)) else []
        elif language in ("c", "cpp"):
            found = [p] if (p := self._c.resolve(importer, imp.target)) else []
        elif language == "ruby":
            found = [p] if (p := self._ruby.resolve(importer, imp.target)) else []
        else:
            found = []
        return [p for p in dict.fromkeys(found) if p != importer]

    def _read(self, rel_path: str) -> str | None:
        if self._root is None:
            return None
        try:
            with open(self._root / rel_path, "rb") as handle:
                return handle.read(_METADATA_LIMIT).decode("utf-8", "replace")
        except OSError:
            return None

    def _files(self, *extensions: str) -> list[str]:
        return [p for p in self._sorted if p.endswith(extensions)]

    @functools.cached_property
    def _python(self) -> _Python:
        return _Python(self._files(".py"), self._paths)

    @functools.cached_property
    def _js(self) -> _JavaScript:
        configs: dict[str, _TsPaths] = {}
        for path in self._sorted:
            if posixpath.basename(path) in ("tsconfig.json", "jsconfig.json"):
                text = self._read(path)
                if text is not None and (config := _ts_paths(path, text)) is not None:
                    configs.setdefault(posixpath.dirname(path), config)
        return _JavaScript(self._paths, configs)

    @functools.cached_property
    def _go(self) -> _Go:
        modules = []
        for path in self._sorted:
            if posixpath.basename(path) == "go.mod" and (text := self._read(path)) is not None:
                if match := _GO_MODULE.search(text):
                    modules.append((match.group(1), posixpath.dirname(path)))
        return _Go(self._files(".go"), modules)

    @functools.cached_property
    def _rust(self) -> _Rust:
        crates = {}
        for path in self._sorted:
            if posixpath.basename(path) == "Cargo.toml" and (text := self._read(path)) is not None:
                if name := _crate_name(text):
                    crates[name] = posixpath.join(posixpath.dirname(path), "src")
        return _Rust(self._files(".rs"), self._paths, crates)

    @functools.cached_property
    def _java(self) -> _Java:
        return _Java(self._files(".java"))

    @functools.cached_property
    def _c(self) -> _C:
        return _C([p for p in self._sorted if posixpath.splitext(p)[1].lower() in _C_EXTENSIONS], self._paths)

    @functools.cached_property
    def _ruby(self) -> _Ruby:
        return _Ruby(self._files(".rb"), self._paths)


# --- shared helpers ---------------------------------------------------------


def _nearest(importer: str, candidates: Sequence[str]) -> str | None:
    """The candidate sharing the longest directory prefix with ``importer`` (then the shortest path)."""
    if len(candidates) < 2:
        return candidates[0] if candidates else None
    here = posixpath.dirname(importer).split("/")

    def closeness(path: str) -> tuple[int, int, str]:
        shared = 0
        for a, b in zip(here, posixpath.dirname(path).split("/"), strict=False):
            if a != b:
                break
            shared += 1
        return (-shared, path.count("/"), path)

    return min(candidates, key=closeness)


def _suffixes(parts: Sequence[str], sep: str) -> Iterable[tuple[str, str]]:
    """``(suffix, prefix)`` for every tail of ``parts``: ``c``, ``b<sep>c``, ``a<sep>b<sep>c``."""
    for start in range(len(parts) - 1, -1, -1):
        yield sep.join(parts[start:]), "/".join(parts[:start])


def _relative(importer: str, target: str) -> str | None:
    """``target`` joined to the importer's directory, or None when it climbs out of the project."""
    path = posixpath.normpath(posixpath.join(posixpath.dirname(importer), target))
    return None if path == ".." or path.startswith("../") else path


class _SuffixIndex:
    """Paths by every trailing run of their components (``c.h``, ``b/c.h``, ``a/b/c.h``)."""

    def __init__(self, paths: Iterable[str]) -> None:
        self._by_suffix: dict[str, list[str]] = defaultdict(list)
        for path in paths:
            for suffix, _ in _suffixes(path.split("/"), "/"):
                self._by_suffix[suffix].append(path)

    def get(self, suffix: str) -> list[str]:
        return self._by_suffix.get(suffix.strip("/"), [])


# --- Python -------------------------------------------------------------------


class _PythonModule(NamedTuple):
    path: str
    root: str  # the directory the dotted name starts from
    package: bool


class _Python:
    def __init__(self, files: list[str], paths: frozenset[str]) -> None:
        self._paths = paths
        packages = {posixpath.dirname(p) for p in files if posixpath.basename(p) == "__init__.py"}
        self._modules: dict[str, list[_PythonModule]] = defaultdict(list)
        for path in files:
            parts = path[: -len(".py")].split("/")
            package = parts[-1] == "__init__"
            if package:
                parts.pop()
            for name, root in _suffixes(parts, "."):
                if root not in packages:  # importable only from a directory on sys.path
                    self._modules[name].append(_PythonModule(path, root, package))

    def resolve(self, importer: str, imp: Import) -> list[str]:
        """Submodules named by a from-import, then the module itself when some names are not submodules."""
        names = [n for n in imp.names if n != "*"]
        if imp.target.startswith("."):
            directory = self._relative_directory(importer, imp.target)
            if directory is None:
                return []
            submodules = [p for n in names if (p := self._file(directory, n))]
            module = self._file(directory)
        else:
            submodules = [p for n in names if (p := self._lookup(importer, f"{imp.target}.{n}"))]
            module = self._lookup(importer, imp.target)
        if module is not None and (len(submodules) < len(names) or not names):
            return [*submodules, module]
        return submodules

    @staticmethod
    def _relative_directory(importer: str, target: str) -> str | None:
        """``..a.b`` seen from ``pkg/sub/x.py`` → ``pkg/a/b`` (the module path, without extension)."""
        dots = len(target) - len(target.lstrip("."))
        directory = posixpath.dirname(importer)
        for _ in range(dots - 1):
            if not directory:
                return None  # climbs out of the project
            directory = posixpath.dirname(directory)
        return posixpath.join(directory, *target[dots:].split(".")) if target[dots:] else directory

    def _file(self, directory: str, name: str = "") -> str | None:
        stem = posixpath.join(directory, name) if name else directory
        for candidate in (f"{stem}.py", f"{stem}/__init__.py"):
            if candidate in self._paths:
                return candidate
        return None

    def _lookup(self, importer: str, dotted: str) -> str | None:
        modules = self._modules.get(dotted, [])
        if "." not in dotted:
            here = posixpath.dirname(importer)
            modules = [
                m
                for m in modules
                if m.package or m.root == here or m.root in _PYTHON_SOURCE_ROOTS or m.root.endswith(("/src", "/lib"))
            ]
        return _nearest(importer, [m.path for m in modules])


# --- JavaScript / TypeScript ----------------------------------------------------


class _TsPaths(NamedTuple):
    base_url: str | None  # project-relative directory
    paths: list[tuple[str, list[str]]]  # (pattern, project-relative targets)


def _strip_jsonc(text: str) -> str:
    """JSON with comments and trailing commas (tsconfig's dialect) made plain JSON."""
    out: list[str] = []
    i, n, in_string = 0, len(text), False
    while i < n:
        char = text[i]
        if in_string:
            out.append(text[i : i + 2] if char == "\\" else char)
            i += 2 if char == "\\" else 1
            in_string = char != '"'
            continue
        if text.startswith("//", i):
            i = n if (end := text.find("\n", i)) < 0 else end
            continue
        if text.startswith("/*", i):
            i = n if (end := text.find("*/", i + 2)) < 0 else end + 2
            continue
        in_string = char == '"'
        out.append(char)
        i += 1
    return re.sub(r",(\s*[}\]])", r"\1", "".join(out))


def _ts_paths(config_path: str, text: str) -> _TsPaths | None:
    try:
        options = json.loads(_strip_jsonc(text)).get("compilerOptions") or {}
    except (ValueError, AttributeError):
        logger.debug("unreadable %s", config_path)
        return None
    here = posixpath.dirname(config_path)
    base_url = options.get("baseUrl")
    base = posixpath.normpath(posixpath.join(here, base_url)) if isinstance(base_url, str) else None
    base = "" if base == "." else base
    anchor = base if base is not None else here
    patterns = []
    for pattern, targets in (options.get("paths") or {}).items():
        if isinstance(targets, list):
            resolved = [posixpath.normpath(posixpath.join(anchor, t)) for t in targets if isinstance(t, str)]
            patterns.append((pattern, resolved))
    return _TsPaths(base, patterns) if base is not None or patterns else None


class _JavaScript:
    def __init__(self, paths: frozenset[str], configs: dict[str, _TsPaths]) -> None:
        self._paths = paths
        self._configs = configs

    def resolve(self, importer: str, specifier: str) -> str | None:
        specifier = specifier.split("?", 1)[0]
        if specifier.startswith(("./", "../")) or specifier in (".", ".."):
            base = _relative(importer, specifier)
            return self._probe(base) if base is not None else None
        config = self._config_for(importer)
        if config is None:
            return None
        for pattern, targets in config.paths:
            star = _match_pattern(pattern, specifier)
            if star is not None:
                for target in targets:
                    if found := self._probe(target.replace("*", star, 1)):
                        return found
        if config.base_url is not None:
            return self._probe(posixpath.join(config.base_url, specifier) if config.base_url else specifier)
        return None

    def _config_for(self, importer: str) -> _TsPaths | None:
        directory = posixpath.dirname(importer)
        while True:
            if (config := self._configs.get(directory)) is not None:
                return config
            if not directory:
                return None
            directory = posixpath.dirname(directory)

    def _probe(self, base: str) -> str | None:
        base = "" if base == "." else base
        if base in self._paths:
            return base
        stem, extension = posixpath.splitext(base)
        for source in _JS_SOURCE_OF.get(extension, ()):
            if stem + source in self._paths:
                return stem + source
        index = posixpath.join(base, "index") if base else "index"
        for candidate in (base, index):
            for extension in _JS_EXTENSIONS:
                if candidate + extension in self._paths:
                    return candidate + extension
        return None


def _match_pattern(pattern: str, specifier: str) -> str | None:
    """What the ``*`` of a tsconfig ``paths`` pattern stands for in ``specifier`` ("" for an exact match)."""
    if "*" not in pattern:
        return "" if pattern == specifier else None
    prefix, suffix = pattern.split("*", 1)
    if specifier.startswith(prefix) and specifier.endswith(suffix) and len(specifier) >= len(prefix) + len(suffix):
        return specifier[len(prefix) : len(specifier) - len(suffix)]
    return None


# --- Go -----------------------------------------------------------------------


class _Go:
    def __init__(self, files: list[str], modules: list[tuple[str, str]]) -> None:
        # Longest module path first, so a nested module wins over its parent.
        self._modules = sorted(modules, key=lambda m: -len(m[0]))
        self._packages: dict[str, str] = {}
        for path in files:  # sorted: the first file seen in a directory is its representative
            directory = posixpath.dirname(path)
            current = self._packages.get(directory)
            if current is None or (current.endswith("_test.go") and not path.endswith("_test.go")):
                self._packages[directory] = path

    def resolve(self, target: str) -> str | None:
        for module, directory in self._modules:
            if target == module or target.startswith(module + "/"):
                package = posixpath.join(directory, target[len(module) :].lstrip("/")).rstrip("/")
                return self._packages.get(posixpath.normpath(package) if package else "")
        return None


# --- Rust -----------------------------------------------------------------------


def _crate_name(cargo_toml: str) -> str | None:
    """The name ``use`` paths give the library crate: ``[lib] name``, else ``[package] name`` with ``_``."""
    try:
        manifest = tomllib.loads(cargo_toml)
    except tomllib.TOMLDecodeError:
        return None
    for table in ("lib", "package"):
        name = manifest.get(table, {}).get("name")
        if isinstance(name, str):
            return name.replace("-", "_")
    return None


class _Rust:
    _CRATE_FILES = ("lib.rs", "main.rs")

    def __init__(self, files: list[str], paths: frozenset[str], crates: dict[str, str]) -> None:
        self._paths = paths
        self._crates = crates  # crate name -> src directory
        self._roots = {posixpath.dirname(p) for p in files if posixpath.basename(p) in self._CRATE_FILES}
        self._modules: dict[tuple[str, tuple[str, ...]], str] = {}
        self._module_of: dict[str, tuple[str, tuple[str, ...]]] = {}
        for path in files:
            located = self._locate(path)
            if located is not None:
                self._module_of[path] = located
                # lib.rs before main.rs in sorted order: the library is the crate's root module.
                self._modules.setdefault(located, path)

    def _locate(self, path: str) -> tuple[str, tuple[str, ...]] | None:
        """(crate src directory, module path) of a file."""
        directory = posixpath.dirname(path)
        parts: list[str] = [posixpath.basename(path)[: -len(".rs")]]
        while directory not in self._roots:
            if not directory:
                return None
            parts.insert(0, posixpath.basename(directory))
            directory = posixpath.dirname(directory)
        if parts[-1] == "mod" or (len(parts) == 1 and parts[0] in ("lib", "main")):
            parts.pop()
        return directory, tuple(parts)

    def resolve(self, importer: str, imp: Import) -> list[str]:
        if imp.target.startswith(MOD_PREFIX):
            return [p] if (p := self._mod_file(importer, imp.target[len(MOD_PREFIX) :])) else []
        here = self._module_of.get(importer)
        segments = imp.target.split("::")
        head = segments[0]
        # (crate src directory, module the path starts from, shortest module prefix accepted)
        bases: list[tuple[str, tuple[str, ...], int]]
        if head in self._crates:
            bases = [(self._crates[head], (), 0)]
            segments = segments[1:]
        elif here is None:
            return []
        elif head == "crate":
            bases = [(here[0], (), 0)]
            segments = segments[1:]
        elif head in ("self", "super"):
            module = here[1]
            while segments and segments[0] in ("self", "super"):
                module = module[:-1] if segments.pop(0) == "super" else module
            bases = [(here[0], module, 0)]
        else:  # relative to the importing module or to the crate root; else an external crate
            bases = [(here[0], here[1], len(here[1]) + 1), (here[0], (), 1)]
        for root, base, floor in bases:
            if found := self._longest(root, base + tuple(segments), imp.names, floor):
                return found
        return []

    def _longest(self, root: str, path: tuple[str, ...], names: list[str], floor: int) -> list[str]:
        """Submodules named in a use group, then the module holding the longest prefix of ``path``."""
        wanted = [n for n in names if n not in ("*", "self")]
        found = [f for n in wanted if (f := self._modules.get((root, (*path, n))))]
        if found and len(found) == len(wanted):
            return found
        for end in range(len(path), floor - 1, -1):
            if (module := self._modules.get((root, path[:end]))) is not None:
                return [*found, module]
        return found

    def _mod_file(self, importer: str, name: str) -> str | None:
        directory = posixpath.dirname(importer)
        if posixpath.basename(importer) not in ("lib.rs", "main.rs", "mod.rs"):
            directory = importer[: -len(".rs")]
        for candidate in (posixpath.join(directory, f"{name}.rs"), posixpath.join(directory, name, "mod.rs")):
            if candidate in self._paths:
                return candidate
        return None


# --- Java -----------------------------------------------------------------------


class _Java:
    def __init__(self, files: list[str]) -> None:
        self._classes: dict[str, list[str]] = defaultdict(list)
        # package name -> {directory: its first file in sorted order}
        self._packages: dict[str, dict[str, str]] = defaultdict(dict)
        for path in files:
            parts = path[: -len(".java")].split("/")
            for name, _ in _suffixes(parts, "."):
                self._classes[name].append(path)
            for name, _ in _suffixes(parts[:-1], "."):
                self._packages[name].setdefault(posixpath.dirname(path), path)

    def resolve(self, importer: str, imp: Import) -> str | None:
        segments = imp.target.split(".")
        if imp.names == ["*"]:
            return _nearest(importer, list(self._packages.get(imp.target, {}).values()))
        while len(segments) >= 2:  # com.acme.Foo.Inner / com.acme.Util.max → com.acme.Foo / com.acme.Util
            if found := _nearest(importer, self._classes.get(".".join(segments), [])):
                return found
            segments.pop()
        return None


# --- C / C++ --------------------------------------------------------------------


class _C:
    def __init__(self, files: list[str], paths: frozenset[str]) -> None:
        self._paths = paths
        self._index = _SuffixIndex(files)

    def resolve(self, importer: str, target: str) -> str | None:
        relative = _relative(importer, target)
        if relative is not None and relative in self._paths:
            return relative
        suffix = posixpath.normpath(target)
        while suffix.startswith("../"):
            suffix = suffix[3:]
        return _nearest(importer, self._index.get(suffix))


# --- Ruby -----------------------------------------------------------------------


class _Ruby:
    def __init__(self, files: list[str], paths: frozenset[str]) -> None:
        self._paths = paths
        self._index = _SuffixIndex(files)

    def resolve(self, importer: str, target: str) -> str | None:
        file = target if target.endswith(".rb") else f"{target}.rb"
        if target.startswith(("./", "../")):
            relative = _relative(importer, file)
            return relative if relative in self._paths else None
        candidates = self._index.get(file)
        in_lib = [p for p in candidates if p == f"lib/{file}" or p.endswith(f"/lib/{file}")]
        return _nearest(importer, in_lib or candidates)
