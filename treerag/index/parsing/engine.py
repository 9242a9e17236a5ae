"""The shared extractor: one tree-sitter parse and one query pass per file, one ParsedFile.

Each language module declares a :class:`LanguageSpec`: which grammar package
to load and two query sources written against that grammar.

``definitions`` names what a file defines. Each pattern has one capture
saying what the node is and a ``@name`` capture:

- ``@definition.<kind>``: a symbol of that kind (class, function, constant…);
  a function inside a class-like definition becomes a method;
- ``@declaration.<kind>``: the same, but dropped when the file also has a
  definition with that qualname (C prototypes, C++ in-class declarations);
- ``@scope.<kind>``: a named container that is not a symbol itself but
  prefixes the qualnames of what it holds: ``@scope.impl`` (a Rust ``impl``,
  whose functions are methods) or ``@scope.module`` (a C++ namespace).

An optional ``@receiver`` capture prefixes the qualname from outside the
nesting (Go ``func (r *Router) Handle``, C++ ``void Lexer::next()``). When two
patterns match the same node, the earlier pattern wins, so a specific pattern
(``const f = () => …`` is a function) goes before a general one.

``tags`` finds ``@import`` statements (handed to the spec's ``read_import``),
``@reference`` identifiers, ``@entry`` markers and ``@comment`` nodes.
Captures whose names start with ``_`` only feed predicates. Both sources are
compiled into one query so a file is searched in a single pass.

Nesting is recovered from byte ranges, not from the queries: definitions are
sorted by position and kept on a stack, so a qualname is the chain of
enclosing classes and scopes, and anything inside a function body is skipped.
Grammars, parsers and compiled queries are loaded on first use and cached per
process (a parser is not thread-safe; workers are processes).
"""

from __future__ import annotations

import functools
import importlib
import logging
import posixpath
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from treerag.index.model import Import, ParsedFile, Symbol
from treerag.index.parsing.text import first_comment_line, first_line, node_text, signature, string_value

if TYPE_CHECKING:
    from tree_sitter import Node, Parser, Query

__all__ = ["LanguageSpec", "extract", "load"]

logger = logging.getLogger(__name__)

MIN_REFERENCE = 3
# Kinds whose members are methods and whose names prefix their members' qualnames.
CLASS_KINDS = frozenset({"class", "struct", "interface", "enum", "trait", "impl"})
SCOPE_KINDS = CLASS_KINDS | {"module"}
# Kinds whose bodies are not searched for further symbols (local definitions).
FUNCTION_KINDS = frozenset({"function", "method"})


@dataclass(frozen=True, slots=True, eq=False)
class LanguageSpec:
    """What one language contributes to the shared extractor (see the module docstring).

    Compared and hashed by identity: each spec is a module-level singleton and
    the key of its cached grammar.
    """

    name: str
    grammar: str
    definitions: str
    tags: str
    read_import: Callable[[Node], Iterable[Import]]
    grammar_function: str = "language"
    stop_words: frozenset[str] = frozenset()
    # Node types that wrap a definition and carry its leading comment
    # (Python decorators, ``export``, C++ ``template <…>``).
    wrappers: frozenset[str] = frozenset()
    # Sibling node types allowed between a leading comment and its definition (Rust ``#[derive]``).
    doc_skip: frozenset[str] = frozenset()
    # Python-style docstrings: the first string statement of a body.
    docstrings: bool = False
    # Text prepended to the signature of a node type (Go's ``type_spec`` lacks the ``type`` keyword).
    signature_prefix: Mapping[str, str] = field(default_factory=dict)
    # File names that are entry points whatever they contain (``__main__.py``).
    entry_files: frozenset[str] = frozenset()


class _Grammar(NamedTuple):
    parser: Parser
    query: Query  # the definitions patterns, then the tags patterns
    definition_patterns: int  # patterns below this index are definitions


