"""Real source trees to index: sdists from PyPI and a package from npm, kept under ``.bench/``.

Downloads go to ``.bench/dl`` (once), trees are extracted to
``.bench/src/<name>``; a ``.bench/src/<name>.ok`` marker beside the tree
(outside it, so it is never indexed) says the extraction finished.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from benchlib.common import BENCH_DIR, PYTHON

DOWNLOADS = BENCH_DIR / "dl"
SOURCES = BENCH_DIR / "src"


@dataclass(frozen=True)
class Corpus:
    name: str
    size: str  # small | medium | large
    language: str
    registry: str  # pypi | npm
    spec: str  # NAME==VER for pip, NAME@VER for npm

    @property
    def path(self) -> Path:
        return SOURCES / self.name


CORPORA = [
    Corpus("requests", "small", "python", "pypi", "requests==2.32.3"),
    Corpus("flask", "medium", "python", "pypi", "flask==3.0.3"),
    Corpus("lodash-es", "medium", "javascript", "npm", "lodash-es@4.17.21"),
    Corpus("rich", "medium", "python", "pypi", "rich==13.9.4"),
    Corpus("django", "large", "python", "pypi", "django==5.1.4"),
]
#: more large trees, only for the memory bench's "three large projects" (not cold-indexed beside ctags)
LARGE_EXTRA = [
    Corpus("sympy", "large", "python", "pypi", "sympy==1.13.3"),
    Corpus("twisted", "large", "python", "pypi", "twisted==24.11.0"),
]
QUICK = ("requests", "flask", "lodash-es")
MEDIUM = "flask"


def selected(quick: bool) -> list[Corpus]:
    return [c for c in CORPORA if not quick or c.name in QUICK]


def by_name(name: str) -> Corpus:
    return next(c for c in CORPORA + LARGE_EXTRA if c.name == name)


def largest(quick: bool) -> Corpus:
    return max(selected(quick), key=lambda c: count_files(ensure(c)))


def ensure(corpus: Corpus) -> Path:
    """The extracted tree, downloading and extracting it first if needed."""
    marker = SOURCES / f"{corpus.name}.ok"
    if marker.exists() and corpus.path.is_dir():
        return corpus.path
    archive = _download(corpus)
    SOURCES.mkdir(parents=True, exist_ok=True)
    staging = SOURCES / f".{corpus.name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(corpus.path, ignore_errors=True)
    with tarfile.open(archive) as tar:
        tar.extractall(staging, filter="data")
    tops = list(staging.iterdir())
    top = tops[0] if len(tops) == 1 and tops[0].is_dir() else staging
    top.rename(corpus.path)
    shutil.rmtree(staging, ignore_errors=True)
    marker.write_text(corpus.spec + "\n")
    return corpus.path


def _download(corpus: Corpus) -> Path:
    DOWNLOADS.mkdir(parents=True, exist_ok=True)
    name, _, version = corpus.spec.replace("@", "==").partition("==")
    found = _find_archive(name, version)
    if found:
        return found
    if corpus.registry == "pypi":
        subprocess.run([PYTHON, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                        "--no-binary", ":all:", "--no-deps", corpus.spec, "-d", str(DOWNLOADS)],
                       check=True, capture_output=True, timeout=600)
    else:
        subprocess.run(["npm", "pack", "--silent", corpus.spec], cwd=DOWNLOADS, check=True,
                       capture_output=True, timeout=600)
    found = _find_archive(name, version)
    if not found:
        raise RuntimeError(f"downloaded {corpus.spec} but found no archive in {DOWNLOADS}")
    return found


def _find_archive(name: str, version: str) -> Path | None:
    wanted = {f"{name}-{version}".lower(), f"{name.replace('-', '_')}-{version}".lower()}
    for path in DOWNLOADS.iterdir():
        stem = path.name.lower().removesuffix(".tar.gz").removesuffix(".tgz")
        if stem in wanted and path.name.endswith((".tar.gz", ".tgz")):
            return path
    return None


def count_files(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file())


__all__ = ["CORPORA", "MEDIUM", "Corpus", "by_name", "count_files", "ensure", "largest", "selected"]
