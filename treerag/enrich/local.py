"""Offline ("local") summaries: one plain line per file and per main symbol.

Derived only from what the parser already extracted (module and symbol
docstrings or leading comments, names, signatures, imports), so it is
deterministic, needs no configuration and runs inside the index worker for
every written file. Remote providers' summaries, when present, win over these
(see docs/ENRICHMENT.md, "Local summaries"); local summaries are not stored in
the ``enrichment`` table because recomputing them costs less than a lookup.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from treerag.index.model import ParsedFile, Symbol

__all__ = ["MAX_CHARS", "clean_prose", "clip", "file_summary", "summarise", "symbol_summary"]

MAX_CHARS = 160
_MAIN_KINDS = frozenset({"class", "function", "method", "interface", "struct", "enum", "trait", "type", "module"})
_TOP_KINDS = frozenset({"class", "function", "interface", "struct", "enum", "trait", "type"})

_COMMENT_LEAD = re.compile(r"^\s*(?:/\*\*+|/\*+|\*+/?|//[/!]?|#+!?|--|;+|\"\"\"|''')\s?", re.MULTILINE)
_FIELD = re.compile(r"(?:^|\s)(?::(?:param|type|returns?|rtype|raises?)\b[^:]*:|@(?:param|returns?|throws|return|type|see|since|author)\b)")
_TAGS = re.compile(r"</?[A-Za-z][^>]*>")
_INLINE_JSDOC = re.compile(r"\{@\w+\s+([^}]*)\}")
_ROLE = re.compile(r":[a-z]+:`~?([^`]*)`")
_MARKS = re.compile(r"`+|\*\*|__|\[([^\]]*)\]\([^)]*\)")
_SPACE = re.compile(r"\s+")
_SENTENCE = re.compile(r"(?<=[a-z0-9)\]])[.!?](?=\s|$)")


def clean_prose(text: str) -> str:
    """Strip comment markers and markup, keep the first sentence, collapse whitespace."""
    if not text:
        return ""
    text = _COMMENT_LEAD.sub("", text)
    m = _FIELD.search(text)
    if m:
        text = text[: m.start()]
    text = _ROLE.sub(r"\1", text)
    text = _INLINE_JSDOC.sub(r"\1", text)
    text = _TAGS.sub(" ", text)
    text = _MARKS.sub(lambda mm: mm.group(1) or "", text)
    text = text.replace("*/", " ")
    text = _SPACE.sub(" ", text).strip(" -—:*")
    m = _SENTENCE.search(text)
    if m:
        text = text[: m.end()]
    return text.strip()


def clip(text: str, limit: int = MAX_CHARS) -> str:
    """Clip ``text`` to ``limit`` characters at a word boundary, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def symbol_summary(sym: Symbol) -> str:
    """The symbol's docstring first sentence, else ``kind signature``."""
    prose = clean_prose(sym.doc)
    if prose:
        return clip(prose)
    sig = _SPACE.sub(" ", sym.signature).strip().rstrip("{:").strip()
    if not sig:
        return clip(f"{sym.kind} {sym.qualname}")
    if sym.name not in sig:
        sig = f"{sym.name} {sig}"
    if not sig.lower().startswith(sym.kind):
        sig = f"{sym.kind} {sig}"
    return clip(sig)


def file_summary(pf: ParsedFile, rel: str = "") -> str:
    """The module docstring or leading comment, else a sentence from names and imports."""
    prose = clean_prose(pf.doc)
    if prose:
        return clip(prose)
    top = [s for s in pf.symbols if s.kind in _TOP_KINDS and "." not in s.qualname]
    parts: list[str] = []
    classes = [s for s in top if s.kind != "function"]
    funcs = [s.name for s in top if s.kind == "function"]
    for cls in classes[:2]:
        members = [s.name for s in pf.symbols if s.qualname.startswith(cls.qualname + ".")][:3]
        parts.append(f"{cls.kind} {cls.name}" + (f" ({', '.join(members)})" if members else ""))
    if funcs:
        parts.append(("functions " if len(funcs) > 1 else "function ") + ", ".join(funcs[:4]))
    if len(classes) > 2:
        parts.append(f"{len(classes) - 2} more types")
    headings = [s.name for s in pf.symbols if s.kind == "heading"][:3]
    out = ""
    if parts:
        out = "Defines " + "; ".join(parts)
    elif headings:
        out = "Sections: " + ", ".join(headings)
    # one name per module: `import x` and `from x import a, b` (several lines) are one import here
    imports = list(dict.fromkeys(i.target.rsplit("/", 1)[-1].lstrip(".") or i.target
                                 for i in pf.imports if not i.system))[:3]
    if imports:
        out = (out + "; imports " if out else "Imports ") + ", ".join(imports)
    if not out and pf.language:
        out = f"{pf.language} file {rel.rsplit('/', 1)[-1]}" if rel else ""
    return clip(out)


def summarise(pf: ParsedFile, rel: str = "") -> tuple[str, list[str]]:
    """File summary and one summary per symbol (``""`` for minor symbols such as constants)."""
    return file_summary(pf, rel), [symbol_summary(s) if s.kind in _MAIN_KINDS else "" for s in pf.symbols]
