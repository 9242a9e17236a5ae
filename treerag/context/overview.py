"""The session overview and the file-neighbour view, both built from the loaded project.

The overview (purpose from the README, layout, entry points, the most central
files with their key symbols) is computed once when a project loads or
changes and kept with the loaded project; hooks serve it from memory.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING

from treerag.context.render import fit, header, render_symbols

if TYPE_CHECKING:
    from treerag.index.loaded import LoadedProject

__all__ = ["build_overview", "file_neighbours", "readme_purpose"]

_README_NAMES = ("README.md", "README.rst", "README.txt", "README", "readme.md", "Readme.md")
_ADORNMENT = re.compile(r"^([=\-~^\"'`#*+:.])\1{2,}$")  # an rst / setext title's underline or overline
_NAV = re.compile(r"\[[^\]]*\]\([^)]*\)|[\s•|·,/-]")  # links and separators: what a navigation line holds
_BADGE = re.compile(r"^\s*(\[!\[|!\[|<img|<p|<div|<a |<h\d|\.\. image::|:target:|#+\s*$)")


def readme_purpose(project: LoadedProject, max_lines: int = 4) -> list[str]:
    """The first prose lines of the README (badges, headings and their markup, blank lines skipped)."""
    for name in _README_NAMES:
        if name not in project.index_of_path:
            continue
        try:
            text = (project.root / name).read_text(errors="replace")[:8000]
        except OSError:
            continue
        return _first_paragraph(text.splitlines(), max_lines)
    return []


def _first_paragraph(raw_lines: list[str], max_lines: int) -> list[str]:
    lines: list[str] = []
    for i, raw in enumerate(raw_lines):
        line = raw.strip()
        if not line:
            if lines:
                break  # the first paragraph of prose is the purpose
            continue
        underlined = i + 1 < len(raw_lines) and _ADORNMENT.match(raw_lines[i + 1].strip()) is not None
        if (underlined or line.startswith("#") or _BADGE.match(line) or _ADORNMENT.match(line)
                or line.startswith(("```", "---", "===")) or not _NAV.sub("", line)):
            continue  # an rst or setext title (above its underline) is a heading; a line of links is navigation
        lines.append(line)
        if len(lines) >= max_lines:
            break
    return lines


def _whole_sentences(text: str) -> str:
    """``text`` without the sentence its line cap cut off, when there is a whole one before it."""
    if text.endswith((".", "!", "?")):
        return text
    end = max(text.rfind(". "), text.rfind("! "), text.rfind("? "))
    return text[: end + 1] if end > 0 else text


def _layout(project: LoadedProject, limit: int = 14) -> list[str]:
    top: Counter[str] = Counter()
    for path in project.paths:
        head = path.split("/", 1)[0] + "/" if "/" in path else "(root files)"
        top[head] += 1
    lines = []
    for name, count in top.most_common(limit):
        sub: Counter[str] = Counter()
        if name.endswith("/"):
            for path in project.paths:
                if path.startswith(name):
                    rest = path[len(name):]
                    if "/" in rest:
                        sub[rest.split("/", 1)[0] + "/"] += 1
        detail = ", ".join(f"{s} ({c})" for s, c in sub.most_common(5))
        lines.append(f"  {name} {count} files" + (f": {detail}" if detail else ""))
    return lines


def central_files(project: LoadedProject, count: int) -> list[int]:
    order = sorted(range(project.files), key=lambda i: -project.rank[i])
    return [i for i in order if project.is_code(i) and not project.is_test(i) and not project.is_generated(i)][:count]


def build_overview(project: LoadedProject, limit: int, *, compact: bool = False) -> str:
    lines = [header(project.root.name, "session overview", project.built_at)]
    langs = ", ".join(f"{lang} {n}" for lang, n in list(project.languages.items())[:6])
    lines.append(f"Root: {project.root} — {project.files} files, {project.symbols} symbols ({langs})")
    purpose = readme_purpose(project, 2 if compact else 4)
    if purpose:
        lines.append("Purpose (README): " + _whole_sentences(" ".join(purpose)))
    entries = [project.paths[i] for i in range(project.files) if project.is_entry(i) and not project.is_test(i)]
    if entries:
        lines.append("Entry points: " + ", ".join(entries[:12]))
    if not compact:
        lines.append("Layout:")
        lines.extend(_layout(project))
    lines.append("Most central files (by import/reference graph) and their key definitions:")
    central = central_files(project, 8 if compact else 20)
    by_file = project.store.symbols_for([project.ids[i] for i in central])
    docs = dict(project.store.db.execute(
        f"SELECT id, CASE WHEN summary != '' THEN summary ELSE doc END FROM files "
        f"WHERE id IN ({','.join(str(project.ids[i]) for i in central) or '0'})"))
    for i in central:
        fid = project.ids[i]
        doc = docs.get(fid, "")
        importers = len(project.importers_of(i))
        lines.append(f"- {project.paths[i]}" + (f" — {doc}" if doc else "") + (f" (imported by {importers})" if importers else ""))
        top = [dict(name=s[1], kind=s[2], signature=s[3], doc="", line=s[5])
               for s in by_file.get(fid, []) if "." not in s[1]][: 3 if compact else 5]
        lines.extend(render_symbols(top))
    return fit(lines, limit)


def file_neighbours(project: LoadedProject, rel: str, limit: int) -> tuple[str, list[str]]:
    """What ``rel`` defines, who imports it, what it imports, its tests. Returns (text, mentioned paths)."""
    i = project.index_of_path.get(rel)
    if i is None:
        return "", []
    fid = project.ids[i]
    symbols = project.store.symbols_for([fid])[fid]
    importers = [project.paths[j] for j in project.importers_of(i)]
    imports = [project.paths[j] for j in project.imports_of(i)]
    referenced_by = [project.paths[j] for j, _ in project.in_edges(i)
                     if project.paths[j] not in importers][:10]
    stem = rel.rsplit("/", 1)[-1].split(".", 1)[0]
    importer_set = set(project.importers_of(i))
    tests = sorted({project.paths[j] for j in project.test_indices
                    if stem in project.paths[j].rsplit("/", 1)[-1] or j in importer_set})
    lines = [header(project.root.name, f"neighbours of {rel}", project.built_at)]
    summary = project.store.file_summaries([fid]).get(fid, "")
    if summary:
        lines.append(f"{rel}: {summary}")
    if symbols:
        lines.append(f"{rel} defines:")
        lines.extend(render_symbols([dict(name=s[1], kind=s[2], signature=s[3], doc=s[4], line=s[5])
                                     for s in symbols[:25]], indent="  "))
    if importers:
        lines.append(f"Imported by ({len(importers)}): " + ", ".join(importers[:25]))
    if imports:
        lines.append(f"Imports ({len(imports)}): " + ", ".join(imports[:25]))
    if referenced_by:
        lines.append("Also referenced from: " + ", ".join(referenced_by))
    if tests:
        lines.append("Tests: " + ", ".join(tests[:10]))
    mentioned = [rel, *importers[:25], *imports[:25], *referenced_by, *tests[:10]]
    return fit(lines, limit), mentioned
