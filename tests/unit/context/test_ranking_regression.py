"""Ranking regression set: prompts over the fixture projects -> the file that best answers them.

Cases live in ``tests/fixtures/ranking_cases.toml``. Each fixture project is indexed once per session,
in-process (``build_index`` + ``load_project``), and every case must find its expected file in the
top 5. An aggregate test prints top-1 accuracy, top-5 recall and MRR for ``rank_files`` next to a
plain baseline — BM25 over whole-file text in an in-memory FTS5 table — and guards both a floor and
the margin over the baseline.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from treerag.context.ranking import STOPWORDS, extract_terms, rank_files
from treerag.index.builder import build_index
from treerag.index.loaded import LoadedProject, load_project

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
PROJECTS = FIXTURES / "projects"
CASES_FILE = FIXTURES / "ranking_cases.toml"
KINDS = frozenset({"words", "identifier", "path", "mixed", "tests"})
DEPTH = 10  # ranks deeper than this count as a miss for MRR

# Floors for the aggregate over all cases (measured value minus a small margin; raise them when ranking improves).
# Cases marked xfail count as misses here.
TOP1_FLOOR = 0.75
TOP5_FLOOR = 0.98
MRR_FLOOR = 0.83
# rank_files must stay clearly ahead of whole-file BM25 on MRR.
MRR_MARGIN_OVER_BM25 = 0.05


@dataclass(frozen=True)
class Case:
    project: str
    prompt: str
    expected: str
    kind: str
    note: str
    xfail: str = ""  # why this case is expected to miss, when it is

    @property
    def slug(self) -> str:
        words = re.findall(r"[a-z0-9]+", self.prompt.lower())
        return f"{self.project}-" + "-".join(words[:5])


def load_cases() -> list[Case]:
    with CASES_FILE.open("rb") as fh:
        data = tomllib.load(fh)
    return [Case(c["project"], c["prompt"], c["expected"], c["kind"], c.get("note", ""), c.get("xfail", ""))
            for c in data["case"]]


CASES = load_cases()


# -- indexes and the baseline, built once per session --------------------------------------------------------


class Projects:
    """Lazily indexes fixture projects (copied into a session tmp dir) and keeps them loaded."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self._factory = factory
        self._loaded: dict[str, LoadedProject] = {}

    def __call__(self, name: str) -> LoadedProject:
        if name not in self._loaded:
            tmp = self._factory.mktemp(f"rank-{name}")
            root = tmp / name
            shutil.copytree(PROJECTS / name, root)
            db = tmp / "index.sqlite"
            build_index(root, db)
            self._loaded[name] = load_project(root, db)
        return self._loaded[name]

    def close(self) -> None:
        for project in self._loaded.values():
            project.close()


class Bm25Baseline:
    """BM25 over whole files: one FTS5 row per indexed file (path + full text), porter tokenizer."""

    def __init__(self, projects: Projects) -> None:
        self._projects = projects
        self._dbs: dict[str, sqlite3.Connection] = {}

    def _db(self, name: str) -> sqlite3.Connection:
        if name not in self._dbs:
            project = self._projects(name)
            db = sqlite3.connect(":memory:")
            db.execute("CREATE VIRTUAL TABLE docs USING fts5(path, content, tokenize = 'porter unicode61')")
            db.executemany(
                "INSERT INTO docs(path, content) VALUES(?, ?)",
                [(p, (project.root / p).read_text(errors="replace")) for p in project.paths],
            )
            self._dbs[name] = db
        return self._dbs[name]

    def rank(self, name: str, prompt: str, limit: int = DEPTH) -> list[str]:
        words = dict.fromkeys(w for w in re.findall(r"[a-z0-9]+", prompt.lower()) if len(w) > 1 and w not in STOPWORDS)
        if not words:
            return []
        query = " OR ".join(f'"{w}"' for w in words)
        rows = self._db(name).execute(
            "SELECT path FROM docs WHERE docs MATCH ? ORDER BY bm25(docs), path LIMIT ?", (query, limit)
        )
        return [r[0] for r in rows]

    def close(self) -> None:
        for db in self._dbs.values():
            db.close()


@pytest.fixture(scope="session")
def projects(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Projects]:
    loaded = Projects(tmp_path_factory)
    yield loaded
    loaded.close()


