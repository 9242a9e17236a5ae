"""Python: classes, functions, methods, UPPER_CASE module constants, ``type`` aliases; imports as written.

``from __future__ import …`` is not recorded: it names a compiler feature,
not a dependency. Relative imports keep their dots (``..models``); ``from . import x``
has target ``.`` and names ``["x"]``.
"""

from __future__ import annotations

import builtins
import keyword
from collections.abc import Iterator
from typing import TYPE_CHECKING

from treerag.index.model import Import
from treerag.index.parsing.engine import LanguageSpec
from treerag.index.parsing.text import node_text

if TYPE_CHECKING:
    from tree_sitter import Node

__all__ = ["SPEC"]

DEFINITIONS = r"""
(class_definition name: (identifier) @name) @definition.class
(function_definition name: (identifier) @name) @definition.function
(module (expression_statement
  (assignment left: (identifier) @name) @definition.constant)
  (#match? @name "^_*[A-Z][A-Z0-9_]*$"))
(module (type_alias_statement left: (type (identifier) @name)) @definition.type)
"""

TAGS = r"""
(import_statement) @import
(import_from_statement) @import
(call function: (identifier) @reference)
(attribute attribute: (identifier) @reference)
(type (identifier) @reference)
(type (binary_operator (identifier) @reference))
(generic_type (identifier) @reference)
(class_definition superclasses: (argument_list (identifier) @reference))
(decorator (identifier) @reference)
(module (if_statement
  condition: (comparison_operator (identifier) @_name (string))
  (#eq? @_name "__name__")) @entry)
(comment) @comment
"""


def read_import(node: Node) -> Iterator[Import]:
    """``import a.b, c as d`` → ``a.b``, ``c``; ``from ..m import x, y as z`` → ``..m`` with names x, y."""
    line = node.start_point.row + 1
    if node.type == "import_statement":
        for name in node.children_by_field_name("name"):
            yield Import(_dotted(_unalias(name)), line)
        return
    module = node.child_by_field_name("module_name")
    if module is None:
        return
    names = [_dotted(_unalias(name)) for name in node.children_by_field_name("name")]
    if any(child.type == "wildcard_import" for child in node.named_children):
        names = ["*"]
    yield Import(_dotted(module), line, names)


def _unalias(node: Node) -> Node:
    if node.type == "aliased_import":
        return node.child_by_field_name("name") or node
    return node


def _dotted(node: Node) -> str:
    return "".join(node_text(node).split())


SPEC = LanguageSpec(
    name="python",
    grammar="tree_sitter_python",
    definitions=DEFINITIONS,
    tags=TAGS,
    read_import=read_import,
    stop_words=frozenset(keyword.kwlist) | frozenset(dir(builtins)) | {"self", "cls"},
    wrappers=frozenset({"decorated_definition"}),
    docstrings=True,
    entry_files=frozenset({"__main__.py"}),
)
