"""Build or update one project's index: scan → parse what changed → resolve → graph → rank → write.

``build_index`` runs in an index worker process (never in the daemon: it
imports the tree-sitter grammars). A full build scans the tree; an update is
given the paths the watcher saw change. Either way a file is re-parsed only
when its content hash changed, and everything is written in one SQLite
transaction, so a kill -9 leaves the previous index intact.

Reading and parsing make each file's rows (:mod:`treerag.index.rows`) apart
from the database, in forked parse processes (:mod:`treerag.index.pool`):
one for updates, background builds and small trees, ``workers`` for a
requested build with enough source. A grammar never runs in the worker
itself, so a parse that crashes or hangs costs that file in every kind of
build. The rows are written in file order, new files in batches across files.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from treerag.index.bodies import sync_bodies
from treerag.index.graph import pagerank
from treerag.index.model import ParsedFile
from treerag.index.rows import UNCHANGED, FileRows, classify_flags, read_file_rows
from treerag.index.store import EDGE_IMPORT, EDGE_REFERENCE, FLAG_ENTRY, Store

if TYPE_CHECKING:
    from treerag.index.worker import CpuCap

__all__ = ["BuildReport", "build_index", "classify_flags"]

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

# Less source to parse than this goes to one parse process: a second fork and grammar load cost
# ~25 ms, and on a machine whose other cores are busy a second process gains nothing.
POOL_MIN_BYTES = 4 << 20
# A name defined in more files than this says nothing about which one a reference means.
MAX_DEFINERS = 4
RANK_SKIP_MAX_FILES = 50  # updates up to this size skip PageRank when their edges are unchanged
# References only count between languages that can call each other.
_FAMILIES = {
    "javascript": ("javascript", "typescript", "tsx"),
    "typescript": ("javascript", "typescript", "tsx"),
    "tsx": ("javascript", "typescript", "tsx"),
    "c": ("c", "cpp"),
    "cpp": ("c", "cpp"),
}
_REFERENCE_KINDS = ("class", "function", "method", "interface", "struct", "enum", "trait", "type", "constant")


@dataclass
class BuildReport:
    root: str
    files: int = 0
    symbols: int = 0
    parsed: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_examples: dict[str, list[str]] = field(default_factory=dict)  # a few paths per reason
    languages: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    changed_paths: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def build_index(
    root: Path,
    db_path: Path,
    *,
    paths: Iterable[str] | None = None,
    max_file_bytes: int = 1 << 20,
    progress: Progress | None = None,
    throttle: CpuCap | None = None,
    summaries: bool = True,
    workers: int = 1,
) -> BuildReport:
    """Full build when ``paths`` is None, else an update of just those paths (files or directories).

    ``summaries`` fills files.summary/symbols.summary with local summaries (remote ones kept).
    Files in a parsed language are parsed in one forked process (:mod:`treerag.index.pool`), under
    ``throttle`` when there is one; ``workers`` > 1 uses that many when there is no ``throttle`` and
    enough source to repay the forks. The rows written are the same either way."""
    from treerag.index.ignore import IgnoreRules
    from treerag.index.scanner import classify_file, scan

    started = time.perf_counter()
    root = root.resolve()
    report = BuildReport(root=str(root))
    store = Store(db_path)
    try:
        known = store.file_states()
        if paths is None:
            result = scan(root, max_file_bytes=max_file_bytes, rules=IgnoreRules(root))
            present = {f.rel: (f.size, f.mtime_ns) for f in result.files}
            report.skipped = dict(result.skipped)
            report.skipped_examples = {k: list(v) for k, v in result.examples.items()}
            dirs: list[str] | None = list(result.dirs)
            deleted = [p for p in known if p not in present]
        else:
            rules = IgnoreRules(root)
            present, deleted = _stat_paths(
                root, paths, known, lambda r, rel: classify_file(r, rel, rules=rules, max_file_bytes=max_file_bytes),
                max_file_bytes,
            )
            dirs = None
        candidates = [rel for rel, (size, mtime) in present.items() if _stat_changed(known.get(rel), size, mtime)]
        _progress(progress, "parse", 0, len(candidates))

        parsed: dict[str, FileRows] = {}
        touched_only: dict[str, tuple[int, int]] = {}
        source_bytes = _source_bytes(candidates, present)
        processes = workers if workers > 1 and throttle is None and source_bytes >= POOL_MIN_BYTES else 1
        outcomes = (_read_pooled(root, candidates, known, processes, summaries, throttle) if source_bytes
                    else _read_serial(root, candidates, known, throttle, summaries))
        for i, (rel, outcome) in enumerate(outcomes):
            if outcome is None:  # vanished, unreadable or secret
                if rel in known:
                    deleted.append(rel)
                report.skipped["unreadable_or_secret"] = report.skipped.get("unreadable_or_secret", 0) + 1
                kept = report.skipped_examples.setdefault("unreadable_or_secret", [])
                if len(kept) < 3:
                    kept.append(rel)
                continue
            if outcome == UNCHANGED:
                touched_only[rel] = present[rel]
                continue
            assert isinstance(outcome, FileRows)
            parsed[rel] = outcome
            if progress is not None and i % 200 == 0:
                _progress(progress, "parse", i, len(candidates))
        report.parsed = len(parsed)
        report.unchanged = len(present) - len(parsed)
        report.deleted = len(deleted)
        report.changed_paths = sorted([*parsed, *deleted])

        _progress(progress, "write", 0, 1)
        with store.transaction() as db:
            # An edit that leaves the graph as it was (the common case: a body changed) keeps the ranks.
            small_update = paths is not None and not deleted and 0 < len(parsed) <= RANK_SKIP_MAX_FILES
            edges_before = _edge_signature(db, list(parsed)) if small_update else None
            paths_changed = _write_files(db, list(parsed.values()), touched_only, deleted, known,
                                         summaries=summaries)
            if paths is None:
                _prune_enrichment(db)
            id_of = dict(db.execute("SELECT path, id FROM files"))
            changed_ids = [id_of[rel] for rel in parsed]
            sync_bodies(db, root, changed_ids)
            _resolve_imports(db, root, changed_ids, all_files=paths_changed or paths is None)
            _rebuild_reference_edges(db, changed_ids, [name for fr in parsed.values() for name in _defined(fr)])
            _mark_package_entries(db, root)
            if edges_before is None or paths_changed or _edge_signature(db, list(parsed)) != edges_before:
                _update_ranks(db, warm=paths is not None)
            store.set_meta(db, root=str(root), built_at=time.time())
            if dirs is not None:
                store.set_meta(db, dirs=json.dumps(dirs))
        counts = store.counts()
        report.files, report.symbols = counts["files"], counts["symbols"]
        report.languages = store.languages()
    finally:
        store.close()
    report.seconds = round(time.perf_counter() - started, 4)
    _progress(progress, "done", report.files, report.files)
    return report


def _progress(progress: Progress | None, phase: str, done: int, total: int) -> None:
    if progress is not None:
        progress(phase, done, total)


def _source_bytes(candidates: list[str], present: dict[str, tuple[int, int]]) -> int:
    """Bytes of the candidates a tree-sitter grammar will parse (the rest need no parse process)."""
    from treerag.index.parsing import language_for

    return sum(present[rel][0] for rel in candidates if language_for(rel) not in ("", "markdown"))


def _read_serial(
    root: Path,
    candidates: list[str],
    known: dict[str, tuple[int, int, int, str]],
    throttle: Callable[[], None] | None,
    summaries: bool,
) -> Iterator[tuple[str, FileRows | str | None]]:
    """Read and hash files no tree-sitter grammar parses (plain files; markdown, scanned for headings),
    here in the worker."""
    for rel in candidates:
        if throttle is not None:
            throttle()
        old = known.get(rel)
        yield rel, read_file_rows(root, rel, old[3] if old else None, summaries=summaries)


def _read_pooled(
    root: Path,
    candidates: list[str],
    known: dict[str, tuple[int, int, int, str]],
    processes: int,
    summaries: bool,
    throttle: CpuCap | None,
) -> Iterator[tuple[str, FileRows | str | None]]:
    """Read, hash and parse in forked processes; a file whose parse kills or hangs its process is indexed
    with its language and no details (as a parse that raises is) and logged, and costs no other file.
    A throttled build's process keeps itself and this one to the CPU share, and gets as much more time
    per chunk."""
    from treerag.index.parsing import load_grammars
    from treerag.index.pool import CHUNK_TIMEOUT_S, CRASHED, ForkPool

    load_grammars(candidates)
    if summaries:
        import treerag.enrich.local  # noqa: F401 - loaded once here, not in each parse process

    task = functools.partial(_read_one, root, summaries)
    items = [(rel, known[rel][3] if rel in known else None) for rel in candidates]
    timeout = CHUNK_TIMEOUT_S / throttle.share if throttle is not None else None
    init = throttle.install_in_child if throttle is not None else None
    with ForkPool(task, processes, chunk_timeout_s=timeout, init=init) as pool:
        for (rel, digest), outcome in zip(items, pool.map(items), strict=True):
            if outcome is CRASHED:
                logger.warning("parsing %s crashed or hung its parse process; indexing it without symbols", rel,
                               extra={"reason": "parse_crash"})
                outcome = read_file_rows(root, rel, digest, summaries=summaries, parse=_plain_file)
            yield rel, outcome


def _read_one(root: Path, summaries: bool, item: tuple[str, str | None]) -> FileRows | str | None:
    return read_file_rows(root, item[0], item[1], summaries=summaries)


def _plain_file(rel: str, data: bytes) -> ParsedFile:
    from treerag.index.parsing import language_for

    return ParsedFile(language=language_for(rel))


def _stat_changed(known: tuple[int, int, int, str] | None, size: int, mtime: int) -> bool:
    return known is None or known[1] != size or known[2] != mtime


def _stat_paths(
    root: Path,
    paths: Iterable[str],
    known: dict[str, tuple[int, int, int, str]],
    classify_file: Callable[[Path, str], str | None],
    max_file_bytes: int,
) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """For an update: which of ``paths`` exist and are indexable, which known files are gone."""
    present: dict[str, tuple[int, int]] = {}
    deleted: list[str] = []
    for rel in set(paths):
        full = root / rel
        try:
            st = full.stat()
        except OSError:
            prefix = rel.rstrip("/") + "/"
            deleted.extend(p for p in known if p == rel or p.startswith(prefix))
            continue
        if os.path.isdir(full):
            continue  # directories come as their files
        if classify_file(root, rel) is not None or st.st_size > max_file_bytes:
            if rel in known:
                deleted.append(rel)
            continue
        present[rel] = (st.st_size, st.st_mtime_ns)
    return present, sorted(set(deleted))


def _defined(fr: FileRows) -> list[str]:
    return [sym[0] for sym in fr.symbols if sym[2] in _REFERENCE_KINDS]


def _write_files(
    db: Any,
    rows: list[FileRows],
    touched_only: dict[str, tuple[int, int]],
    deleted: list[str],
    known: dict[str, tuple[int, int, int, str]],
    *,
    summaries: bool = True,
) -> bool:
    """Apply file changes; return True when the set of paths changed (imports must be re-resolved).

    New files are written in batches across files, with the ids SQLite would have given them one by
    one (one more than the largest in use); a file already indexed is rewritten in place, in order."""
    paths_changed = bool(deleted)
    any_remote = summaries and db.execute("SELECT 1 FROM enrichment WHERE provider<>'local' LIMIT 1").fetchone()
    for rel in deleted:
        row = db.execute("SELECT id FROM files WHERE path=?", (rel,)).fetchone()
        if row is None:
            continue
        db.execute("DELETE FROM fts WHERE rowid=?", (row[0],))
        db.execute("DELETE FROM edges WHERE src=? OR dst=?", (row[0], row[0]))
        db.execute("UPDATE imports SET resolved=NULL WHERE resolved=?", (row[0],))
        db.execute("DELETE FROM files WHERE id=?", (row[0],))
    db.executemany("UPDATE files SET size=?, mtime_ns=? WHERE path=?",
                   [(size, mtime, rel) for rel, (size, mtime) in touched_only.items()])
    batch = _Batch(db)
    for fr in rows:
        if any_remote:
            fr = _with_remote_summaries(db, fr)
        old = known.get(fr.rel)
        if old is None:
            paths_changed = True
            batch.add(fr)
            continue
        batch.flush()  # keep the statement order of a file-by-file write
        fid = old[0]
        db.execute(
            "UPDATE files SET language=?, size=?, mtime_ns=?, hash=?, flags=?, doc=?, summary=? WHERE id=?",
            (fr.language, fr.size, fr.mtime_ns, fr.digest, fr.flags, fr.doc, fr.summary, fid),
        )
        for table in ("symbols", "imports", "refs"):
            db.execute(f"DELETE FROM {table} WHERE file_id=?", (fid,))
        db.execute("DELETE FROM fts WHERE rowid=?", (fid,))
        _write_children(db, [(fid, fr)])
    batch.flush()
    return paths_changed


class _Batch:
    """New files' rows, written together with ids assigned as SQLite would assign them one insert at a time."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.pending: list[FileRows] = []
        self.next_id: int | None = None

    def add(self, fr: FileRows) -> None:
        self.pending.append(fr)

    def flush(self) -> None:
        if not self.pending:
            return
        if self.next_id is None:
            self.next_id = self.db.execute("SELECT coalesce(max(id), 0) + 1 FROM files").fetchone()[0]
        items = list(enumerate(self.pending, start=self.next_id))
        self.next_id += len(items)
        self.pending = []
        self.db.executemany(
            "INSERT INTO files(id, path, language, size, mtime_ns, hash, flags, doc, summary)"
            " VALUES(?,?,?,?,?,?,?,?,?)",
            [(fid, fr.rel, fr.language, fr.size, fr.mtime_ns, fr.digest, fr.flags, fr.doc, fr.summary)
             for fid, fr in items],
        )
        _write_children(self.db, items)


