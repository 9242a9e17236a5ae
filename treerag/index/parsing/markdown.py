"""Markdown: headings as symbols, read by line scanning (no grammar needed).

ATX (``## Title``) and setext (``Title`` over ``===`` / ``---``) headings are
symbols of kind ``heading``; the qualname is the path of enclosing headings
joined by ``" > "``, the signature the heading line, the doc the first line of
text below it, and a heading spans up to the next heading of the same or a
higher level. Lines inside fenced code blocks (`````` ``` `````` or ``~~~``)
and indented code are not headings. The file's doc is its first heading.
"""

from __future__ import annotations

import re

from treerag.index.model import ParsedFile, Symbol
from treerag.index.parsing.text import collapse

__all__ = ["parse"]

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")


def parse(text: str) -> ParsedFile:
    """Headings of a Markdown document (see the module docstring)."""
    lines = text.splitlines()
    headings: list[tuple[int, int, str, str]] = []  # (line index, level, title, heading line)
    fence = ""
    paragraph: int | None = None  # index of the previous line when it is paragraph text (a setext candidate)
    for index, line in enumerate(lines):
        previous, paragraph = paragraph, None
        if fence:
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = ""
        elif match := _FENCE.match(line):
            fence = match.group(1)
        elif match := _ATX.match(line):
            if title := (match.group(2) or "").strip():
                headings.append((index, len(match.group(1)), title, line.strip()))
        elif (setext := _SETEXT.match(line)) and previous is not None:
            title = lines[previous].strip()
            headings.append((previous, 1 if setext.group(1).startswith("=") else 2, title, title))
        elif _paragraph(line):
            paragraph = index
    return ParsedFile(
        language="markdown",
        symbols=_symbols(headings, lines),
        doc=collapse(headings[0][2]) if headings else "",
    )


def _paragraph(line: str) -> bool:
    """A line that can be the text of a setext heading (not blank, not a list item or quote)."""
    stripped = line.strip()
    return bool(stripped) and not line.startswith("    ") and not re.match(r"^([-*+>]|\d+[.)])(\s|$)", stripped)


def _symbols(headings: list[tuple[int, int, str, str]], lines: list[str]) -> list[Symbol]:
    symbols: list[Symbol] = []
    path: list[tuple[int, str]] = []  # (level, title) of the enclosing headings
    for position, (index, level, title, heading) in enumerate(headings):
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, title))
        end = next((h[0] for h in headings[position + 1 :] if h[1] <= level), len(lines))
        symbols.append(
            Symbol(
                name=title,
                qualname=" > ".join(t for _, t in path),
                kind="heading",
                signature=collapse(heading),
                doc=_first_text(lines, index + 1, headings[position + 1][0] if position + 1 < len(headings) else end),
                line=index + 1,
                end_line=max(index + 1, _last_content(lines, index, end)),
            )
        )
    return symbols


def _first_text(lines: list[str], start: int, stop: int) -> str:
    fence = False
    for line in lines[start:stop]:
        stripped = line.strip()
        if _FENCE.match(line):
            fence = not fence
        elif stripped and not fence and not _SETEXT.match(line) and not line.startswith(("    ", "\t")):
            return collapse(stripped)
    return ""


def _last_content(lines: list[str], start: int, stop: int) -> int:
    """The 1-based number of the last non-blank line in ``lines[start:stop]``."""
    for index in range(stop - 1, start - 1, -1):
        if lines[index].strip():
            return index + 1
    return start + 1
