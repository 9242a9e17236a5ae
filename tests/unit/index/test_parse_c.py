"""C extraction on the CSV-parser fixture."""

from __future__ import annotations

from collections.abc import Callable

from treerag.index.model import Import, ParsedFile
from treerag.index.parsing import parse_file

Parse = Callable[[str, str], ParsedFile]
APP = "c_app"


def test_header(parse_fixture: Parse, outline: Callable, symbol: Callable) -> None:
    parsed = parse_fixture(APP, "include/csv.h")
    assert parsed.language == "c"
    assert outline(parsed) == [
        ("CSV_MAX_FIELDS", "constant", "CSV_MAX_FIELDS", 7),  # the include guard is no symbol
        ("csv_record", "type", "csv_record", 10),
        ("csv_record", "struct", "csv_record", 10),
        ("csv_parse_line", "function", "csv_parse_line", 16),
    ]
    assert symbol(parsed, "csv_parse_line").doc == "Split line in place; returns the number of fields or -1."
    assert [s.signature for s in parsed.symbols if s.kind == "type"] == ["typedef struct csv_record {…} csv_record"]
    assert parsed.imports == [Import("stddef.h", 5, system=True)]
    assert parsed.doc == "CSV record reader: splits lines into fields, honouring quotes."


def test_source_file(parse_fixture: Parse, outline: Callable, symbol: Callable) -> None:
    parsed = parse_fixture(APP, "src/buffer.c")
    assert outline(parsed) == [
        ("INITIAL_CAPACITY", "constant", "INITIAL_CAPACITY", 5),
        ("grow", "function", "grow", 7),
        ("buffer_read_line", "function", "buffer_read_line", 19),
        ("buffer_free", "function", "buffer_free", 33),
    ]
    read_line = symbol(parsed, "buffer_read_line")
    assert (read_line.signature, read_line.doc, read_line.end_line) == (
        "int buffer_read_line(struct line_buffer *buf, FILE *in)",
        "Read one line without its newline; returns 0 at end of input.",
        31,
    )
    assert parsed.imports == [Import("stdlib.h", 2, system=True), Import("buffer.h", 3)]
    assert {"fgetc", "line_buffer"} <= parsed.references


def test_main(parse_fixture: Parse) -> None:
    parsed = parse_fixture(APP, "src/main.c")
    assert parsed.is_entry is True
    assert [i.target for i in parsed.imports] == ["stdio.h", "../include/csv.h", "buffer.h"]
    assert {"csv_parse_line", "buffer_read_line", "csv_record"} <= parsed.references
    assert parse_fixture(APP, "src/csv.c").is_entry is False


def test_prototype_dropped_when_defined_in_the_same_file() -> None:
    source = b"int twice(int x);\nstatic int helper(void);\nint twice(int x) { return 2 * x; }\n"
    assert [(s.qualname, s.line) for s in parse_file("m.c", source).symbols] == [("helper", 2), ("twice", 3)]