def _write_children(db: Any, items: list[tuple[int, FileRows]]) -> None:
    """Symbols, imports, references and the FTS row of files already in ``files``, in file order."""
    db.executemany(
        "INSERT INTO symbols(file_id, name, qualname, kind, signature, doc, line, end_line, summary)"
        " VALUES(?,?,?,?,?,?,?,?,?)",
        [(fid, *sym) for fid, fr in items for sym in fr.symbols],
    )
    db.executemany(
        "INSERT INTO imports(file_id, target, line, names) VALUES(?,?,?,?)",
        [(fid, *imp) for fid, fr in items for imp in fr.imports],
    )
    db.executemany(
        "INSERT OR IGNORE INTO refs(file_id, name) VALUES(?,?)",
        [(fid, name) for fid, fr in items for name in fr.refs],
    )
    db.executemany(
        "INSERT INTO fts(rowid, path, names, signatures, docs) VALUES(?,?,?,?,?)",
        [(fid, fr.fts_path, fr.fts_names, fr.fts_signatures, fr.fts_docs[:20000]) for fid, fr in items],
    )


# --- summaries: helpers (owned by the enrichment work; see docs/ENRICHMENT.md) ---
def _with_remote_summaries(db: Any, fr: FileRows) -> FileRows:
    """``fr`` with its local summaries replaced node by node by any remote summary cached for its
    content, and the remote texts added to FTS. Local summaries stay out of FTS: they are cut from
    the docstrings and names already indexed, and repeating those measurably hurt the ranking
    regression set."""
    remote = dict(
        db.execute(
            "SELECT node, summary FROM enrichment WHERE hash=? AND provider<>'local' ORDER BY created", (fr.digest,)
        ).fetchall()
    )
    if not remote:
        return fr
    return fr._replace(
        summary=remote.get("", fr.summary),
        symbols=[(*sym[:7], remote.get(sym[1], sym[7])) for sym in fr.symbols],
        fts_docs=" ".join([fr.fts_docs, *remote.values()]),
    )


