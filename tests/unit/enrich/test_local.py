"""Local summaries: prose first, markup cleaned, clipped, a names-and-signatures fallback."""

from __future__ import annotations

import pytest

from treerag.enrich.local import MAX_CHARS, clean_prose, clip, file_summary, summarise, symbol_summary
from treerag.index.model import Import, ParsedFile, Symbol
from treerag.index.parsing import parse_file


def _sym(name: str, kind: str = "function", sig: str = "", doc: str = "", qual: str = "") -> Symbol:
    return Symbol(name, qual or name, kind, sig, doc, 1, 2)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param('"""Parse the `config` file. More here."""', "Parse the config file.", id="python-docstring"),
        pytest.param("/** Returns the <b>rate</b> for {@link Country}. @returns number */", "Returns the rate for Country.", id="jsdoc"),
        pytest.param("//! Storage layer for **blobs**.", "Storage layer for blobs.", id="rustdoc"),
        pytest.param("# Loads users\n# from the API", "Loads users from the API", id="hash-header"),
        pytest.param("Compute x.\n:param x: the thing", "Compute x.", id="sphinx-fields"),
        pytest.param("Use :func:`~a.b` to  see  [docs](http://x).", "Use a.b to see docs.", id="roles-links"),
        pytest.param("Überprüft die Eingabe — schnell. Zweiter Satz.", "Überprüft die Eingabe — schnell.", id="unicode"),
        pytest.param("", "", id="empty"),
    ],
)
def test_clean_prose(raw: str, expected: str) -> None:
    assert clean_prose(raw) == expected


def test_clip_at_word_boundary() -> None:
    text = "alpha " * 60
    out = clip(text)
    assert len(out) <= MAX_CHARS
    assert out.endswith("alpha…")
    assert clip("short") == "short"


def test_symbol_fallback_from_signature() -> None:
    assert symbol_summary(_sym("rate_for", sig="def rate_for(country) -> Decimal:")) == "function def rate_for(country) -> Decimal"
    assert symbol_summary(_sym("Parser", "class", "class Parser", doc="Parses expressions. Fast.")) == "Parses expressions."


def test_file_fallback_from_names_and_imports() -> None:
    pf = ParsedFile(
        "python",
        symbols=[
            _sym("Parser", "class", "class Parser:"),
            _sym("parse_expression", "method", qual="Parser.parse_expression"),
            _sym("parse_term", "method", qual="Parser.parse_term"),
            _sym("main", sig="def main():"),
        ],
        imports=[Import("lexer", 1)],
    )
    assert file_summary(pf) == "Defines class Parser (parse_expression, parse_term); function main; imports lexer"
    fs, syms = summarise(pf)
    assert len(syms) == 4 and all(syms)


def test_file_fallback_names_each_imported_module_once() -> None:
    pf = ParsedFile("python", symbols=[_sym("setup", sig="def setup(app):")],
                    imports=[Import("packaging.version", 1), Import("themes", 2), Import("themes", 3), Import("os", 4)])
    assert file_summary(pf) == "Defines function setup; imports packaging.version, themes, os"


@pytest.mark.parametrize(
    ("rel", "source", "needle"),
    [
        pytest.param("m.py", '"""Billing rules for invoices."""\n\ndef rate_for(country):\n    """Tax rate for a country."""\n', "Billing rules", id="python"),
        pytest.param("lib.rs", "//! Blob storage engine.\npub fn put() {}\n", "Blob storage", id="rust"),
        pytest.param("a.go", "// Package store keeps blobs.\npackage store\nfunc Put() {}\n", "keeps blobs", id="go"),
        pytest.param("README.md", "# Acme\n\nA tool that sorts socks.\n", "", id="markdown"),
    ],
)
def test_parsed_sources(rel: str, source: str, needle: str) -> None:
    pf = parse_file(rel, source.encode())
    fs, syms = summarise(pf, rel)
    assert fs and len(fs) <= MAX_CHARS
    assert needle in fs
    assert len(syms) == len(pf.symbols)