@functools.cache
def load(spec: LanguageSpec) -> _Grammar:
    """Import the grammar package of ``spec`` and compile its queries (once per process)."""
    from tree_sitter import Language, Parser, Query

    module = importlib.import_module(spec.grammar)
    language = Language(getattr(module, spec.grammar_function)())
    query = Query(language, spec.definitions + spec.tags)
    # Patterns are numbered in source order: those starting inside the definitions source come first.
    cut = len(spec.definitions.encode())
    definitions = sum(1 for i in range(query.pattern_count) if query.start_byte_for_pattern(i) < cut)
    return _Grammar(Parser(language), query, definitions)


class _Definition(NamedTuple):
    start: int
    end: int
    pattern: int
    node: Node
    name: Node
    role: str  # "definition", "declaration" or "scope"
    kind: str
    receiver: Node | None


def extract(spec: LanguageSpec, rel_path: str, data: bytes) -> ParsedFile:
    """Parse ``data`` with the grammar of ``spec`` and read symbols, imports and references."""
    from tree_sitter import QueryCursor

    grammar = load(spec)
    root = grammar.parser.parse(data).root_node
    definitions, tags = _collect(QueryCursor(grammar.query).matches(root), grammar.definition_patterns)
    symbols = _symbols(spec, definitions, data, _LeadingComments(tags["comment"], data))
    defined = {symbol.name for symbol in symbols}
    # Many nodes, few distinct names: decode each name once.
    raw_names = {node.text for node in tags["reference"]}
    references = {raw.decode("utf-8", "replace") for raw in raw_names if raw is not None}
    return ParsedFile(
        language=spec.name,
        symbols=symbols,
        imports=_imports(spec, tags["import"]),
        references={name for name in references if len(name) >= MIN_REFERENCE} - defined - spec.stop_words,
        is_entry=bool(tags["entry"]) or posixpath.basename(rel_path) in spec.entry_files,
        doc=_module_doc(spec, root),
    )


def _imports(spec: LanguageSpec, nodes: Iterable[Node]) -> list[Import]:
    imports: list[Import] = []
    seen: set[tuple[str, int]] = set()
    for node in sorted(nodes, key=lambda n: n.start_byte):
        for imp in spec.read_import(node):
            if imp.target and (imp.target, imp.line) not in seen:
                seen.add((imp.target, imp.line))
                imports.append(imp)
    return imports


def _collect(
    matches: list[tuple[int, dict[str, list[Node]]]], definition_patterns: int
) -> tuple[list[_Definition], dict[str, list[Node]]]:
    """Split the matches into definitions (sorted by position, one per node) and tagged nodes."""
    tags: dict[str, list[Node]] = {"comment": [], "entry": [], "import": [], "reference": []}
    wanted = tags.get
    found: dict[tuple[int, int, int], _Definition] = {}
    roles: dict[int, str | None] = {}  # pattern -> its role capture (the same in every match of a pattern)
    for pattern, captures in matches:
        if pattern >= definition_patterns:
            for capture, nodes in captures.items():
                into = wanted(capture)
                if into is not None:
                    into += nodes
            continue
        names = captures.get("name")
        role = roles.get(pattern)
        if role is None or role not in captures:
            role = roles[pattern] = next(
                (c for c in captures if c.startswith(("definition.", "declaration.", "scope."))), None
            )
        if not names or role is None:
            continue
        node, name = captures[role][0], names[0]
        key = (node.start_byte, node.end_byte, name.start_byte)
        if key in found and found[key].pattern <= pattern:
            continue
        receivers = captures.get("receiver")
        kind_of, _, kind = role.partition(".")
        found[key] = _Definition(
            key[0], key[1], pattern, node, name, kind_of, kind, receivers[0] if receivers else None
        )
    return sorted(found.values(), key=lambda d: (d.start, -d.end, d.pattern)), tags


