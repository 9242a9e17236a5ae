"""LoadedProject.neighbours(i, limit) is exactly the first ``limit`` of the full list, for every file."""

from __future__ import annotations

import shutil
from pathlib import Path

from treerag.index.builder import build_index
from treerag.index.loaded import load_project

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "projects" / "python_app"


def test_limited_neighbours_are_a_prefix_of_the_full_list(tmp_path: Path) -> None:
    root = tmp_path / "app"
    shutil.copytree(FIXTURE, root)
    build_index(root, tmp_path / "index.sqlite")
    project = load_project(root, tmp_path / "index.sqlite")
    try:
        assert any(len(project.neighbours(i)) > 2 for i in range(project.files))
        for i in range(project.files):
            full = project.neighbours(i)
            for limit in (0, 1, 2, 3, 30):
                assert project.neighbours(i, limit) == full[:limit], (project.paths[i], limit)
    finally:
        project.close()
