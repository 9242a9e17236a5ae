"""rank_files with vector similarity: a strong cosine lifts a file; no similarity changes nothing."""

from __future__ import annotations

from tests.unit.context.test_ranking_regression import Projects, projects  # noqa: F401 (fixture)
from treerag.context.ranking import rank_files

PROMPT = "why does the invoice come out wrong when a discount is larger than the subtotal?"


def test_similarity_lifts_a_file_and_none_is_neutral(projects: Projects) -> None:  # type: ignore[no-untyped-def]
    project = projects("python_app")
    plain = [r.path for r in rank_files(project, PROMPT, limit=10)]
    assert [r.path for r in rank_files(project, PROMPT, limit=10, similarity={})] == plain
    target = next(p for p in project.paths if p not in plain[:3] and p.endswith(".py"))  # room to rise
    boosted = rank_files(project, PROMPT, limit=10, similarity={project.paths.index(target): 1.0})
    assert [r.path for r in boosted].index(target) < (plain.index(target) if target in plain else 99)
