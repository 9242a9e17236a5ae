"""Rust: functions, methods (inside ``impl`` and ``trait``), structs, enums, traits, types, consts, modules.

An ``impl Type`` / ``impl Trait for Type`` block is a scope named after the
type, so its functions are ``Type.method``. Inline ``mod name { … }`` is a
module symbol and prefixes what it holds.

Imports, as written:

- ``use a::b::C;`` → target ``a::b::C``, names ``["C"]``;
- ``use a::b::{C, d::E};`` → one import per group: ``a::b`` with ``["C"]``
  and ``a::b::d`` with ``["E"]``; ``use a::b::*`` → ``a::b`` with ``["*"]``;
- ``mod name;`` (a module in another file) → target ``mod:name``;
- ``extern crate name;`` → target ``name``.

A file is an entry point when it defines ``fn main`` at the top level.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from treerag.index.model import Import
from treerag.index.parsing.engine import LanguageSpec
from treerag.index.parsing.text import node_text

if TYPE_CHECKING:
    from tree_sitter import Node

__all__ = ["MOD_PREFIX", "SPEC"]

# Target prefix of ``mod name;`` declarations (see the module docstring).
MOD_PREFIX = "mod:"

DEFINITIONS = r"""
(function_item name: (identifier) @name) @definition.function
(function_signature_item name: (identifier) @name) @definition.function
(struct_item name: (type_identifier) @name) @definition.struct
(union_item name: (type_identifier) @name) @definition.struct
(enum_item name: (type_identifier) @name) @definition.enum
(trait_item name: (type_identifier) @name) @definition.trait
(type_item name: (type_identifier) @name) @definition.type
(const_item name: (identifier) @name) @definition.constant
(static_item name: (identifier) @name) @definition.constant
(mod_item name: (identifier) @name body: (declaration_list)) @definition.module
(macro_definition name: (identifier) @name) @definition.function
(impl_item type: [(type_identifier) @name
                  (generic_type type: (type_identifier) @name)
                  (scoped_type_identifier name: (type_identifier) @name)]) @scope.impl
"""

TAGS = r"""
(use_declaration) @import
(mod_item !body) @import
(extern_crate_declaration) @import
(call_expression function: (identifier) @reference)
(field_expression field: (field_identifier) @reference)
(scoped_identifier path: (identifier) @reference)
(scoped_identifier name: (identifier) @reference)
(type_identifier) @reference
(source_file (function_item name: (identifier) @_main (#eq? @_main "main"))) @entry
(line_comment) @comment
(block_comment) @comment
"""


def read_import(node: Node) -> Iterator[Import]:
    """Imports of one ``use``, ``mod name;`` or ``extern crate`` item (see the module docstring)."""
    line = node.start_point.row + 1
    if node.type == "mod_item":
        name = node.child_by_field_name("name")
        if name is not None:
            yield Import(MOD_PREFIX + node_text(name), line)
        return
    if node.type == "extern_crate_declaration":
        name = node.child_by_field_name("name")
        if name is not None:
            yield Import(node_text(name), line)
        return
    argument = node.child_by_field_name("argument")
    if argument is not None:
        for target, names in _use_tree(argument, ""):
            yield Import(target, line, names)


def _use_tree(node: Node, prefix: str) -> Iterator[tuple[str, list[str]]]:
    kind = node.type
    if kind == "use_as_clause":
        path = node.child_by_field_name("path")
        if path is not None:
            yield from _use_tree(path, prefix)
    elif kind == "use_wildcard":
        path = node.named_child(0)
        yield (_path(prefix, node_text(path)) if path is not None else prefix), ["*"]
    elif kind == "scoped_use_list":
        path = node.child_by_field_name("path")
        items = node.child_by_field_name("list")
        if items is not None:
            yield from _use_tree(items, _path(prefix, node_text(path)) if path is not None else prefix)
    elif kind == "use_list":
        simple = [node_text(c) for c in node.named_children if c.type in ("identifier", "self", "crate", "super")]
        if simple:
            yield prefix, simple
        for child in node.named_children:
            if child.type not in ("identifier", "self", "crate", "super"):
                yield from _use_tree(child, prefix)
    else:
        target = _path(prefix, "".join(node_text(node).split()))
        yield target, [target.rpartition("::")[2]]


def _path(prefix: str, tail: str) -> str:
    return f"{prefix}::{tail}" if prefix else tail


SPEC = LanguageSpec(
    name="rust",
    grammar="tree_sitter_rust",
    definitions=DEFINITIONS,
    tags=TAGS,
    read_import=read_import,
    stop_words=frozenset(
        """
        as async await break const continue crate dyn else enum extern false fn for if impl in let loop
        match mod move mut pub ref return self Self static struct super trait true type unsafe use where
        while std core alloc Some None Ok Err Option Result Box Vec String str new clone unwrap expect into from iter
        collect to_string len push map as_str default fmt
        """.split()
    ),
    doc_skip=frozenset({"attribute_item"}),
)
