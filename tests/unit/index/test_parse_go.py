"""Go extraction on the key-value-cache fixture."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from treerag.index.model import Import, ParsedFile

Parse = Callable[[str, str], ParsedFile]
APP = "go_app"


def test_cache_package(parse_fixture: Parse, outline: Callable, symbol: Callable) -> None:
    parsed = parse_fixture(APP, "internal/cache/lru.go")
    assert parsed.language == "go"
    assert outline(parsed) == [
        ("DefaultCapacity", "constant", "DefaultCapacity", 7),
        ("entry", "struct", "entry", 9),
        ("LRU", "struct", "LRU", 15),
        ("NewLRU", "function", "NewLRU", 22),
        ("Get", "method", "LRU.Get", 30),
        ("Set", "method", "LRU.Set", 40),
    ]
    get = symbol(parsed, "LRU.Get")
    assert (get.signature, get.doc, get.end_line) == (
        "func (c *LRU) Get(key string) (string, bool)",
        "Get returns the value of key and marks it as recently used.",
        37,
    )
    assert symbol(parsed, "LRU").signature == "type LRU struct"
    assert parsed.imports == [Import("container/list", 4)]
    assert parsed.doc == "Package cache implements a size-bounded LRU cache of string values."


def test_grouped_constants_interfaces_and_types(parse_fixture: Parse, outline: Callable, symbol: Callable) -> None:
    protocol = parse_fixture(APP, "internal/protocol/command.go")
    assert outline(protocol) == [
        ("Verb", "type", "Verb", 10),
        ("VerbGet", "constant", "VerbGet", 14),
        ("VerbSet", "constant", "VerbSet", 16),
        ("Command", "struct", "Command", 23),
        ("Parse", "function", "Parse", 30),
    ]
    assert symbol(protocol, "VerbSet").doc == "VerbSet writes a key."
    server = parse_fixture(APP, "server/server.go")
    assert [(s.kind, s.qualname) for s in server.symbols] == [
        ("interface", "Store"),
        ("struct", "Server"),
        ("function", "New"),
        ("method", "Server.ListenAndServe"),
        ("method", "Server.handle"),
    ]
    assert server.imports[-2:] == [
        Import("example.com/kvcache/internal/cache", 9),
        Import("example.com/kvcache/internal/protocol", 10),
    ]
    assert {"Parse", "VerbSet", "LRU", "Fprintln"} <= server.references


@pytest.mark.parametrize(
    ("rel_path", "is_entry"),
    [
        pytest.param("cmd/tool/main.go", True, id="package-main-with-func-main"),
        pytest.param("server/server.go", False, id="library-package"),
    ],
)
def test_entry_points(parse_fixture: Parse, rel_path: str, is_entry: bool) -> None:
    assert parse_fixture(APP, rel_path).is_entry is is_entry
