"""Java extraction on the library-lending fixture."""

from __future__ import annotations

from collections.abc import Callable

from treerag.index.model import Import, ParsedFile

Parse = Callable[[str, str], ParsedFile]
APP = "java_app"
PKG = "src/main/java/com/acme/library"


def test_loan_service(parse_fixture: Parse, outline: Callable, symbol: Callable) -> None:
    parsed = parse_fixture(APP, f"{PKG}/service/LoanService.java")
    assert parsed.language == "java"
    assert outline(parsed) == [
        ("LoanService", "class", "LoanService", 11),
        ("MAX_LOANS", "constant", "LoanService.MAX_LOANS", 12),
        ("LoanService", "method", "LoanService.LoanService", 17),
        ("lend", "method", "LoanService.lend", 23),
        ("Loan", "class", "LoanService.Loan", 29),
        ("StandardPolicy", "class", "StandardPolicy", 33),
        ("dueDate", "method", "StandardPolicy.dueDate", 34),
    ]
    lend = symbol(parsed, "LoanService.lend")
    assert (lend.signature, lend.doc) == (
        "public Loan lend(String isbn, Member member, LocalDate today)",
        "Take the book off the shelf and record the loan.",
    )
    assert parsed.imports == [
        Import("com.acme.library.model.Book.ISBN_LENGTH", 3, ["ISBN_LENGTH"]),
        Import("com.acme.library.model.Book", 5, ["Book"]),
        Import("com.acme.library.model.Member", 6, ["Member"]),
        Import("com.acme.library.repo.Catalog", 7, ["Catalog"]),
        Import("java.time.LocalDate", 8, ["LocalDate"]),
    ]
    assert {"Catalog", "LoanPolicy", "orElseThrow", "plusWeeks"} <= parsed.references
    assert parsed.is_entry is False


def test_interface_record_and_wildcard_import(parse_fixture: Parse, outline: Callable, symbol: Callable) -> None:
    policy = parse_fixture(APP, f"{PKG}/service/LoanPolicy.java")
    assert outline(policy) == [
        ("LoanPolicy", "interface", "LoanPolicy", 7),
        ("dueDate", "method", "LoanPolicy.dueDate", 8),
    ]
    book = parse_fixture(APP, f"{PKG}/model/Book.java")
    assert outline(book) == [("Book", "class", "Book", 4), ("ISBN_LENGTH", "constant", "Book.ISBN_LENGTH", 6)]
    assert symbol(book, "Book").doc == "A catalogued book, identified by its ISBN."
    app = parse_fixture(APP, f"{PKG}/App.java")
    assert Import("com.acme.library.service", 7, ["*"]) in app.imports


def test_public_static_void_main_is_entry(parse_fixture: Parse) -> None:
    app = parse_fixture(APP, f"{PKG}/App.java")
    assert app.is_entry is True
    assert app.doc == "Console entry point of the lending desk."
