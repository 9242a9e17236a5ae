"""The parsing layer: source bytes in, a :class:`~treerag.index.model.ParsedFile` out.

``language_for`` maps a path to a language by extension; ``parse_file``
never raises: unknown languages, undecodable or binary bytes and missing
grammars give a plain node (language ``""``), and syntax errors give whatever
the error-tolerant tree-sitter parse still holds. A ``.h`` header whose text
is plainly C++ (``class``, ``namespace``, ``template <``, ``std::``) is parsed,
and reported, as ``cpp``.

One module per language family declares a :class:`~.engine.LanguageSpec`
(queries and a small import reader); :mod:`.engine` runs them all the same
way. Markdown headings are read by line scanning in :mod:`.markdown`.
Nothing here imports tree-sitter or a grammar until a file of that language
is parsed, so the daemon can import this package for free and only the
worker processes pay for grammars.
"""

from __future__ import annotations

import importlib
import logging
import posixpath
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from treerag.index.model import ParsedFile

if TYPE_CHECKING:
    from treerag.index.parsing.engine import LanguageSpec

__all__ = ["LANGUAGES", "language_for", "load_grammars", "parse_file"]

logger = logging.getLogger(__name__)

_EXTENSIONS = {
    ".py": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".hxx": "cpp",
    ".rb": "ruby",
    ".md": "markdown",
    ".markdown": "markdown",
}

# language -> (module under treerag.index.parsing, attribute holding its LanguageSpec)
_SPECS = {
    "python": ("python", "SPEC"),
    "javascript": ("javascript", "JAVASCRIPT"),
    "typescript": ("javascript", "TYPESCRIPT"),
    "tsx": ("javascript", "TSX"),
    "go": ("go", "SPEC"),
    "rust": ("rust", "SPEC"),
    "java": ("java", "SPEC"),
    "c": ("c_family", "C"),
    "cpp": ("c_family", "CPP"),
    "ruby": ("ruby", "SPEC"),
}

LANGUAGES = frozenset(_EXTENSIONS.values())

_BOM = b"\xef\xbb\xbf"
_CPP_HEADER = re.compile(rb"^[ \t]*(?:class|namespace|template[ \t]*<)\b|\bstd::", re.MULTILINE)
_SNIFF_BYTES = 64 * 1024
_unavailable: set[str] = set()  # languages whose grammar failed to load in this process


def language_for(rel_path: str) -> str:
    """The language of a file by its extension (case-insensitive), or "" when unknown."""
    return _EXTENSIONS.get(posixpath.splitext(rel_path)[1].lower(), "")


def load_grammars(rel_paths: Iterable[str]) -> None:
    """Load the grammars these files need now, so that processes forked next share them instead of
    each loading its own."""
    languages = {language_for(rel) for rel in rel_paths}
    if "c" in languages:
        languages.add("cpp")  # a header may turn out to be C++
    for language in sorted(languages - {"", "markdown"}):
        _available(language)


def parse_file(rel_path: str, data: bytes) -> ParsedFile:
    """Parse one file's bytes; never raises (see the module docstring)."""
    language = language_for(rel_path)
    if not language:
        return ParsedFile(language="")
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    text = _decode(data)
    if text is None:
        return ParsedFile(language="")
    if language == "markdown":
        from treerag.index.parsing import markdown

        return markdown.parse(text)
    if language == "c" and rel_path.endswith(".h") and _CPP_HEADER.search(data, 0, _SNIFF_BYTES):
        language = "cpp"
    spec = _available(language)
    if spec is None:
        return ParsedFile(language="")
    from treerag.index.parsing.engine import extract

    try:
        return extract(spec, rel_path, data)
    except Exception:  # one odd file must not stop a worker; keep the language, drop the details
        logger.exception("could not extract %s from %s", language, rel_path)
        return ParsedFile(language=language)


def _decode(data: bytes) -> str | None:
    """The text of ``data`` if it is UTF-8 and not binary (no NUL byte), else None."""
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _available(language: str) -> LanguageSpec | None:
    """The spec of ``language`` with its grammar loaded, or None (logged once) when that fails."""
    if language in _unavailable:
        return None
    try:
        module, attribute = _SPECS[language]
        spec: LanguageSpec = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
        from treerag.index.parsing.engine import load

        load(spec)
    except Exception:  # a missing or broken grammar package makes plain nodes, not a failed index
        _unavailable.add(language)
        logger.warning("no usable %s grammar: its files are indexed as plain files", language, exc_info=True)
        return None
    return spec
