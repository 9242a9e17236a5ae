"""Ruby: classes, modules, methods (``def`` and ``def self.``) and UPPER_CASE constants.

Imports: ``require 'x'`` → ``x``; ``require_relative 'x'`` → ``./x`` (a
relative target always starts with ``./`` or ``../``, which is how the
resolver tells the two apart); ``load 'x.rb'`` → ``x.rb``. A file is an entry
point when it has a top-level ``if __FILE__ == $0`` (or ``$PROGRAM_NAME``).
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
(class name: [(constant) (scope_resolution)] @name) @definition.class
(module name: [(constant) (scope_resolution)] @name) @definition.module
(method name: (_) @name) @definition.function
(singleton_method name: (_) @name) @definition.method
(assignment left: (constant) @name (#match? @name "^_*[A-Z][A-Z0-9_]*$")) @definition.constant
"""

TAGS = r"""
(call method: (identifier) @_method arguments: (argument_list . (string))
  (#any-of? @_method "require" "require_relative" "load")) @import
(call method: (identifier) @reference)
(constant) @reference
(program (if condition: (binary left: (identifier) @_file)
  (#eq? @_file "__FILE__")) @entry)
(comment) @comment
"""


def read_import(node: Node) -> Iterator[Import]:
    """A ``require``/``require_relative``/``load`` call with a plain string argument."""
    method = node.child_by_field_name("method")
    arguments = node.child_by_field_name("arguments")
    string = arguments.named_child(0) if arguments is not None else None
    if method is None or string is None or string.named_child_count != 1:
        return  # no argument, or an interpolated string
    content = string.named_child(0)
    if content is None or content.type != "string_content":
        return
    target = node_text(content)
    if node_text(method) == "require_relative" and not target.startswith(("./", "../")):
        target = "./" + target
    yield Import(target, node.start_point.row + 1)


SPEC = LanguageSpec(
    name="ruby",
    grammar="tree_sitter_ruby",
    definitions=DEFINITIONS,
    tags=TAGS,
    read_import=read_import,
    stop_words=frozenset(
        """
        alias and begin break case class def defined do else elsif end ensure false for if in module next
        nil not or redo rescue retry return self super then true undef unless until when while yield
        require require_relative load puts print raise new attr_reader attr_writer attr_accessor include
        extend private protected public each map select reject freeze to_s to_i to_sym lambda proc
        String Integer Hash Array Symbol Float StandardError ArgumentError
        """.split()
    ),
)