def _prune_enrichment(db: Any) -> None:
    """Drop cached summaries and embeddings for content no file has any more (full builds only)."""
    for table in ("enrichment", "embeddings"):
        db.execute(f"DELETE FROM {table} WHERE hash NOT IN (SELECT hash FROM files)")
# --- end summaries helpers ---


def _resolve_imports(db: Any, root: Path, changed_ids: list[int], *, all_files: bool) -> None:
    from treerag.index.resolve import ImportResolver

    id_of = dict(db.execute("SELECT path, id FROM files"))
    resolver = ImportResolver(list(id_of), root)
    if all_files:
        rows = db.execute("SELECT imports.rowid, files.path, files.language, target, line, names, resolved "
                          "FROM imports JOIN files ON files.id = imports.file_id").fetchall()
        db.execute("DELETE FROM edges WHERE kind=?", (EDGE_IMPORT,))
    else:
        rows = []
        for fid in changed_ids:
            rows += db.execute("SELECT imports.rowid, files.path, files.language, target, line, names, resolved "
                               "FROM imports JOIN files ON files.id = imports.file_id WHERE file_id=?",
                               (fid,)).fetchall()
            db.execute("DELETE FROM edges WHERE src=? AND kind=?", (fid, EDGE_IMPORT))
    from treerag.index.model import Import

    updates = []
    edges: dict[tuple[int, int], float] = {}
    for rowid, path, language, target, line, names, resolved in rows:
        imp = Import(target=target, line=line, names=names.split() if names else [])
        targets = [id_of[p] for p in resolver.resolve_all(path, language, imp) if p in id_of and p != path]
        first = targets[0] if targets else None
        if first != resolved:  # most imports of a first build resolve to nothing, as they already say
            updates.append((first, rowid))
        for dst in targets:
            key = (id_of[path], dst)
            edges[key] = edges.get(key, 0.0) + 1.0
    db.executemany("UPDATE imports SET resolved=? WHERE rowid=?", updates)
    db.executemany(
        "INSERT OR REPLACE INTO edges(src, dst, kind, weight) VALUES(?,?,?,?)",
        [(src, dst, EDGE_IMPORT, w) for (src, dst), w in edges.items()],
    )


