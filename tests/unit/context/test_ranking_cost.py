"""What keeps prompt ranking cheap on a large tree, and the case-blind name lookup it rests on.

- a word in more than a third of a large project's files is left out of BM25 (it scores every file it
  occurs in); a small project keeps every word; when every word is that common the rarest stay;
- the second spread hop starts from the strongest files only;
- a plain word of the prompt finds the file defining a CamelCase symbol of that name, through an index
  that an index built before it gets when it is next loaded;
- each file shows the symbols the prompt names first.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from treerag.context import ranking
from treerag.context.ranking import rank_files
from treerag.index.builder import build_index
from treerag.index.graph import spread
from treerag.index.loaded import LoadedProject, load_project


def _project(tmp_path: Path, files: dict[str, str]) -> LoadedProject:
    root = tmp_path / "proj"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    db = tmp_path / "index.sqlite"
    build_index(root, db)
    return load_project(root, db)


def _many_files(n: int) -> dict[str, str]:
    """n modules that all mention "widget"; one also mentions "sprocket"."""
    files = {f"pkg/mod{i}.py": f'def handle_widget_{i}():\n    """Widget step {i}."""\n' for i in range(n)}
    files["pkg/gears.py"] = 'def turn_sprocket():\n    """Turn the widget sprocket."""\n'
    return files


def test_a_word_in_most_files_of_a_large_project_is_left_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(tmp_path, _many_files(40))
    monkeypatch.setattr(ranking, "COMMON_FLOOR", 10)  # 41 files stand in for a large tree
    names, bodies = ranking._selective(project, ["widget", "sprocket"])
    assert names == ["sprocket"] and bodies == ["sprocket"]
    assert project.term_counts["widget"][0] == 41  # counted once, remembered for the loaded project
    assert rank_files(project, "widget sprocket")[0].path == "pkg/gears.py"


def test_every_word_stays_in_a_small_project(tmp_path: Path) -> None:
    project = _project(tmp_path, _many_files(40))  # 41 files: far below COMMON_FLOOR
    assert ranking._selective(project, ["widget", "sprocket"]) == (["widget", "sprocket"], ["widget", "sprocket"])


def test_when_every_word_is_common_the_rarest_stay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(tmp_path, _many_files(40))
    monkeypatch.setattr(ranking, "COMMON_FLOOR", 0)
    monkeypatch.setattr(ranking, "COMMON_SHARE", 0.0)  # every word that occurs at all is "common"
    names, _ = ranking._selective(project, ["widget", "step", "sprocket"])
    assert names[0] == "sprocket" and len(names) == 2
    assert rank_files(project, "widget step")  # still an answer


def test_second_hop_spreads_from_the_strongest_files_only() -> None:
    edges = {0: [(1, 1.0), (2, 0.01)], 1: [(10, 1.0)], 2: [(20, 1.0)]}
    full = spread({0: 1.0}, lambda n: edges.get(n, []), hops=2, decay=0.5)
    narrow = spread({0: 1.0}, lambda n: edges.get(n, []), hops=2, decay=0.5, breadth=1)
    assert 20 in full and 20 not in narrow
    assert narrow[10] == pytest.approx(full[10])


def test_a_plain_word_finds_a_camel_case_class(tmp_path: Path) -> None:
    project = _project(tmp_path, {
        "app/query.py": "class QuerySet:\n    pass\n",
        "app/other.py": "def unrelated():\n    return 1\n",
    })
    seeds: dict[int, float] = {}
    ranking._add_named_symbols(project, ranking.extract_terms("the queryset is evaluated twice"), seeds)
    assert seeds and {project.paths[i] for i in seeds} == {"app/query.py"}


def test_an_older_index_gets_the_case_blind_name_index(tmp_path: Path) -> None:
    project = _project(tmp_path, {"app/query.py": "class QuerySet:\n    pass\n"})
    db_path = project.store.path
    project.close()
    with sqlite3.connect(db_path) as db:
        db.execute("DROP INDEX symbols_name_nocase")
    upgraded = load_project(project.root, db_path)  # a load, read-only as always, upgrades it once
    assert not upgraded.store.needs_upgrade
    upgraded.close()
    with sqlite3.connect(db_path) as db:
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "symbols_name_nocase" in names


def test_each_file_shows_the_symbols_the_prompt_names_first(tmp_path: Path) -> None:
    body = "".join(f"def helper_{i}():\n    return {i}\n\n" for i in range(20))
    body += "def parse_invoice_total():\n    return 0\n"
    project = _project(tmp_path, {"app/billing.py": body})
    ranked = rank_files(project, "parse the invoice total")
    names = [s["name"] for s in ranked[0].symbols]
    lines = [s["line"] for s in ranked[0].symbols]
    assert "parse_invoice_total" in names and len(names) == 6
    assert lines == sorted(lines)  # chosen by how well they match, shown in file order


def test_an_older_index_on_a_disk_that_refuses_writes_is_served_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from treerag.errors import DiskFull
    from treerag.index import loaded
    from treerag.index.store import Store

    project = _project(tmp_path, {"app/query.py": "class QuerySet:\n    pass\n"})
    db_path = project.store.path
    project.close()
    with sqlite3.connect(db_path) as db:
        db.execute("DROP INDEX symbols_name_nocase")

    def refusing_writes(path: Path, *, readonly: bool = False) -> Store:
        if not readonly:
            raise DiskFull(str(path))
        return Store(path, readonly=True)

    monkeypatch.setattr(loaded, "Store", refusing_writes)
    served = load_project(project.root, db_path)
    assert served.store.needs_upgrade  # still without the index, and still answering
    seeds: dict[int, float] = {}
    ranking._add_named_symbols(served, ranking.extract_terms("the queryset"), seeds)
    assert {served.paths[i] for i in seeds} == {"app/query.py"}
