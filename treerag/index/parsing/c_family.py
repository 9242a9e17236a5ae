"""C and C++: functions, prototypes, structs, unions, enums, typedefs, macros and ``const`` globals.

Macros are UPPER_CASE ``#define`` with a value (include guards are not symbols).

C++ adds classes, namespaces (a scope, not a symbol: ``geo::Point`` is
``geo.Point``), ``using`` aliases, in-class method declarations and
out-of-class definitions (``int Lexer::next()`` is the method ``Lexer.next``).
A prototype or in-class declaration is dropped when the same file defines it.

Imports are ``#include`` targets without quotes or brackets; ``system`` is
True for ``<...>``. A file is an entry point when it defines ``int main(``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from treerag.index.model import Import
from treerag.index.parsing.engine import LanguageSpec
from treerag.index.parsing.text import node_text, string_value

if TYPE_CHECKING:
    from tree_sitter import Node

__all__ = ["CPP", "C"]

# ``{name}`` is what a declarator may name: an identifier in C; in C++ also a
# field identifier (in-class), a qualified name (out-of-class) or an operator.
_FUNCTION_DECLARATOR = r"""[
  (function_declarator declarator: {name})
  (pointer_declarator declarator: (function_declarator declarator: {name}))
  {more}]"""
_CPP_DECLARATOR = "(reference_declarator (function_declarator declarator: {name}))"

_C_NAME = "(identifier) @name"
_CPP_NAME = """[(identifier) @name
  (field_identifier) @name
  (operator_name) @name
  (destructor_name) @name
  (qualified_identifier scope: (_) @receiver name: [(identifier) (destructor_name) (operator_name)] @name)]"""

_DEFINITIONS = r"""
(function_definition declarator: {function}) @definition.function
(declaration declarator: {function}) @declaration.function
(struct_specifier name: (type_identifier) @name body: (field_declaration_list)) @definition.struct
(union_specifier name: (type_identifier) @name body: (field_declaration_list)) @definition.struct
(enum_specifier name: (type_identifier) @name body: (enumerator_list)) @definition.enum
(type_definition declarator: (type_identifier) @name) @definition.type
(preproc_def name: (identifier) @name value: (_) (#match? @name "^_*[A-Z][A-Z0-9_]*$")) @definition.constant
(declaration (type_qualifier) @_const
  declarator: (init_declarator declarator: (identifier) @name)
  (#any-of? @_const "const" "constexpr")) @definition.constant
"""

_CPP_DEFINITIONS = r"""
(class_specifier name: (type_identifier) @name body: (field_declaration_list)) @definition.class
(namespace_definition name: (_) @name) @scope.module
(alias_declaration name: (type_identifier) @name) @definition.type
(field_declaration declarator: {function}) @declaration.function
"""

_TAGS = r"""
(preproc_include) @import
(call_expression function: (identifier) @reference)
(field_expression field: (field_identifier) @reference)
(type_identifier) @reference
(translation_unit (function_definition
  type: (primitive_type) @_int
  declarator: (function_declarator declarator: (identifier) @_main)
  (#eq? @_int "int")
  (#eq? @_main "main")) @entry)
(comment) @comment
"""

_CPP_TAGS = r"""
(qualified_identifier name: (identifier) @reference)
"""


def read_import(node: Node) -> Iterator[Import]:
    """``#include "x.h"`` → ``x.h``; ``#include <x.h>`` → ``x.h`` with ``system=True``."""
    path = node.child_by_field_name("path")
    if path is None:
        return
    line = node.start_point.row + 1
    if path.type == "system_lib_string":
        yield Import(node_text(path).strip("<>"), line, system=True)
    elif path.type == "string_literal":
        yield Import(string_value(path), line)


_STOP_WORDS = frozenset(
    """
    auto break case char const continue default do double else enum extern float for goto if inline int
    long register restrict return short signed sizeof static struct switch typedef union unsigned void
    volatile while bool true false NULL nullptr class namespace template typename public private
    protected virtual override this new delete using operator std size_t ssize_t uint8_t uint16_t
    uint32_t uint64_t int8_t int16_t int32_t int64_t uintptr_t FILE printf fprintf sprintf snprintf
    malloc calloc realloc free memcpy memset strlen strcmp string vector map size push_back begin end
    """.split()
)


def _definitions(name: str, *, cpp: bool) -> str:
    more = _CPP_DECLARATOR.format(name=name) if cpp else ""
    function = _FUNCTION_DECLARATOR.format(name=name, more=more)
    return (_DEFINITIONS + (_CPP_DEFINITIONS if cpp else "")).replace("{function}", function)


C = LanguageSpec(
    name="c",
    grammar="tree_sitter_c",
    definitions=_definitions(_C_NAME, cpp=False),
    tags=_TAGS,
    read_import=read_import,
    stop_words=_STOP_WORDS,
)

CPP = LanguageSpec(
    name="cpp",
    grammar="tree_sitter_cpp",
    definitions=_definitions(_CPP_NAME, cpp=True),
    tags=_TAGS + _CPP_TAGS,
    read_import=read_import,
    stop_words=_STOP_WORDS,
    wrappers=frozenset({"template_declaration"}),
)
