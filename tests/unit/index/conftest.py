"""Factories over the fixture projects: parse one of their files, or build a resolver for one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from treerag.index.model import ParsedFile, Symbol
from treerag.index.parsing import parse_file
from treerag.index.resolve import ImportResolver

PROJECTS = Path(__file__).resolve().parents[2] / "fixtures" / "projects"


def project_paths(project: str) -> list[str]:
    """Every file of a fixture project, relative and posix."""
    root = PROJECTS / project
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


Outline = list[tuple[str, str, str, int]]


@pytest.fixture
def outline() -> Callable[[ParsedFile], Outline]:
    """``outline(parsed)``: (name, kind, qualname, line) of every symbol, in file order."""

    def make(parsed: ParsedFile) -> Outline:
        return [(s.name, s.kind, s.qualname, s.line) for s in parsed.symbols]

    return make


@pytest.fixture
def symbol() -> Callable[[ParsedFile, str], Symbol]:
    """``symbol(parsed, "Outer.inner")``: the symbol with that qualname."""

    def find(parsed: ParsedFile, qualname: str) -> Symbol:
        return next(s for s in parsed.symbols if s.qualname == qualname)

    return find


@pytest.fixture
def parse_fixture() -> Callable[[str, str], ParsedFile]:
    """``parse_fixture("python_app", "src/invoicing/tax.py")`` parses that fixture file."""

    def parse(project: str, rel_path: str) -> ParsedFile:
        return parse_file(rel_path, (PROJECTS / project / rel_path).read_bytes())

    return parse


@pytest.fixture
def make_resolver() -> Callable[[str], ImportResolver]:
    """``make_resolver("go_app")`` builds a resolver over that fixture project, metadata included."""

    def make(project: str) -> ImportResolver:
        return ImportResolver(project_paths(project), PROJECTS / project)

    return make


MakeTree = Callable[[Mapping[str, str | bytes]], Path]


@pytest.fixture
def make_tree(tmp_path: Path) -> MakeTree:
    """Write ``{rel: content}`` under a fresh root; a rel ending in ``/`` is an empty directory."""

    def make(files: Mapping[str, str | bytes]) -> Path:
        root = tmp_path / "project"
        root.mkdir(exist_ok=True)
        for rel, content in files.items():
            path = root / rel
            if rel.endswith("/"):
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
        return root

    return make
