"""Plain records that flow between the scanner, the parsers and the store.

They carry no behaviour: the parser fills them from source bytes, the builder
resolves imports between them and the store writes them to SQLite.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Import", "ParsedFile", "Symbol"]


@dataclass(slots=True)
class Symbol:
    """A named definition inside a file.

    ``kind`` is one of: class, function, method, constant, interface, struct,
    enum, trait, type, module, heading. ``qualname`` joins the enclosing
    definitions with dots (``Outer.method``); ``signature`` is the declaration
    line(s) up to the body, whitespace-collapsed and at most ~200 characters;
    ``doc`` is the first line of the docstring or the leading comment.
    Lines are 1-based and inclusive.
    """

    name: str
    qualname: str
    kind: str
    signature: str
    doc: str
    line: int
    end_line: int


@dataclass(slots=True)
class Import:
    """One import as written in the source (``target``), before resolution.

    ``target`` is the module or path exactly as the language spells it:
    ``os.path``, ``.models`` (Python relative), ``./utils`` (JS), ``fmt`` or
    ``github.com/x/y/pkg`` (Go), ``crate::store::Db`` (Rust),
    ``com.acme.Foo`` (Java), ``util.h`` (C include), ``lib/foo`` (Ruby
    require). ``names`` are the imported names where the syntax lists them
    (``from a import b, c`` → ["b", "c"]). ``system`` is True for
    ``#include <...>``.
    """

    target: str
    line: int
    names: list[str] = field(default_factory=list)
    system: bool = False


@dataclass(slots=True)
class ParsedFile:
    """What one parse of one file yields.

    ``language`` is "" for plain file nodes (unknown language or undecodable
    bytes). ``references`` holds identifiers the file uses, which the builder
    matches against symbols defined in other files. ``is_entry`` marks
    file-level entry points (``if __name__ == "__main__"``, ``func main`` in
    package main, ``fn main`` in a Rust binary, ``public static void main``…).
    ``doc`` is the module docstring or first comment line.
    """

    language: str
    symbols: list[Symbol] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    references: set[str] = field(default_factory=set)
    is_entry: bool = False
    doc: str = ""
