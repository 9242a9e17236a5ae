"""JavaScript, TypeScript and TSX: one set of queries, with the type-level patterns added for TS.

Symbols: classes, functions, methods (class members, arrow-function fields),
module-level ``const`` (a function or arrow value makes it a function; only
literal-like values make a constant, so ``const x = require(…)`` is no
symbol), and for TS interfaces, type aliases, enums and namespaces.

Imports: ``import … from 'x'``, ``export … from 'x'``, ``require('x')``,
``import('x')`` and TS ``import x = require('x')``. Names are the imported
names as written (``{ a as b }`` → ``a``), the local name of a default
import, and ``*`` for namespace imports and ``export *``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from treerag.index.model import Import
from treerag.index.parsing.engine import LanguageSpec
from treerag.index.parsing.text import node_text, string_value

if TYPE_CHECKING:
    from tree_sitter import Node

__all__ = ["JAVASCRIPT", "TSX", "TYPESCRIPT"]

# Values that make a top-level ``const`` a constant rather than a computed binding.
_LITERALS = """[(number) (string) (template_string) (object) (array) (true) (false) (null)
  (regex) (unary_expression) (binary_expression) (member_expression) (new_expression) {extra}]"""

_DEFINITIONS = r"""
(class_declaration name: (_) @name) @definition.class
(function_declaration name: (identifier) @name) @definition.function
(generator_function_declaration name: (identifier) @name) @definition.function
(class_body (method_definition name: (_) @name) @definition.method)
(class_body ({field} {property}: (property_identifier) @name
  value: [(arrow_function) (function_expression)]) @definition.method)
([(program (lexical_declaration "const" (variable_declarator name: (identifier) @name
     value: [(arrow_function) (function_expression) (generator_function)])) @definition.function)
  (program (export_statement (lexical_declaration "const" (variable_declarator name: (identifier) @name
     value: [(arrow_function) (function_expression) (generator_function)])) @definition.function))])
([(program (lexical_declaration "const" (variable_declarator name: (identifier) @name
     value: {literals})) @definition.constant)
  (program (export_statement (lexical_declaration "const" (variable_declarator name: (identifier) @name
     value: {literals})) @definition.constant))])
"""

_TS_DEFINITIONS = r"""
(abstract_class_declaration name: (type_identifier) @name) @definition.class
(class_body (abstract_method_signature name: (_) @name) @definition.method)
(interface_declaration name: (type_identifier) @name) @definition.interface
(type_alias_declaration name: (type_identifier) @name) @definition.type
(enum_declaration name: (identifier) @name) @definition.enum
(internal_module name: (_) @name) @definition.module
"""

_TAGS = r"""
(import_statement) @import
(export_statement source: (string)) @import
(call_expression function: (identifier) @_require arguments: (arguments . (string))
  (#eq? @_require "require")) @import
(call_expression function: (import) arguments: (arguments . (string))) @import
(call_expression function: (identifier) @reference)
(member_expression property: (property_identifier) @reference)
(new_expression constructor: (identifier) @reference)
(comment) @comment
"""

_JSX_TAGS = r"""
(jsx_opening_element name: (identifier) @reference (#match? @reference "^[A-Z]"))
(jsx_self_closing_element name: (identifier) @reference (#match? @reference "^[A-Z]"))
"""

_JS_TAGS = r"""
(class_heritage (identifier) @reference)
"""

_TS_TAGS = r"""
(extends_clause value: (identifier) @reference)
(type_identifier) @reference
"""


def read_import(node: Node) -> Iterator[Import]:
    """One Import per statement or call; the target is the string as written."""
    line = node.start_point.row + 1
    if node.type == "call_expression":
        arguments = node.child_by_field_name("arguments")
        first = arguments.named_child(0) if arguments is not None else None
        if first is not None and first.type == "string":
            yield Import(string_value(first), line)
        return
    source = node.child_by_field_name("source")
    names: list[str] = []
    for child in node.named_children:
        if child.type == "import_require_clause":  # TS: import x = require("y")
            source = child.child_by_field_name("source")
            names = [node_text(n) for n in child.named_children if n.type == "identifier"]
        elif child.type in ("import_clause", "export_clause"):
            names = list(_clause_names(child))
        elif child.type == "namespace_export":
            names = ["*"]
    if node.type == "export_statement" and not names and any(c.type == "*" for c in node.children):
        names = ["*"]
    if source is not None and source.type == "string":
        yield Import(string_value(source), line, names)


def _clause_names(clause: Node) -> Iterator[str]:
    for child in clause.named_children:
        if child.type == "identifier":  # a default import: its local name
            yield node_text(child)
        elif child.type == "namespace_import":
            yield "*"
        elif child.type == "named_imports":
            yield from _clause_names(child)
        elif child.type in ("import_specifier", "export_specifier"):
            name = child.child_by_field_name("name")
            if name is not None:
                yield node_text(name)


_STOP_WORDS = frozenset(
    """
    arguments async await break case catch class const constructor continue debugger default delete do
    else enum export extends false finally for function if implements import in instanceof interface let
    new null package private protected public return static super switch this throw true try typeof
    undefined var void while with yield
    require module exports console log Object Array String Number Boolean Promise JSON Math Date Error
    Map Set Symbol RegExp parseInt parseFloat setTimeout clearTimeout then catch push length forEach
    map filter reduce keys values entries toString any unknown never string number boolean object
    Partial Record Readonly Pick Omit Array
    """.split()
)


def _spec(name: str, grammar: str, function: str, *, typed: bool, jsx: bool) -> LanguageSpec:
    field, prop = ("public_field_definition", "name") if typed else ("field_definition", "property")
    literals = _LITERALS.format(extra="(as_expression) (satisfies_expression)" if typed else "")
    definitions = _DEFINITIONS.format(field=field, property=prop, literals=literals)
    return LanguageSpec(
        name=name,
        grammar=grammar,
        grammar_function=function,
        definitions=definitions + (_TS_DEFINITIONS if typed else ""),
        tags=_TAGS + (_TS_TAGS if typed else _JS_TAGS) + (_JSX_TAGS if jsx else ""),
        read_import=read_import,
        stop_words=_STOP_WORDS,
        wrappers=frozenset({"export_statement"}),
    )


JAVASCRIPT = _spec("javascript", "tree_sitter_javascript", "language", typed=False, jsx=True)
TYPESCRIPT = _spec("typescript", "tree_sitter_typescript", "language_typescript", typed=True, jsx=False)
TSX = _spec("tsx", "tree_sitter_typescript", "language_tsx", typed=True, jsx=True)