def _symbols(
    spec: LanguageSpec, definitions: list[_Definition], data: bytes, comments: _LeadingComments
) -> list[Symbol]:
    symbols: list[Symbol] = []
    declarations: list[Symbol] = []
    stack: list[tuple[int, str, str]] = []  # (end byte, qualname, kind) of enclosing definitions
    for d in definitions:
        while stack and stack[-1][0] <= d.start:
            stack.pop()
        parent_qualname, parent_kind = (stack[-1][1], stack[-1][2]) if stack else ("", "")
        if parent_kind in FUNCTION_KINDS:
            continue
        name = node_text(d.name)
        prefix = parent_qualname
        if d.receiver is not None:
            prefix = _join(prefix, node_text(d.receiver).replace("::", "."))
        qualname = _join(prefix, name)
        kind = d.kind
        if kind == "function" and (d.receiver is not None or parent_kind in CLASS_KINDS):
            kind = "method"
        if kind in SCOPE_KINDS or kind in FUNCTION_KINDS:
            stack.append((d.end, qualname, kind))
        if d.role == "scope":
            continue
        symbol = Symbol(
            name=name,
            qualname=qualname,
            kind=kind,
            signature=signature(d.node, data, spec.signature_prefix.get(d.node.type, "")),
            doc=(_docstring(d.node) if spec.docstrings else "") or comments.before(_anchor(spec, d.node)),
            line=d.node.start_point.row + 1,
            end_line=_end_line(d.node),
        )
        (declarations if d.role == "declaration" else symbols).append(symbol)
    if declarations:
        defined = {s.qualname for s in symbols}
        for symbol in declarations:
            if symbol.qualname not in defined:
                defined.add(symbol.qualname)
                symbols.append(symbol)
        symbols.sort(key=lambda s: (s.line, s.qualname))
    return symbols


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _end_line(node: Node) -> int:
    row, column = node.end_point
    # A node ending at column 0 ends with the newline of the previous line.
    return row if column == 0 and row > node.start_point.row else row + 1


def _anchor(spec: LanguageSpec, node: Node) -> Node:
    """The node whose first line a leading comment must touch (past decorators and attributes)."""
    parent = node.parent
    if parent is not None and parent.type in spec.wrappers:
        node = parent
    while (previous := node.prev_named_sibling) is not None and previous.type in spec.doc_skip:
        node = previous
    return node


def _docstring(node: Node) -> str:
    body = node.child_by_field_name("body")
    first = body.named_child(0) if body is not None and body.named_child_count else None
    if first is None or first.type != "expression_statement" or first.named_child_count != 1:
        return ""
    string = first.named_child(0)
    return first_line(string_value(string)) if string is not None and string.type == "string" else ""


class _LeadingComments:
    """Comments that sit on their own lines, indexed by their last line, to find a definition's leading block."""

    __slots__ = ("_by_end_row",)

    def __init__(self, nodes: Iterable[Node], data: bytes) -> None:
        self._by_end_row: dict[int, Node] = {}
        for node in nodes:
            line_start = data.rfind(b"\n", 0, node.start_byte) + 1
            if not data[line_start : node.start_byte].strip():
                self._by_end_row[_end_line(node) - 1] = node

    def before(self, node: Node) -> str:
        """The first doc line of the contiguous comment block ending right above ``node``."""
        block: list[Node] = []
        row = node.start_point.row - 1
        while (comment := self._by_end_row.get(row)) is not None:
            block.append(comment)
            row = comment.start_point.row - 1
        return first_comment_line(_joined(reversed(block))) if block else ""


def _joined(comments: Iterable[Node]) -> str:
    """The text of consecutive comment nodes (one per line in Python, Ruby, Go…) as one comment, with a
    blank line where a blank line parts them."""
    parts: list[str] = []
    last_row = None
    for comment in comments:
        if last_row is not None and comment.start_point.row > last_row + 1:
            parts.append("")
        parts.append(node_text(comment))
        last_row = comment.end_point.row
    return "\n".join(parts)


def _module_doc(spec: LanguageSpec, root: Node) -> str:
    """The module docstring (Python) or else the first line of the comments opening the file."""
    child = root.named_child(0) if root.named_child_count else None
    comments: list[Node] = []
    while child is not None and "comment" in child.type:
        comments.append(child)
        child = child.next_named_sibling
    opening = first_comment_line(_joined(comments), skip_magic=True) if comments else ""
    if spec.docstrings and child is not None and child.type == "expression_statement":
        string = child.named_child(0)
        if string is not None and string.type == "string":
            return first_line(string_value(string)) or opening
    return opening
