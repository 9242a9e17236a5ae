"""Python extraction on the invoicing fixture: symbols, imports, entry points, docs, references."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from treerag.index.model import Import, ParsedFile
from treerag.index.parsing import parse_file

Parse = Callable[[str, str], ParsedFile]
APP = "python_app"


def test_models_symbols(parse_fixture: Parse, outline: Callable[[ParsedFile], list]) -> None:
    parsed = parse_fixture(APP, "src/invoicing/models.py")
    assert parsed.language == "python"
    assert outline(parsed) == [
        ("CURRENCY", "constant", "CURRENCY", 8),
        ("LineItem", "class", "LineItem", 12),
        ("subtotal", "method", "LineItem.subtotal", 19),
        ("Invoice", "class", "Invoice", 26),
        ("add", "method", "Invoice.add", 31),
        ("net_total", "method", "Invoice.net_total", 34),
    ]


def test_signatures_docs_and_spans(parse_fixture: Parse, symbol: Callable) -> None:
    parsed = parse_fixture(APP, "src/invoicing/models.py")
    subtotal = symbol(parsed, "LineItem.subtotal")
    assert (subtotal.signature, subtotal.doc, subtotal.end_line) == (
        "def subtotal(self) -> Decimal",
        "Quantity times unit price, before tax.",
        21,
    )
    # No docstring: the comment block above the decorator is the doc.
    invoice = symbol(parsed, "Invoice")
    assert invoice.signature == "class Invoice"
    assert invoice.doc == "An invoice groups the line items billed to one customer."
    assert parsed.doc == "Plain records for invoices and their line items."


def test_tax_constants_and_functions(parse_fixture: Parse, outline: Callable, symbol: Callable) -> None:
    parsed = parse_fixture(APP, "src/invoicing/tax.py")
    assert outline(parsed) == [
        ("TAX_RATES", "constant", "TAX_RATES", 7),
        ("DEFAULT_COUNTRY", "constant", "DEFAULT_COUNTRY", 12),
        ("UnknownCountry", "class", "UnknownCountry", 15),
        ("rate_for", "function", "rate_for", 19),
        ("tax_due", "function", "tax_due", 27),
    ]
    assert symbol(parsed, "TAX_RATES").end_line == 11
    assert symbol(parsed, "tax_due").signature == (
        "def tax_due(invoice: Invoice, country: str = DEFAULT_COUNTRY) -> Decimal"
    )


def test_relative_and_absolute_imports(parse_fixture: Parse) -> None:
    parsed = parse_fixture(APP, "src/invoicing/export/csv_writer.py")
    assert parsed.imports == [
        Import("csv", 3),
        Import("io", 4),
        Import("..", 6, ["tax"]),
        Import("..models", 7, ["Invoice"]),
    ]
    cli = parse_fixture(APP, "src/invoicing/cli.py")
    assert [(i.target, i.names) for i in cli.imports] == [
        ("argparse", []),
        ("json", []),
        ("sys", []),
        ("decimal", ["Decimal"]),
        ("invoicing.export.csv_writer", ["write_csv"]),
        ("invoicing.models", ["Invoice", "LineItem"]),
    ]


@pytest.mark.parametrize(
    ("rel_path", "is_entry"),
    [
        pytest.param("src/invoicing/cli.py", True, id="if-name-main"),
        pytest.param("src/invoicing/__main__.py", True, id="dunder-main-file"),
        pytest.param("src/invoicing/models.py", False, id="library-module"),
    ],
)
def test_entry_points(parse_fixture: Parse, rel_path: str, is_entry: bool) -> None:
    assert parse_fixture(APP, rel_path).is_entry is is_entry


def test_references_exclude_own_names_builtins_and_short_names(parse_fixture: Parse) -> None:
    parsed = parse_fixture(APP, "src/invoicing/export/csv_writer.py")
    assert {"Invoice", "tax_due", "net_total", "StringIO", "writerow", "getvalue"} <= parsed.references
    assert not {"invoice_row", "write_csv", "HEADER", "str", "tuple", "self"} & parsed.references
    assert all(len(name) >= 3 for name in parsed.references)


def test_shebang_and_coding_lines_are_not_the_module_doc(parse_fixture: Parse) -> None:
    assert parse_fixture(APP, "src/invoicing/cli.py").doc == (
        "Command line: read line items from a JSON file and print the invoice CSV."
    )


def test_nested_functions_are_not_symbols_and_imports_inside_them_are() -> None:
    source = b'''
import os

class Outer:
    class Inner:
        def deep(self):
            def local():
                pass
            import json
            return json

def helper():
    class Local:
        pass
'''
    parsed = parse_file("pkg/mod.py", source)
    assert [s.qualname for s in parsed.symbols] == ["Outer", "Outer.Inner", "Outer.Inner.deep", "helper"]
    assert [i.target for i in parsed.imports] == ["os", "json"]


@pytest.mark.parametrize(
    ("source", "target", "names"),
    [
        pytest.param(b"import os.path as p\n", "os.path", [], id="aliased-dotted"),
        pytest.param(b"from . import x\n", ".", ["x"], id="bare-relative"),
        pytest.param(b"from ...a.b import (c as d, e)\n", "...a.b", ["c", "e"], id="deep-relative-aliased"),
        pytest.param(b"from a import *\n", "a", ["*"], id="wildcard"),
    ],
)
def test_import_forms(source: bytes, target: str, names: list[str]) -> None:
    assert parse_file("m.py", source).imports == [Import(target, 1, names)]


def test_future_imports_are_not_dependencies() -> None:
    assert parse_file("m.py", b"from __future__ import annotations\n").imports == []
