"""Text helpers shared by the language modules: node text, signatures, doc lines.

Everything here works on tree-sitter nodes duck-typed (``.text``,
``.start_byte``, ``.child_by_field_name`` …) so this module imports nothing
from tree-sitter itself.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tree_sitter import Node

__all__ = [
    "MAX_SIGNATURE",
    "collapse",
    "comment_lines",
    "first_comment_line",
    "first_line",
    "node_text",
    "signature",
    "string_value",
]

MAX_SIGNATURE = 200
# Bytes read from a declaration without a body (a constant, a type alias):
# enough for the signature cap, without decoding a 10,000-line literal.
_SIGNATURE_SCAN = 4 * MAX_SIGNATURE

# Node types that are a definition's body when the grammar has no ``body`` field.
_BODY_TYPES = frozenset(
    {
        "block",
        "body_statement",
        "class_body",
        "compound_statement",
        "declaration_list",
        "enum_body",
        "enum_variant_list",
        "enumerator_list",
        "field_declaration_list",
        "interface_body",
        "statement_block",
    }
)
# Where the body of a declaration may sit one or two levels down: Go's
# ``type X struct {…}`` and C's ``typedef struct {…} X`` (field type), JS's
# ``const f = () => {…}`` (a variable_declarator, then field value).
_BODY_HOST_FIELDS = ("value", "type")
_BODY_HOST_TYPES = frozenset({"variable_declarator"})

_WHITESPACE = re.compile(r"\s+")
# A doc line ending so is complete; one that does not runs on into the next line of its paragraph.
_SENTENCE_ENDS = (".", "!", "?", ":", ";")
_SENTENCE_END = re.compile(r"(?<=[\w)\]`'\"])[.!?](?=\s|$)")
_LIST_ITEM = re.compile(r"^(?:[-*+•]|\d+[.)]|@\w+)\s")  # a bullet or a tag is a line of its own
_COMMENT_OPEN = re.compile(r"^\s*(?:/\*+!?|\*+(?!/)|//[/!]?|#+|=begin|=end)?")
_COMMENT_CLOSE = re.compile(r"\s*\*+/\s*$")
_STRING_QUOTES = re.compile(r"""^[rRbBuUfF]*("{3}|'{3}|"|')""")
_MAGIC_COMMENT = re.compile(r"^(-\*-|(en)?coding[:=]|frozen_string_literal:|vim?:|SPDX-License-Identifier:)")


def node_text(node: Node) -> str:
    """The source text of ``node``, decoded leniently."""
    raw = node.text
    return raw.decode("utf-8", "replace") if raw is not None else ""


def collapse(text: str, limit: int = MAX_SIGNATURE) -> str:
    """Collapse runs of whitespace to one space and cap the length (with an ellipsis)."""
    return _cap(_WHITESPACE.sub(" ", text).strip(), limit)


def _cap(text: str, limit: int = MAX_SIGNATURE) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _body(node: Node, depth: int = 2) -> Node | None:
    body = node.child_by_field_name("body")
    if body is not None:
        return body
    for child in node.named_children:
        if child.type in _BODY_TYPES:
            return child
    if depth:
        hosts = [node.child_by_field_name(field) for field in _BODY_HOST_FIELDS]
        hosts += [child for child in node.named_children if child.type in _BODY_HOST_TYPES]
        for host in hosts:
            if host is not None and (found := _body(host, depth - 1)) is not None:
                return found
    return None


def signature(node: Node, data: bytes, prefix: str = "") -> str:
    """The declaration text of ``node`` up to its body, whitespace-collapsed, at most 200 characters.

    A declaration without a body (a constant, an alias) keeps its whole text,
    capped. A trailing ``{``, ``:``, ``;`` or ``=>`` before the body is dropped.
    When the declaration goes on after its body (C's ``typedef struct {…} Point;``)
    the body is elided and the rest kept.
    """
    body = _body(node)
    start = node.start_byte
    if body is None or body.start_byte <= start:
        text = data[start : min(node.end_byte, start + _SIGNATURE_SCAN)].decode("utf-8", "replace")
    else:
        end = min(_header_end(node, body), start + _SIGNATURE_SCAN)
        text = data[start:end].decode("utf-8", "replace")
        if body.parent != node:  # a body nested in the declaration may have the name after it
            tail = data[body.end_byte : node.end_byte].decode("utf-8", "replace").strip(" \t\r\n;")
            if tail and len(tail) < MAX_SIGNATURE:
                text = f"{text} {{…}} {tail}"
    text = collapse(prefix + text, MAX_SIGNATURE + 8).rstrip(" {:;")
    return _cap(text.removesuffix("=>").strip())  # collapsed already: no whitespace runs left to fold


def _header_end(node: Node, body: Node) -> int:
    """Where the declaration header of ``node`` ends: before its body, comments between them excluded."""
    if body.parent != node:
        return body.start_byte
    end = node.start_byte
    for child in node.children:
        if child.start_byte >= body.start_byte:
            break
        if "comment" not in child.type:
            end = child.end_byte
    return end


def comment_lines(text: str) -> list[str]:
    """The lines of a comment with their markers (``//``, ``#``, ``/*``, `` * ``…) stripped."""
    return [_COMMENT_CLOSE.sub("", _COMMENT_OPEN.sub("", line, count=1)).strip() for line in text.splitlines()]


def first_line(text: str) -> str:
    """The first line of ``text`` (a docstring), with the lines it wraps onto, capped like a signature."""
    return _first_sentence(text.splitlines())


def first_comment_line(text: str, *, skip_magic: bool = False) -> str:
    """The first non-empty line of a comment block, markers stripped, capped like a signature.

    With ``skip_magic``, shebangs and coding / frozen-string-literal pragmas
    (which open many scripts) are not taken as documentation.
    """
    lines = comment_lines(text)
    for i, (raw, line) in enumerate(zip(text.splitlines(), lines, strict=True)):
        if not line or (skip_magic and _MAGIC_COMMENT.match(raw.lstrip(" #/*"))) or raw.lstrip().startswith("#!"):
            continue
        return _first_sentence(lines[i:])
    return ""


def _first_sentence(lines: list[str]) -> str:
    """The first non-empty line and, when it stops mid-sentence, the lines of its paragraph it runs on
    into, up to the one that ends the sentence; whitespace-collapsed and capped like a signature."""
    taken: list[str] = []
    length = 0
    for line in lines:
        line = line.strip()
        if not line:
            if taken:
                break
            continue
        if taken and _LIST_ITEM.match(line):
            break  # a list or a tag after the first line is not part of its sentence
        if taken and (end := _SENTENCE_END.search(line)) is not None:
            taken.append(line[: end.start() + 1])  # a run-on line stops where its sentence does
            break
        taken.append(line)
        length += len(line) + 1
        if line.endswith(_SENTENCE_ENDS) or length > MAX_SIGNATURE or _LIST_ITEM.match(line):
            break
    return collapse(" ".join(taken))


def string_value(node: Node) -> str:
    """The contents of a string literal node without its prefix and quotes."""
    text = node_text(node)
    match = _STRING_QUOTES.match(text)
    if match is None:
        return text
    quote = match.group(1)
    body = text[match.end() :]
    return body[: -len(quote)] if body.endswith(quote) else body
