"""TypeScript and TSX extraction on the HTTP-router fixture."""

from __future__ import annotations

from collections.abc import Callable

from treerag.index.model import Import, ParsedFile

Parse = Callable[[str, str], ParsedFile]
APP = "ts_app"


def test_type_level_symbols(parse_fixture: Parse, outline: Callable, symbol: Callable) -> None:
    parsed = parse_fixture(APP, "src/http/types.ts")
    assert parsed.language == "typescript"
    assert outline(parsed) == [
        ("Method", "type", "Method", 3),
        ("Request", "interface", "Request", 6),
        ("Response", "interface", "Response", 12),
        ("Handler", "type", "Handler", 17),
        ("RouteFlag", "enum", "RouteFlag", 19),
    ]
    assert symbol(parsed, "Request").doc == "A parsed incoming request."
    assert symbol(parsed, "Handler").signature == "type Handler = (req: Request) => Response | Promise<Response>"


def test_router_class_and_imports(parse_fixture: Parse, outline: Callable, symbol: Callable) -> None:
    parsed = parse_fixture(APP, "src/http/router.ts")
    assert outline(parsed) == [
        ("NOT_FOUND", "constant", "NOT_FOUND", 6),
        ("Route", "interface", "Route", 8),
        ("Router", "class", "Router", 16),
        ("add", "method", "Router.add", 19),
        ("dispatch", "method", "Router.dispatch", 25),
        ("matchSegments", "function", "matchSegments", 36),
    ]
    assert symbol(parsed, "Router.dispatch").signature == "async dispatch(req: Request): Promise<Response>"
    assert symbol(parsed, "Router").doc == "Matches requests against registered path patterns like /users/:id."
    assert parsed.imports == [
        Import("./types", 2, ["Handler", "Method", "Request", "Response"]),
        Import("./types.js", 3, ["RouteFlag"]),
        Import("../util", 4, ["splitPath"]),
    ]
    assert {"Handler", "RouteFlag", "splitPath", "startsWith"} <= parsed.references
    assert parsed.doc == "Path-pattern router: registers handlers and dispatches requests to them."


def test_re_exports(parse_fixture: Parse) -> None:
    parsed = parse_fixture(APP, "src/index.ts")
    assert [(i.target, i.line, i.names) for i in parsed.imports] == [
        ("./http/router", 2, ["Router"]),
        ("./middleware/auth", 3, ["requireToken"]),
        ("./http/router", 5, ["Router"]),
        ("./http/types", 6, ["*"]),
    ]
    assert parsed.is_entry is False  # JS/TS entry points come from package.json


def test_tsx_component(parse_fixture: Parse, outline: Callable) -> None:
    parsed = parse_fixture(APP, "src/components/RouteTable.tsx")
    assert parsed.language == "tsx"
    assert outline(parsed) == [
        ("RouteRow", "interface", "RouteRow", 6),
        ("Props", "type", "Props", 11),
        ("RouteTable", "function", "RouteTable", 14),
        ("RouteLine", "function", "RouteLine", 25),
    ]
    assert parsed.imports == [
        Import("react", 2, ["React"]),
        Import("@/util", 3, ["joinPath"]),
        Import("@/http/types", 4, ["Method"]),
    ]
    assert {"joinPath", "Method"} <= parsed.references
