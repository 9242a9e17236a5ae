"""What one file puts into the index, computed without the database: read → sniff → hash → parse → rows.

``read_file_rows`` is the per-file half of a build. It runs in the index
worker, or in the forked parse processes of a pooled build
(:mod:`treerag.index.pool`), so everything it returns is plain tuples and
strings that pickle cheaply. The builder only adds file ids, remote summaries
(which live in the database) and writes.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from treerag.index.model import ParsedFile
from treerag.index.store import FLAG_ENTRY, FLAG_GENERATED, FLAG_TEST, fts_text

__all__ = ["UNCHANGED", "FileRows", "classify_flags", "file_rows", "read_file_rows"]

logger = logging.getLogger(__name__)

HEAD_BYTES = 8192
DOC_CAP = 300  # files.doc and symbols.doc
UNCHANGED = "unchanged"  # read_file_rows: the content hash matches the index; nothing to write
_TEST_PATH = re.compile(
    r"(^|/)(tests?|specs?|__tests__|testing)/|(^|/)test_[^/]*$|_test\.[a-z]+$|\.(test|spec)\.[jt]sx?$|Tests?\.java$|_spec\.rb$"
)
_GENERATED_PATH = re.compile(r"(_pb2\.py|\.pb\.go|\.generated\.\w+|_generated\.\w+|\.min\.js)$")
_PATH_SEPARATORS = re.compile(r"[/._\-]")

Parse = Callable[[str, bytes], ParsedFile]
# name, qualname, kind, signature, doc, line, end_line, summary
SymbolRow = tuple[str, str, str, str, str, int, int, str]


class FileRows(NamedTuple):
    """One file's rows, without its id. ``fts_docs`` is uncapped: remote summaries may still be appended."""

    rel: str
    language: str
    size: int
    mtime_ns: int
    digest: str
    flags: int
    doc: str
    summary: str
    symbols: list[SymbolRow]
    imports: list[tuple[str, int, str]]  # target, line, names joined by spaces
    refs: list[str]  # names used and not defined here, sorted
    fts_path: str
    fts_names: str
    fts_signatures: str
    fts_docs: str


def classify_flags(rel: str, parsed: ParsedFile | None) -> int:
    flags = 0
    if parsed is not None and parsed.is_entry:
        flags |= FLAG_ENTRY
    if _TEST_PATH.search(rel):
        flags |= FLAG_TEST
    if _GENERATED_PATH.search(rel):
        flags |= FLAG_GENERATED
    if rel.endswith("__main__.py"):
        flags |= FLAG_ENTRY
    return flags


def read_file_rows(
    root: Path, rel: str, known_digest: str | None, *, summaries: bool = True, parse: Parse | None = None
) -> FileRows | str | None:
    """The rows of ``root/rel``; ``UNCHANGED`` when its content hash is ``known_digest``;
    None when it vanished, is unreadable or looks like it holds a secret (logged)."""
    try:
        with open(root / rel, "rb") as fh:
            st = os.fstat(fh.fileno())
            data = fh.read()
    except OSError:
        return None
    verdict = _sniff()(data[:HEAD_BYTES])
    if verdict is not None:
        if verdict == "secret":
            logger.info("skipping %s: it looks like it holds a secret", rel, extra={"reason": "secret"})
        return None
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    if known_digest == digest:
        return UNCHANGED
    if parse is None:
        from treerag.index.parsing import parse_file as parse
    return file_rows(rel, parse(rel, data), digest, st.st_size, st.st_mtime_ns, summaries=summaries)


def file_rows(rel: str, pf: ParsedFile, digest: str, size: int, mtime_ns: int, *, summaries: bool = True) -> FileRows:
    """The rows of one parsed file (local summaries only; see docs/ENRICHMENT.md)."""
    if summaries:
        from treerag.enrich.local import summarise

        file_sum, sym_sums = summarise(pf, rel)
    else:
        file_sum, sym_sums = "", [""] * len(pf.symbols)
    symbols = pf.symbols
    own = {s.name for s in symbols}
    return FileRows(
        rel=rel,
        language=pf.language,
        size=size,
        mtime_ns=mtime_ns,
        digest=digest,
        flags=classify_flags(rel, pf),
        doc=pf.doc[:DOC_CAP],
        summary=file_sum,
        symbols=[
            (s.name, s.qualname, s.kind, s.signature, s.doc[:DOC_CAP], s.line, s.end_line, summ)
            for s, summ in zip(symbols, sym_sums, strict=True)
        ],
        imports=[(i.target, i.line, " ".join(i.names)) for i in pf.imports],
        refs=sorted(name for name in pf.references if name not in own),  # in key order: appends to refs' b-tree
        fts_path=fts_text(_PATH_SEPARATORS.split(rel)),
        fts_names=fts_text(s.qualname for s in symbols),
        fts_signatures=" ".join(s.signature for s in symbols)[:20000],
        fts_docs=" ".join([pf.doc, *(s.doc for s in symbols if s.doc)]),
    )


@functools.cache
def _sniff() -> Callable[[bytes], str | None]:
    from treerag.index.scanner import sniff_head

    return sniff_head
