"""IgnoreRules: git's layering of ignore files, treerag's defaults, lazy loading."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from pathspec import GitIgnoreSpec

from treerag.index import ignore
from treerag.index.ignore import IgnoreRules

MakeTree = Callable[[Mapping[str, str | bytes]], Path]  # the make_tree fixture (conftest.py)





NESTED = {
    ".gitignore": "*.log\nout/\n/only_root.txt\n",
    "sub/.gitignore": "!keep.log\n/gen.py\n",
    "sub/deep/x.py": "",
}


@pytest.mark.parametrize(
    ("rel", "is_dir", "expected"),
    [
        pytest.param("app.log", False, True, id="root-pattern-at-root"),
        pytest.param("a/b/app.log", False, True, id="root-pattern-any-depth"),
        pytest.param("sub/keep.log", False, False, id="nested-negation"),
        pytest.param("sub/deep/keep.log", False, False, id="nested-negation-below"),
        pytest.param("other/keep.log", False, True, id="negation-only-under-its-dir"),
        pytest.param("sub/other.log", False, True, id="root-pattern-inside-nested-dir"),
        pytest.param("out", True, True, id="dir-pattern-matches-dir"),
        pytest.param("a/out", True, True, id="dir-pattern-any-depth"),
        pytest.param("out", False, False, id="dir-pattern-skips-file"),
        pytest.param("only_root.txt", False, True, id="anchored-at-root"),
        pytest.param("sub/only_root.txt", False, False, id="anchored-not-below"),
        pytest.param("sub/gen.py", False, True, id="nested-anchored-at-its-dir"),
        pytest.param("sub/deep/gen.py", False, False, id="nested-anchored-not-below"),
        pytest.param("gen.py", False, False, id="nested-pattern-not-above"),
        pytest.param("sub/deep/x.py", False, False, id="plain-file"),
        pytest.param("", True, False, id="root-never-ignored"),
    ],
)
def test_nested_gitignore(make_tree: MakeTree, rel: str, is_dir: bool, expected: bool) -> None:
    rules = IgnoreRules(make_tree(NESTED))

    assert rules.ignored(rel, is_dir) is expected


def test_file_under_ignored_dir_cannot_be_reincluded(make_tree: MakeTree) -> None:
    root = make_tree({".gitignore": "logs/\n!logs/keep.txt\n", "logs/keep.txt": ""})
    rules = IgnoreRules(root)

    assert rules.ignored("logs/keep.txt", is_dir=False)  # git: "not possible to re-include"


@pytest.mark.parametrize(
    ("files", "rel", "is_dir", "expected"),
    [
        pytest.param(
            {".git/info/exclude": "# local\nscratch.md\n"}, "scratch.md", False, True,
            id="git-info-exclude",
        ),
        pytest.param(
            {".git/info/exclude": "scratch.md\n", ".gitignore": "!scratch.md\n"},
            "scratch.md", False, False,
            id="gitignore-outranks-exclude",
        ),
        pytest.param(
            {".git": "gitdir: gitdir/wt\n", "gitdir/wt/info/exclude": "scratch.md\n"},
            "scratch.md", False, True,
            id="exclude-through-gitdir-file",
        ),
        pytest.param(
            {".treeragignore": "fixtures/\n"}, "tests/fixtures", True, True,
            id="treeragignore-root",
        ),
        pytest.param(
            {"pkg/.treeragignore": "*.csv\n"}, "pkg/data/a.csv", False, True,
            id="treeragignore-nested",
        ),
        pytest.param(
            {"pkg/.treeragignore": "*.csv\n"}, "a.csv", False, False,
            id="treeragignore-nested-not-above",
        ),
        pytest.param(
            {".gitignore": "*.log\n", ".treeragignore": "!important.log\n"},
            "important.log", False, False,
            id="treeragignore-reincludes-gitignored",
        ),
        pytest.param(
            {".treeragignore": "!build/\n"}, "build", True, False,
            id="treeragignore-reincludes-default",
        ),
    ],
)  # fmt: skip
def test_ignore_file_layers(
    make_tree: MakeTree, files: dict[str, str | bytes], rel: str, is_dir: bool, expected: bool
) -> None:
    rules = IgnoreRules(make_tree(files))

    assert rules.ignored(rel, is_dir) is expected


@pytest.mark.parametrize(
    ("rel", "is_dir", "expected"),
    [
        pytest.param(".git", True, True, id="git-dir"),
        pytest.param(".git", False, True, id="git-pointer-file"),
        pytest.param(".hg", True, True, id="hg"),
        pytest.param("web/node_modules", True, True, id="node-modules"),
        pytest.param("web/node_modules/react/index.js", False, True, id="inside-node-modules"),
        pytest.param(".venv", True, True, id="dot-venv"),
        pytest.param("env", True, True, id="env-with-pyvenv-cfg"),
        pytest.param("config/env", True, False, id="env-without-pyvenv-cfg"),
        pytest.param("py311", True, True, id="any-dir-with-pyvenv-cfg"),
        pytest.param("pkg/__pycache__", True, True, id="pycache"),
        pytest.param("build", True, True, id="build-output"),
        pytest.param("src/build", True, False, id="python-package-named-build"),
        pytest.param("rust/target", True, True, id="rust-target"),
        pytest.param("pkg.egg-info", True, True, id="egg-info"),
        pytest.param("build.py", False, False, id="file-named-like-output-dir"),
        pytest.param("static/app.min.js", False, True, id="min-js"),
        pytest.param("static/app.min.css", False, True, id="min-css"),
        pytest.param("static/app.js.map", False, True, id="source-map"),
        pytest.param("package-lock.json", False, True, id="package-lock"),
        pytest.param("yarn.lock", False, True, id="yarn-lock"),
        pytest.param("Cargo.lock", False, True, id="cargo-lock"),
        pytest.param("pnpm-lock.yaml", False, True, id="pnpm-lock"),
        pytest.param("api/user_pb2.py", False, True, id="protobuf-python"),
        pytest.param("api/user.pb.go", False, True, id="protobuf-go"),
        pytest.param("src/schema.generated.ts", False, True, id="generated"),
        pytest.param("static/app.js", False, False, id="plain-js"),
        pytest.param("package.json", False, False, id="package-json"),
    ],
)
def test_defaults(make_tree: MakeTree, rel: str, is_dir: bool, expected: bool) -> None:
    root = make_tree({
        "env/pyvenv.cfg": "home = /usr\n",
        "py311/pyvenv.cfg": "home = /usr\n",
        "config/env/dev.json": "{}",
        "src/build/__init__.py": "",
    })  # fmt: skip
    rules = IgnoreRules(root)

    assert rules.ignored(rel, is_dir) is expected


def test_reload_dir_picks_up_a_changed_gitignore(make_tree: MakeTree) -> None:
    root = make_tree({"pkg/a.tmp": "", "pkg/sub/b.tmp": ""})
    rules = IgnoreRules(root)
    assert not rules.ignored("pkg/sub", is_dir=True)
    assert not rules.ignored("pkg/a.tmp", is_dir=False)

    (root / "pkg/.gitignore").write_text("*.tmp\nsub/\n")
    assert not rules.ignored("pkg/a.tmp", is_dir=False)  # cached until told

    rules.reload_dir("pkg")
    assert rules.ignored("pkg/a.tmp", is_dir=False)
    assert rules.ignored("pkg/sub", is_dir=True)
    assert rules.ignored("pkg/sub/b.tmp", is_dir=False)

    (root / "pkg/.gitignore").unlink()
    rules.reload_dir("pkg")
    assert not rules.ignored("pkg/sub/b.tmp", is_dir=False)


def test_reload_root_rereads_exclude(make_tree: MakeTree) -> None:
    root = make_tree({".git/info/exclude": ""})
    rules = IgnoreRules(root)
    assert not rules.ignored("notes.md", is_dir=False)

    (root / ".git/info/exclude").write_text("notes.md\n")
    rules.reload_dir(rules.rule_file_dir(".git/info/exclude") or "")

    assert rules.ignored("notes.md", is_dir=False)


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        pytest.param(".gitignore", "", id="root-gitignore"),
        pytest.param("a/b/.gitignore", "a/b", id="nested-gitignore"),
        pytest.param("a/.treeragignore", "a", id="treeragignore"),
        pytest.param(".git/info/exclude", "", id="exclude"),
        pytest.param("a/gitignore.py", None, id="not-a-rule-file"),
    ],
)
def test_rule_file_dir(tmp_path: Path, rel: str, expected: str | None) -> None:
    assert IgnoreRules(tmp_path).rule_file_dir(rel) == expected


def test_ignore_files_are_read_lazily_and_once(
    make_tree: MakeTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_tree({
        ".gitignore": "*.tmp\n",
        "a/.gitignore": "*.bak\n",
        "b/c/x.py": "",
        "node_modules/pkg/.gitignore": "*\n",
    })  # fmt: skip
    reads: list[str] = []
    real_read = ignore._read_patterns

    def counting_read(path: str) -> list[str]:
        reads.append(Path(path).relative_to(root).as_posix())
        return real_read(path)

    monkeypatch.setattr(ignore, "_read_patterns", counting_read)
    rules = IgnoreRules(root)
    assert reads == []

    for _ in range(3):
        for rel in ("a/x.bak", "a/y.py", "b/c/x.py", "node_modules/pkg/z.js"):
            rules.ignored(rel, is_dir=False)

    # each directory met is read once; nothing under the ignored node_modules is read
    assert sorted(reads) == sorted([
        ".git/info/exclude", ".gitignore", ".treeragignore",
        "a/.gitignore", "a/.treeragignore",
        "b/.gitignore", "b/.treeragignore", "b/c/.gitignore", "b/c/.treeragignore",
    ])  # fmt: skip


def test_undecodable_pattern_matches_undecodable_name(make_tree: MakeTree) -> None:
    name = b"caf\xe9.txt".decode("utf-8", "surrogateescape")  # how os.scandir spells it
    root = make_tree({".gitignore": b"caf\xe9.txt\n"})

    assert IgnoreRules(root).ignored(name, is_dir=False)


PATTERNS = [
    "*.log", "!keep.log", "build/", "/root_only", "docs/*.html", "**/tmp", "a/**/b",
    "*.py[cod]", "\\#literal", "name with space", "!important/", "deep/er/path.txt",
    "[Mm]akefile.bak", "foo?bar",
]  # fmt: skip
PATHS = [
    "x.log", "a/keep.log", "build/", "a/build/", "build", "root_only", "a/root_only",
    "docs/a.html", "x/docs/a.html", "q/tmp", "q/tmp/", "a/x/y/b", "a/b", "m.pyc",
    "#literal", "name with space", "important/", "deep/er/path.txt", "makefile.bak",
    "fooXbar", "foo/bar", "plain.txt", "src/pkg/module.py", "",
]  # fmt: skip


@pytest.mark.parametrize("path", [pytest.param(p, id=p or "empty") for p in PATHS])
def test_prefilter_agrees_with_pathspec(path: str) -> None:
    reference = GitIgnoreSpec.from_lines(PATTERNS)
    spec = ignore._compile(PATTERNS)
    assert spec is not None

    assert spec.decide(path) == reference.check_file(path).include
