"""The parsing entry points: language detection, bad input, exports, import hygiene."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import treerag.index.parsing as parsing
from treerag.index.model import ParsedFile
from treerag.index.parsing import language_for, parse_file


@pytest.mark.parametrize(
    ("path", "language"),
    [
        pytest.param("a/b.py", "python", id="py"),
        pytest.param("x.js", "javascript", id="js"),
        pytest.param("x.mjs", "javascript", id="mjs"),
        pytest.param("x.cjs", "javascript", id="cjs"),
        pytest.param("x.jsx", "javascript", id="jsx"),
        pytest.param("x.ts", "typescript", id="ts"),
        pytest.param("x.tsx", "tsx", id="tsx"),
        pytest.param("x.go", "go", id="go"),
        pytest.param("x.rs", "rust", id="rs"),
        pytest.param("X.java", "java", id="java"),
        pytest.param("x.c", "c", id="c"),
        pytest.param("x.h", "c", id="h"),
        pytest.param("x.cc", "cpp", id="cc"),
        pytest.param("x.cpp", "cpp", id="cpp"),
        pytest.param("x.cxx", "cpp", id="cxx"),
        pytest.param("x.hpp", "cpp", id="hpp"),
        pytest.param("x.hh", "cpp", id="hh"),
        pytest.param("x.hxx", "cpp", id="hxx"),
        pytest.param("x.rb", "ruby", id="rb"),
        pytest.param("README.md", "markdown", id="md"),
        pytest.param("notes.markdown", "markdown", id="markdown"),
        pytest.param("SHOUT.PY", "python", id="upper-case-extension"),
        pytest.param("Makefile", "", id="no-extension"),
        pytest.param("data.csv", "", id="unknown-extension"),
        pytest.param(".py", "", id="dotfile-is-not-an-extension"),
    ],
)
def test_language_for(path: str, language: str) -> None:
    assert language_for(path) == language


@pytest.mark.parametrize(
    ("path", "data"),
    [
        pytest.param("m.py", b"def f():\n    return '\xff\xfe'\n", id="latin-1-bytes"),
        pytest.param("m.go", b"package main\x00\x01\x02", id="nul-bytes"),
        pytest.param("image.png", b"\x89PNG\r\n\x1a\n", id="unknown-extension"),
        pytest.param("README.md", b"# T\xe9l\xe9\n", id="undecodable-markdown"),
    ],
)
def test_undecodable_or_unknown_gives_a_plain_node(path: str, data: bytes) -> None:
    assert parse_file(path, data) == ParsedFile(language="")


@pytest.mark.parametrize(
    "path", [pytest.param(p, id=p) for p in ("e.py", "e.js", "e.ts", "e.tsx", "e.go", "e.rs", "e.java", "e.c",
                                            "e.cpp", "e.rb", "e.md")]
)
def test_empty_file(path: str) -> None:
    parsed = parse_file(path, b"")
    assert parsed == ParsedFile(language=language_for(path))


@pytest.mark.parametrize(
    ("path", "source", "qualnames"),
    [
        pytest.param("bad.py", b"def ok():\n    pass\n\ndef broken(:\n    ]]\n\nclass After:\n    pass\n",
                     ["ok", "After"], id="python"),
        pytest.param("bad.js", b"function ok() {}\nconst = ;\nclass After {}\n", ["ok", "After"], id="javascript"),
        pytest.param("bad.go", b"package x\nfunc ok() {}\nfunc (\ntype After struct{}\n", ["ok"], id="go"),
        pytest.param("bad.rs", b"fn ok() {}\nfn broken( {\nstruct After;\n", ["ok"], id="rust"),
        pytest.param("bad.java", b"class Ok { void m() { int x = ; } }\n", ["Ok", "Ok.m"], id="java"),
        pytest.param("bad.c", b"int ok(void) { return 0; }\nint broken( {\n", ["ok"], id="c"),
        pytest.param("bad.rb", b"def ok\nend\nclass After\n  def x(\nend\n", ["ok"], id="ruby"),
    ],
)
def test_syntax_errors_give_partial_results(path: str, source: bytes, qualnames: list[str]) -> None:
    parsed = parse_file(path, source)
    assert parsed.language == language_for(path)
    assert [q for q in qualnames if q in {s.qualname for s in parsed.symbols}] == qualnames


def test_byte_order_mark_is_ignored() -> None:
    parsed = parse_file("m.py", b'\xef\xbb\xbf"""Doc."""\nX_MAX = 1\n')
    assert (parsed.doc, [(s.name, s.line) for s in parsed.symbols]) == ("Doc.", [("X_MAX", 2)])


def test_missing_grammar_gives_a_plain_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(parsing._SPECS, "python", ("no_such_module", "SPEC"))
    monkeypatch.setattr(parsing, "_unavailable", set())
    assert parse_file("m.py", b"def f(): pass\n") == ParsedFile(language="")


def test_extraction_failure_keeps_the_language(monkeypatch: pytest.MonkeyPatch) -> None:
    import treerag.index.parsing.engine as engine

    def explode(*args: object) -> ParsedFile:
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "extract", explode)
    assert parse_file("m.py", b"def f(): pass\n") == ParsedFile(language="python")


def test_exported_members() -> None:
    assert sorted(parsing.__all__) == ["LANGUAGES", "language_for", "load_grammars", "parse_file"]
    for name in parsing.__all__:
        assert hasattr(parsing, name)


def test_importing_the_package_loads_no_grammar() -> None:
    code = (
        "import sys, treerag.index.parsing, treerag.index.resolve\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('tree_sitter'))\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_grammars_load_lazily_and_only_for_their_language() -> None:
    code = (
        "import sys\n"
        "from treerag.index.parsing import parse_file\n"
        "parse_file('a.go', b'package a\\n')\n"
        "print(','.join(sorted({m.split('.')[0] for m in sys.modules if m.startswith('tree_sitter_')})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "tree_sitter_go"


@settings(max_examples=200, deadline=None)
@given(
    extension=st.sampled_from([".py", ".js", ".ts", ".tsx", ".go", ".rs", ".java", ".c", ".cpp", ".rb", ".md"]),
    data=st.one_of(
        st.binary(max_size=200),
        st.text(alphabet=st.sampled_from("def class fn(){}[]:;=\"'#/*\n\t aZ_.<>@`"), max_size=200).map(str.encode),
    ),
)
def test_arbitrary_bytes_never_raise(extension: str, data: bytes) -> None:
    parsed = parse_file(f"f{extension}", data)
    assert parsed.language in ("", language_for(f"f{extension}"))
    assert all(s.line >= 1 and s.end_line >= s.line for s in parsed.symbols)


@pytest.mark.parametrize(
    ("source", "language"),
    [
        pytest.param(b"namespace geo {\nclass Point { int x; };\n}\n", "cpp", id="namespace-and-class"),
        pytest.param(b"template <typename T>\nT max(T a, T b);\n", "cpp", id="template"),
        pytest.param(b"#include <string>\nstd::string name();\n", "cpp", id="std-qualified"),
        pytest.param(b"struct point { int x; };\nint classify(struct point p);\n", "c", id="plain-c"),
    ],
)
def test_cpp_headers_with_a_dot_h_extension(source: bytes, language: str) -> None:
    assert parse_file("include/geo.h", source).language == language
