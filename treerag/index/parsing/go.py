"""Go: functions, methods (qualname ``Receiver.Method``), structs, interfaces, other types, constants.

Imports are the import paths as written (``fmt``, ``example.com/app/internal/cache``);
aliases are not recorded. A file is an entry point when it is ``package main``
and defines ``func main``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from treerag.index.model import Import
from treerag.index.parsing.engine import LanguageSpec
from treerag.index.parsing.text import string_value

if TYPE_CHECKING:
    from tree_sitter import Node

__all__ = ["SPEC"]

DEFINITIONS = r"""
(function_declaration name: (identifier) @name) @definition.function
(method_declaration
  receiver: (parameter_list (parameter_declaration
    type: [(type_identifier) @receiver
           (pointer_type (type_identifier) @receiver)
           (generic_type type: (type_identifier) @receiver)
           (pointer_type (generic_type type: (type_identifier) @receiver))]))
  name: (field_identifier) @name) @definition.function
(type_spec name: (type_identifier) @name type: (struct_type)) @definition.struct
(type_spec name: (type_identifier) @name type: (interface_type)) @definition.interface
(type_spec name: (type_identifier) @name) @definition.type
(type_alias name: (type_identifier) @name) @definition.type
(source_file (const_declaration (const_spec name: (identifier) @name) @definition.constant))
"""

TAGS = r"""
(import_spec) @import
(call_expression function: (identifier) @reference)
(selector_expression field: (field_identifier) @reference)
(type_identifier) @reference
(source_file
  (package_clause (package_identifier) @_package)
  (function_declaration name: (identifier) @_main)
  (#eq? @_package "main")
  (#eq? @_main "main")) @entry
(comment) @comment
"""


def read_import(node: Node) -> Iterator[Import]:
    """``import "fmt"`` and each spec of an ``import ( … )`` group."""
    path = node.child_by_field_name("path")
    if path is not None:
        yield Import(string_value(path).strip("`"), node.start_point.row + 1)


SPEC = LanguageSpec(
    name="go",
    grammar="tree_sitter_go",
    definitions=DEFINITIONS,
    tags=TAGS,
    read_import=read_import,
    stop_words=frozenset(
        """
        break case chan const continue default defer else fallthrough for func go goto if import
        interface map package range return select struct switch type var nil true false iota
        append cap close complex copy delete imag len make new panic print println real recover
        any bool byte comparable complex64 complex128 error float32 float64 int int8 int16 int32
        int64 rune string uint uint8 uint16 uint32 uint64 uintptr Error Errorf Sprintf Printf Println
        """.split()
    ),
    signature_prefix={"type_spec": "type ", "type_alias": "type ", "const_spec": "const "},
)
