"""JavaScript extraction on the URL-shortener fixture: CommonJS, ESM, JSX."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from treerag.index.model import Import, ParsedFile
from treerag.index.parsing import parse_file

Parse = Callable[[str, str], ParsedFile]
APP = "js_app"


def test_store_class_and_constant(parse_fixture: Parse, outline: Callable, symbol: Callable) -> None:
    parsed = parse_fixture(APP, "src/store.js")
    assert parsed.language == "javascript"
    assert outline(parsed) == [
        ("MAX_URL_LENGTH", "constant", "MAX_URL_LENGTH", 4),
        ("LinkStore", "class", "LinkStore", 6),
        ("constructor", "method", "LinkStore.constructor", 7),
        ("save", "method", "LinkStore.save", 13),
        ("visit", "method", "LinkStore.visit", 21),
    ]
    assert symbol(parsed, "LinkStore.save").doc == "Save a target URL and return its numeric id."
    assert symbol(parsed, "LinkStore.visit").doc == "Look up a link and count the visit."
    assert parsed.imports == [Import("crypto", 2)]
    assert parsed.doc == "In-memory link store with hit counters."
    assert parsed.is_entry is False


def test_exported_functions_and_arrow_constants(parse_fixture: Parse, outline: Callable, symbol: Callable) -> None:
    parsed = parse_fixture(APP, "src/codec.js")
    assert outline(parsed) == [
        ("ALPHABET", "constant", "ALPHABET", 3),
        ("encodeId", "function", "encodeId", 6),
        ("decodeSlug", "function", "decodeSlug", 16),
    ]
    assert symbol(parsed, "encodeId").doc == "Encode a non-negative integer id as a base62 slug."
    assert symbol(parsed, "decodeSlug").signature == "const decodeSlug = (slug)"


def test_require_and_dynamic_import(parse_fixture: Parse) -> None:
    server = parse_fixture(APP, "src/server.js")
    assert server.imports == [Import("express", 2), Import("./routes", 3), Import("./store", 4)]
    assert [s.qualname for s in server.symbols] == ["DEFAULT_PORT", "createApp"]  # no symbol for require()
    routes = parse_fixture(APP, "src/routes/index.js")
    assert routes.imports == [Import("express", 2), Import("../codec.js", 8), Import("../codec.js", 13)]


def test_jsx_components_are_references(parse_fixture: Parse) -> None:
    parsed = parse_fixture(APP, "src/ui/LinkBadge.jsx")
    assert [s.qualname for s in parsed.symbols] == ["LinkBadge", "Slug"]
    assert parsed.imports == [Import("react", 2, ["React"]), Import("../codec.js", 3, ["encodeId"])]
    assert "encodeId" in parsed.references
    assert "span" not in parsed.references  # lower-case JSX tags are HTML, not components


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(b"import d, { a as b, c } from './m';", Import("./m", 1, ["d", "a", "c"]), id="default-and-named"),
        pytest.param(b"import * as ns from 'pkg';", Import("pkg", 1, ["*"]), id="namespace"),
        pytest.param(b"import './side.css';", Import("./side.css", 1), id="side-effect"),
        pytest.param(b"export { q } from './q';", Import("./q", 1, ["q"]), id="re-export"),
        pytest.param(b"export * from './all';", Import("./all", 1, ["*"]), id="export-star"),
        pytest.param(b"const m = require(\"x\");", Import("x", 1), id="require"),
        pytest.param(b"import('./lazy').then(run);", Import("./lazy", 1), id="dynamic-import"),
    ],
)
def test_import_forms(source: bytes, expected: Import) -> None:
    assert parse_file("m.mjs", source).imports == [expected]