def _rebuild_reference_edges(db: Any, changed_ids: list[int], defined_names: list[str]) -> None:
    """Reference edges of changed files, and of files that use a name the changed files define.

    Cost is proportional to the affected files' references and the definitions of those names.
    """
    affected = set(changed_ids)
    for chunk in _chunks(sorted(set(defined_names)), 500):
        marks = ",".join("?" * len(chunk))
        affected.update(r[0] for r in db.execute(f"SELECT DISTINCT file_id FROM refs WHERE name IN ({marks})", chunk))
    if not affected:
        return
    language_of = dict(db.execute("SELECT id, language FROM files"))
    refs: dict[int, list[str]] = {}
    for chunk in _chunks(sorted(affected), 500):
        marks = ",".join("?" * len(chunk))
        for fid, name in db.execute(f"SELECT file_id, name FROM refs WHERE file_id IN ({marks})", chunk):
            refs.setdefault(fid, []).append(name)
    names = sorted({n for ns in refs.values() for n in ns})
    definers: dict[str, set[int]] = {}
    kinds = ",".join(f"'{k}'" for k in _REFERENCE_KINDS)
    for chunk in _chunks(names, 500):
        marks = ",".join("?" * len(chunk))
        for name, fid in db.execute(
            f"SELECT name, file_id FROM symbols WHERE kind IN ({kinds}) AND name IN ({marks})", chunk
        ):
            definers.setdefault(name, set()).add(fid)
    for chunk in _chunks(sorted(affected), 500):
        marks = ",".join("?" * len(chunk))
        db.execute(f"DELETE FROM edges WHERE kind={EDGE_REFERENCE} AND src IN ({marks})", chunk)
    rows = []
    for fid, used in refs.items():
        family = _FAMILIES.get(language_of.get(fid, ""), (language_of.get(fid, ""),))
        counts: dict[int, int] = {}
        for name in used:
            files = definers.get(name)
            if not files or len(files) > MAX_DEFINERS:
                continue
            for dst in files:
                if dst != fid and language_of.get(dst) in family:
                    counts[dst] = counts.get(dst, 0) + 1
        rows.extend((fid, dst, EDGE_REFERENCE, float(n)) for dst, n in counts.items())
    db.executemany("INSERT OR REPLACE INTO edges(src, dst, kind, weight) VALUES(?,?,?,?)", rows)


