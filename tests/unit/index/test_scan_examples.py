"""The scanner remembers the first few paths of each skip reason (but not of ignored files) for the build log."""

from __future__ import annotations

from pathlib import Path

from treerag.index.scanner import EXAMPLES_KEPT, scan


def test_skipped_paths_are_kept_as_examples_a_few_per_reason(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("build/\n")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "out.py").write_text("x = 1\n")
    for i in range(EXAMPLES_KEPT + 2):
        (tmp_path / f"big{i}.py").write_text("x = 1\n" * 50)
    (tmp_path / ".env").write_text("KEY=1\n")
    (tmp_path / "ok.py").write_text("y = 2\n")
    result = scan(tmp_path, max_file_bytes=100)
    assert [f.rel for f in result.files] == [".gitignore", "ok.py"]
    assert result.skipped["too_large"] == EXAMPLES_KEPT + 2
    assert result.examples["too_large"] == [f"big{i}.py" for i in range(EXAMPLES_KEPT)]
    assert result.examples["secret"] == [".env"]
    assert result.skipped["ignored"] == 1 and "ignored" not in result.examples