@pytest.fixture(scope="session")
def bm25(projects: Projects) -> Iterator[Bm25Baseline]:
    baseline = Bm25Baseline(projects)
    yield baseline
    baseline.close()


def ours(projects: Projects) -> Callable[[str, str], list[str]]:
    return lambda name, prompt: [r.path for r in rank_files(projects(name), prompt, limit=DEPTH)]


# -- the data set itself --------------------------------------------------------------------------------------


def test_case_set_is_broad_and_honest() -> None:
    assert len(CASES) >= 36
    assert len({c.project for c in CASES}) >= 6
    assert all(c.kind in KINDS for c in CASES), {c.kind for c in CASES} - KINDS
    assert len({(c.project, c.prompt) for c in CASES}) == len(CASES), "duplicate prompt"
    assert len({c.slug for c in CASES}) == len(CASES), "two cases share a test id"
    words = [c for c in CASES if c.kind == "words"]
    assert len(words) * 3 >= len(CASES), "at least a third must describe behaviour without naming code"
    for case in CASES:
        assert (PROJECTS / case.project / case.expected).is_file(), case
        terms = extract_terms(case.prompt)
        if case.kind == "words":
            # prose only: no path, no identifier except acronyms (CSV, TCP) and proper names (Belgium)
            assert not terms.paths, case
            assert all(i.isalpha() and (i.isupper() or i.istitle()) for i in terms.identifiers), (case, terms.identifiers)
        elif case.kind in ("identifier", "mixed"):
            assert any(not i.isupper() or "_" in i for i in terms.identifiers) or terms.paths, case
        elif case.kind == "path":
            assert terms.paths, case
        else:
            assert terms.about_tests, case


# -- every case: expected file in the top 5 -------------------------------------------------------------------


def _param(case: Case) -> object:
    marks = [pytest.mark.xfail(reason=case.xfail, strict=True)] if case.xfail else []
    return pytest.param(case, id=case.slug, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_expected_file_in_top_5(projects: Projects, case: Case) -> None:
    ranked = [r.path for r in rank_files(projects(case.project), case.prompt, limit=5)]
    assert case.expected in ranked, f"{case.prompt!r}: want {case.expected} ({case.note}); got {ranked}"


# -- aggregates, ours next to the BM25 baseline ---------------------------------------------------------------


@dataclass(frozen=True)
class Aggregate:
    top1: float
    top5: float
    mrr: float

    def row(self, label: str) -> str:
        return f"{label:<34} {self.top1:>7.3f} {self.top5:>7.3f} {self.mrr:>7.3f}"


def aggregate(ranker: Callable[[str, str], list[str]], cases: list[Case]) -> Aggregate:
    top1 = top5 = mrr = 0.0
    for case in cases:
        ranked = ranker(case.project, case.prompt)
        if case.expected in ranked:
            position = ranked.index(case.expected) + 1
            top1 += position == 1
            top5 += position <= 5
            mrr += 1.0 / position
    n = len(cases) or 1
    return Aggregate(top1 / n, top5 / n, mrr / n)


def test_aggregate_quality(projects: Projects, bm25: Bm25Baseline, capsys: pytest.CaptureFixture[str]) -> None:
    ranker = ours(projects)
    lines = [f"\nranking regression set: {len(CASES)} cases over {len({c.project for c in CASES})} projects",
             f"{'':<34} {'top-1':>7} {'top-5':>7} {'MRR':>7}"]
    groups: list[tuple[str, list[Case]]] = [("all", CASES)]
    groups += [(f"  kind={k}", [c for c in CASES if c.kind == k]) for k in sorted(KINDS)]
    results: dict[str, tuple[Aggregate, Aggregate]] = {}
    for label, subset in groups:
        if not subset:
            continue
        mine, base = aggregate(ranker, subset), aggregate(bm25.rank, subset)
        results[label] = (mine, base)
        lines.append(mine.row(f"{label} ({len(subset)}) treerag"))
        lines.append(base.row(f"{label} ({len(subset)}) bm25"))
    with capsys.disabled():
        print("\n".join(lines))
    mine, base = results["all"]
    assert mine.top1 >= TOP1_FLOOR, mine
    assert mine.top5 >= TOP5_FLOOR, mine
    assert mine.mrr >= MRR_FLOOR, mine
    assert mine.mrr >= base.mrr + MRR_MARGIN_OVER_BM25, (mine, base)