def _mark_package_entries(db: Any, root: Path) -> None:
    """Entry points declared by packaging metadata: console scripts, package.json bin/main, Rust main."""
    targets: set[str] = set()
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(errors="replace"))
            scripts = {**data.get("project", {}).get("scripts", {}),
                       **data.get("tool", {}).get("poetry", {}).get("scripts", {})}
            for spec in scripts.values():
                module = str(spec).split(":")[0].strip()
                base = module.replace(".", "/")
                targets.update({f"{base}.py", f"src/{base}.py", f"{base}/__init__.py", f"src/{base}/__init__.py"})
        except (tomllib.TOMLDecodeError, OSError, AttributeError):
            pass
    package_json = root / "package.json"
    if package_json.is_file():
        try:
            data = json.loads(package_json.read_text(errors="replace"))
            bins = data.get("bin")
            values = list(bins.values()) if isinstance(bins, dict) else [bins] if isinstance(bins, str) else []
            values += [data[k] for k in ("main", "module") if isinstance(data.get(k), str)]
            targets.update(os.path.normpath(v).lstrip("./") for v in values if isinstance(v, str))
        except (ValueError, OSError):
            pass
    targets.update({"src/main.rs", "main.go", "manage.py"})
    for rel in targets:
        db.execute("UPDATE files SET flags = flags | ? WHERE path = ?", (FLAG_ENTRY, rel))


def _edge_signature(db: Any, paths: list[str]) -> list[tuple[str, str, int, float]]:
    """The graph edges touching ``paths``, by path (file ids may change when a file is rewritten)."""
    marks = ",".join("?" * len(paths))
    return sorted(db.execute(
        f"SELECT fs.path, fd.path, e.kind, e.weight FROM edges e JOIN files fs ON fs.id = e.src "
        f"JOIN files fd ON fd.id = e.dst WHERE fs.path IN ({marks}) OR fd.path IN ({marks})", paths + paths))


def _update_ranks(db: Any, *, warm: bool) -> None:
    ids = [r[0] for r in db.execute("SELECT id FROM files ORDER BY id")]
    edges = db.execute("SELECT src, dst, kind, weight FROM edges").fetchall()
    start = dict(db.execute("SELECT id, rank FROM files")) if warm else None
    weighted = [(s, d, w if k == EDGE_IMPORT else 0.5 * w) for s, d, k, w in edges]
    ranks = pagerank(ids, weighted, start=start, iterations=8 if warm else 30)
    db.executemany("UPDATE files SET rank=? WHERE id=?", [(r, i) for i, r in ranks.items()])


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
