"""Java: classes, records, interfaces, enums, methods, constructors and ``static final`` constants.

Imports are the qualified names as written: ``import com.acme.Foo;`` →
``com.acme.Foo`` with names ``["Foo"]``; ``import com.acme.*;`` → ``com.acme``
with ``["*"]``; static imports keep the member (``com.acme.Util.max``). A file
is an entry point when it declares ``public static void main``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from treerag.index.model import Import
from treerag.index.parsing.engine import LanguageSpec
from treerag.index.parsing.text import node_text

if TYPE_CHECKING:
    from tree_sitter import Node

__all__ = ["SPEC"]

DEFINITIONS = r"""
(class_declaration name: (identifier) @name) @definition.class
(record_declaration name: (identifier) @name) @definition.class
(interface_declaration name: (identifier) @name) @definition.interface
(annotation_type_declaration name: (identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum
(method_declaration name: (identifier) @name) @definition.function
(constructor_declaration name: (identifier) @name) @definition.function
(class_body (field_declaration (modifiers) @_modifiers
  declarator: (variable_declarator name: (identifier) @name))
  @definition.constant
  (#match? @_modifiers "static")
  (#match? @_modifiers "final"))
"""

TAGS = r"""
(import_declaration) @import
(method_invocation name: (identifier) @reference)
(method_invocation object: (identifier) @reference (#match? @reference "^[A-Z]"))
(field_access field: (identifier) @reference)
(type_identifier) @reference
(method_declaration (modifiers) @_modifiers name: (identifier) @_main
  (#eq? @_main "main")
  (#match? @_modifiers "public")
  (#match? @_modifiers "static")) @entry
(line_comment) @comment
(block_comment) @comment
"""


def read_import(node: Node) -> Iterator[Import]:
    """One Import per ``import`` declaration (see the module docstring)."""
    name = next((c for c in node.named_children if c.type in ("scoped_identifier", "identifier")), None)
    if name is None:
        return
    target = "".join(node_text(name).split())
    wildcard = any(c.type == "asterisk" for c in node.named_children)
    yield Import(target, node.start_point.row + 1, ["*"] if wildcard else [target.rpartition(".")[2]])


SPEC = LanguageSpec(
    name="java",
    grammar="tree_sitter_java",
    definitions=DEFINITIONS,
    tags=TAGS,
    read_import=read_import,
    stop_words=frozenset(
        """
        abstract assert boolean break byte case catch char class const continue default do double else
        enum extends final finally float for goto if implements import instanceof int interface long
        native new package private protected public return short static strictfp super switch
        synchronized this throw throws transient try void volatile while var record true false null
        String Object Integer Long Double Boolean List Map Set ArrayList HashMap HashSet Optional
        System out println equals hashCode toString get add put size Override Exception
        """.split()
    ),
)
