"""Ruby extraction on the todo-list fixture."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from treerag.index.model import Import, ParsedFile

Parse = Callable[[str, str], ParsedFile]
APP = "ruby_app"


def test_list_class(parse_fixture: Parse, outline: Callable, symbol: Callable) -> None:
    parsed = parse_fixture(APP, "lib/todo/list.rb")
    assert parsed.language == "ruby"
    assert outline(parsed) == [
        ("Todo", "module", "Todo", 4),
        ("List", "class", "Todo.List", 5),
        ("CHECKBOX", "constant", "Todo.List.CHECKBOX", 6),
        ("initialize", "method", "Todo.List.initialize", 8),
        ("add", "method", "Todo.List.add", 12),
        ("complete", "method", "Todo.List.complete", 17),
        ("render", "method", "Todo.List.render", 21),
        ("from_rows", "method", "Todo.List.from_rows", 25),
        ("to_rows", "method", "Todo.List.to_rows", 29),
    ]
    complete = symbol(parsed, "Todo.List.complete")
    assert (complete.signature, complete.doc, complete.end_line) == (
        "def complete(number)",
        "Complete the task with the given 1-based number.",
        19,
    )
    assert {"Item", "fetch", "each_with_index"} <= parsed.references
    assert parsed.doc == "Ordered task list with numbering for the command line."


def test_require_relative_is_marked_relative(parse_fixture: Parse) -> None:
    parsed = parse_fixture(APP, "lib/todo.rb")
    assert parsed.imports == [Import("./todo/item", 4), Import("./todo/list", 5), Import("./todo/storage", 6)]
    assert parsed.doc == "Todo: a plain-text task list kept in a JSON file."  # past the frozen_string_literal pragma
    storage = parse_fixture(APP, "lib/todo/storage.rb")
    assert storage.imports == [Import("json", 3), Import("fileutils", 4)]
    assert parse_fixture(APP, "bin/todo.rb").imports == [Import("../lib/todo", 5)]


@pytest.mark.parametrize(
    ("rel_path", "is_entry"),
    [
        pytest.param("bin/todo.rb", True, id="if-file-is-program"),
        pytest.param("lib/todo/list.rb", False, id="library"),
    ],
)
def test_entry_points(parse_fixture: Parse, rel_path: str, is_entry: bool) -> None:
    assert parse_fixture(APP, rel_path).is_entry is is_entry
