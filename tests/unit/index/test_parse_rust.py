"""Rust extraction on the calculator fixture: impl scopes, traits, `use` trees, `mod` declarations."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from treerag.index.model import Import, ParsedFile
from treerag.index.parsing import parse_file

Parse = Callable[[str, str], ParsedFile]
APP = "rust_app"


def test_parser_module(parse_fixture: Parse, outline: Callable, symbol: Callable) -> None:
    parsed = parse_fixture(APP, "src/parser/mod.rs")
    assert parsed.language == "rust"
    assert outline(parsed) == [
        ("Parser", "struct", "Parser", 11),
        ("new", "method", "Parser.new", 17),
        ("parse_expression", "method", "Parser.parse_expression", 22),
        ("parse_term", "method", "Parser.parse_term", 31),
    ]
    assert symbol(parsed, "Parser.parse_expression").doc == "expression := term (('+' | '-') term)*"
    assert parsed.imports == [
        Import("mod:ast", 3),
        Import("ast::Expr", 5, ["Expr"]),
        Import("crate::lexer::Token", 7, ["Token"]),
        Import("crate::CalcError", 8, ["CalcError"]),
    ]
    assert parsed.doc == "Recursive-descent parser producing an expression tree."


def test_enums_traits_and_attributes_after_the_doc(parse_fixture: Parse, outline: Callable, symbol: Callable) -> None:
    parsed = parse_fixture(APP, "src/parser/ast.rs")
    assert outline(parsed) == [
        ("Expr", "enum", "Expr", 5),
        ("binary", "method", "Expr.binary", 12),
        ("Precedence", "trait", "Precedence", 18),
        ("precedence", "method", "Precedence.precedence", 19),
    ]
    assert symbol(parsed, "Expr").doc == "A node of the expression tree."  # past #[derive(...)]
    lexer = parse_fixture(APP, "src/lexer.rs")
    assert symbol(lexer, "MAX_NUMBER_LEN").kind == "constant"
    assert symbol(lexer, "MAX_NUMBER_LEN").signature == "pub const MAX_NUMBER_LEN: usize = 32"


def test_crate_root_mod_declarations(parse_fixture: Parse) -> None:
    parsed = parse_fixture(APP, "src/lib.rs")
    assert [i.target for i in parsed.imports] == ["mod:lexer", "mod:parser", "mod:eval", "thiserror::Error"]
    assert [s.qualname for s in parsed.symbols] == ["CalcError", "evaluate"]
    assert parsed.is_entry is False


def test_inline_test_module(parse_fixture: Parse, outline: Callable) -> None:
    parsed = parse_fixture(APP, "src/eval.rs")
    assert outline(parsed) == [
        ("eval", "function", "eval", 6),
        ("apply", "function", "apply", 13),
        ("tests", "module", "tests", 23),
        ("adds", "function", "tests.adds", 27),
    ]


def test_main_is_entry(parse_fixture: Parse) -> None:
    parsed = parse_fixture(APP, "src/main.rs")
    assert parsed.is_entry is True
    assert Import("tiny_calc", 6, ["evaluate", "CalcError"]) in parsed.imports


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(b"use a::b::C;", [Import("a::b::C", 1, ["C"])], id="path"),
        pytest.param(
            b"use crate::store::{Db, row::Row, self};",
            [Import("crate::store", 1, ["Db", "self"]), Import("crate::store::row::Row", 1, ["Row"])],
            id="group",
        ),
        pytest.param(b"use std::io::*;", [Import("std::io", 1, ["*"])], id="wildcard"),
        pytest.param(b"use super::x as y;", [Import("super::x", 1, ["x"])], id="alias"),
        pytest.param(b"extern crate serde;", [Import("serde", 1)], id="extern-crate"),
        pytest.param(b"pub mod store;", [Import("mod:store", 1)], id="mod-declaration"),
        pytest.param(b"mod inline { fn f() {} }", [], id="inline-mod-is-no-import"),
    ],
)
def test_use_forms(source: bytes, expected: list[Import]) -> None:
    assert parse_file("src/x.rs", source).imports == expected
