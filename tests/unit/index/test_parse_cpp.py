"""C++ extraction on the path-finder fixture: namespaces, classes, out-of-class methods."""

from __future__ import annotations

from collections.abc import Callable

from treerag.index.model import Import, ParsedFile

Parse = Callable[[str, str], ParsedFile]
APP = "cpp_app"


def test_class_declarations_in_header(parse_fixture: Parse, outline: Callable, symbol: Callable) -> None:
    parsed = parse_fixture(APP, "src/graph.hpp")
    assert parsed.language == "cpp"
    assert outline(parsed) == [
        ("Edge", "struct", "pathfind.Edge", 10),
        ("Graph", "class", "pathfind.Graph", 15),
        ("Graph", "method", "pathfind.Graph.Graph", 17),
        ("connect", "method", "pathfind.Graph.connect", 18),
        ("edges", "method", "pathfind.Graph.edges", 19),
        ("size", "method", "pathfind.Graph.size", 20),
        ("shortestPaths", "function", "pathfind.shortestPaths", 26),
    ]
    assert symbol(parsed, "pathfind.Edge").doc == "An outgoing edge with its travel cost."
    assert parsed.imports == [Import("string", 4, system=True), Import("vector", 5, system=True)]


def test_out_of_class_definitions(parse_fixture: Parse, outline: Callable, symbol: Callable) -> None:
    parsed = parse_fixture(APP, "src/graph.cpp")
    assert outline(parsed) == [
        ("Graph", "method", "pathfind.Graph.Graph", 8),
        ("connect", "method", "pathfind.Graph.connect", 11),
        ("edges", "method", "pathfind.Graph.edges", 16),
        ("size", "method", "pathfind.Graph.size", 18),
    ]
    connect = symbol(parsed, "pathfind.Graph.connect")
    assert (connect.signature, connect.doc) == (
        "void Graph::connect(int from, int to, double cost)",
        "Add a one-way edge; both ends must exist.",
    )


def test_inline_methods_and_declaration_replaced_by_definition(parse_fixture: Parse, outline: Callable) -> None:
    parsed = parse_fixture(APP, "include/pathfind/heap.hpp")
    assert outline(parsed) == [
        ("Entry", "type", "pathfind.Entry", 10),
        ("MinHeap", "class", "pathfind.MinHeap", 13),
        ("push", "method", "pathfind.MinHeap.push", 15),
        ("empty", "method", "pathfind.MinHeap.empty", 17),
        ("pop", "method", "pathfind.MinHeap.pop", 23),
    ]


def test_constexpr_constant_system_include_and_entry(parse_fixture: Parse) -> None:
    dijkstra = parse_fixture(APP, "src/dijkstra.cpp")
    assert [(s.kind, s.qualname) for s in dijkstra.symbols] == [
        ("constant", "pathfind.kUnreachable"),
        ("function", "pathfind.shortestPaths"),
    ]
    assert dijkstra.imports == [
        Import("limits", 2, system=True),
        Import("pathfind/heap.hpp", 3, system=True),
        Import("graph.hpp", 5),
    ]
    assert {"MinHeap", "Graph", "Edge"} <= dijkstra.references
    assert parse_fixture(APP, "src/main.cpp").is_entry is True
    assert dijkstra.is_entry is False
