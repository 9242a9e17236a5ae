"""Import resolution per language, on the fixture projects and on small path lists."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from treerag.index.model import Import
from treerag.index.resolve import ImportResolver

MakeResolver = Callable[[str], ImportResolver]


def imp(target: str, names: list[str] | None = None, *, system: bool = False) -> Import:
    return Import(target, 1, names or [], system)


# (project, importer, language, import, expected)
FIXTURE_CASES = [
    # Python: src/ layout, relative imports, submodules named in from-imports
    ("python_app", "tests/test_totals.py", "python", imp("invoicing", ["Invoice"]), "src/invoicing/__init__.py"),
    ("python_app", "tests/test_totals.py", "python", imp("invoicing.tax", ["tax_due"]), "src/invoicing/tax.py"),
    ("python_app", "src/invoicing/cli.py", "python", imp("invoicing.export.csv_writer"),
     "src/invoicing/export/csv_writer.py"),
    ("python_app", "src/invoicing/tax.py", "python", imp(".models", ["Invoice"]), "src/invoicing/models.py"),
    ("python_app", "src/invoicing/export/csv_writer.py", "python", imp("..", ["tax"]), "src/invoicing/tax.py"),
    ("python_app", "src/invoicing/export/csv_writer.py", "python", imp("..models"), "src/invoicing/models.py"),
    ("python_app", "src/invoicing/cli.py", "python", imp("invoicing", ["export"]),
     "src/invoicing/export/__init__.py"),
    ("python_app", "src/invoicing/cli.py", "python", imp("json"), None),
    ("python_app", "src/invoicing/cli.py", "python", imp("decimal", ["Decimal"]), None),
    # JavaScript: extension and index probing; bare specifiers are packages
    ("js_app", "src/server.js", "javascript", imp("./routes"), "src/routes/index.js"),
    ("js_app", "src/server.js", "javascript", imp("./store"), "src/store.js"),
    ("js_app", "src/routes/index.js", "javascript", imp("../codec.js"), "src/codec.js"),
    ("js_app", "test/codec.test.mjs", "javascript", imp("../src/codec.js"), "src/codec.js"),
    ("js_app", "src/server.js", "javascript", imp("express"), None),
    ("js_app", "test/codec.test.mjs", "javascript", imp("node:test"), None),
    # TypeScript: .js specifiers naming .ts sources, /index, tsconfig paths with comments
    ("ts_app", "src/http/router.ts", "typescript", imp("./types"), "src/http/types.ts"),
    ("ts_app", "src/http/router.ts", "typescript", imp("./types.js"), "src/http/types.ts"),
    ("ts_app", "src/http/router.ts", "typescript", imp("../util"), "src/util/index.ts"),
    ("ts_app", "src/components/RouteTable.tsx", "tsx", imp("@/util"), "src/util/index.ts"),
    ("ts_app", "src/components/RouteTable.tsx", "tsx", imp("@/http/types"), "src/http/types.ts"),
    ("ts_app", "src/index.ts", "typescript", imp("src/http/router"), "src/http/router.ts"),  # baseUrl "."
    ("ts_app", "src/components/RouteTable.tsx", "tsx", imp("react"), None),
    # Go: module path from go.mod, package directory, first non-test file
    ("go_app", "cmd/tool/main.go", "go", imp("example.com/kvcache/internal/cache"), "internal/cache/lru.go"),
    ("go_app", "cmd/tool/main.go", "go", imp("example.com/kvcache/server"), "server/server.go"),
    ("go_app", "server/server.go", "go", imp("example.com/kvcache/internal/protocol"),
     "internal/protocol/command.go"),
    ("go_app", "server/server.go", "go", imp("fmt"), None),
    ("go_app", "server/server.go", "go", imp("example.com/kvcache/missing"), None),
    # Rust: mod declarations, crate::, super::, the crate's own name, paths relative to the module
    ("rust_app", "src/lib.rs", "rust", imp("mod:lexer"), "src/lexer.rs"),
    ("rust_app", "src/lib.rs", "rust", imp("mod:parser"), "src/parser/mod.rs"),
    ("rust_app", "src/parser/mod.rs", "rust", imp("mod:ast"), "src/parser/ast.rs"),
    ("rust_app", "src/parser/mod.rs", "rust", imp("crate::lexer::Token", ["Token"]), "src/lexer.rs"),
    ("rust_app", "src/parser/mod.rs", "rust", imp("crate::CalcError", ["CalcError"]), "src/lib.rs"),
    ("rust_app", "src/parser/mod.rs", "rust", imp("ast::Expr", ["Expr"]), "src/parser/ast.rs"),
    ("rust_app", "src/eval.rs", "rust", imp("super::parser::Expr", ["Expr"]), "src/parser/mod.rs"),
    ("rust_app", "src/main.rs", "rust", imp("tiny_calc", ["evaluate", "CalcError"]), "src/lib.rs"),
    ("rust_app", "src/main.rs", "rust", imp("std::env", ["env"]), None),
    ("rust_app", "src/lib.rs", "rust", imp("thiserror::Error", ["Error"]), None),
    # Java: package path suffixes, static members, wildcards
    ("java_app", "src/main/java/com/acme/library/App.java", "java", imp("com.acme.library.model.Book", ["Book"]),
     "src/main/java/com/acme/library/model/Book.java"),
    ("java_app", "src/main/java/com/acme/library/service/LoanService.java", "java",
     imp("com.acme.library.model.Book.ISBN_LENGTH", ["ISBN_LENGTH"]), "src/main/java/com/acme/library/model/Book.java"),
    ("java_app", "src/main/java/com/acme/library/App.java", "java", imp("com.acme.library.service", ["*"]),
     "src/main/java/com/acme/library/service/LoanPolicy.java"),
    ("java_app", "src/main/java/com/acme/library/App.java", "java", imp("java.time.LocalDate"), None),
    # C / C++: relative to the includer, then by path suffix (angle brackets too)
    ("c_app", "src/buffer.c", "c", imp("buffer.h"), "src/buffer.h"),
    ("c_app", "src/csv.c", "c", imp("csv.h"), "include/csv.h"),
    ("c_app", "src/main.c", "c", imp("../include/csv.h"), "include/csv.h"),
    ("c_app", "src/main.c", "c", imp("stdio.h", system=True), None),
    ("cpp_app", "src/dijkstra.cpp", "cpp", imp("pathfind/heap.hpp", system=True), "include/pathfind/heap.hpp"),
    ("cpp_app", "src/main.cpp", "cpp", imp("graph.hpp"), "src/graph.hpp"),
    ("cpp_app", "src/main.cpp", "cpp", imp("iostream", system=True), None),
    # Ruby: require_relative relative to the file, require through lib/
    ("ruby_app", "bin/todo.rb", "ruby", imp("../lib/todo"), "lib/todo.rb"),
    ("ruby_app", "lib/todo.rb", "ruby", imp("./todo/list"), "lib/todo/list.rb"),
    ("ruby_app", "test/test_list.rb", "ruby", imp("todo/list"), "lib/todo/list.rb"),
    ("ruby_app", "lib/todo/storage.rb", "ruby", imp("json"), None),
]


@pytest.mark.parametrize(
    ("project", "importer", "language", "import_", "expected"),
    [pytest.param(*case, id=f"{case[0]}:{case[3].target}:{case[1].rsplit('/', 1)[-1]}") for case in FIXTURE_CASES],
)
def test_fixture_imports(
    make_resolver: MakeResolver, project: str, importer: str, language: str, import_: Import, expected: str | None
) -> None:
    assert make_resolver(project).resolve(importer, language, import_) == expected


def test_python_from_import_of_several_submodules(make_resolver: MakeResolver) -> None:
    resolver = make_resolver("python_app")
    found = resolver.resolve_all("src/invoicing/cli.py", "python", imp("invoicing", ["export", "models", "Invoice"]))
    assert found == ["src/invoicing/export/__init__.py", "src/invoicing/models.py", "src/invoicing/__init__.py"]


@pytest.mark.parametrize(
    ("importer", "target", "expected"),
    [
        pytest.param("scripts/run.py", "helpers", "scripts/helpers.py", id="sibling-script"),
        pytest.param("app.py", "json", None, id="stdlib-name-in-a-subdirectory"),
        pytest.param("app.py", "pkg", "pkg/__init__.py", id="top-level-package"),
        pytest.param("app.py", "pkg.json", "pkg/json.py", id="package-module-shadowing-stdlib-name"),
        pytest.param("app.py", "util", "util.py", id="root-module"),
        pytest.param("tools/a/x.py", "common.log", "tools/a/common/log.py", id="nearest-of-two"),
        pytest.param("tools/b/x.py", "common.log", "tools/b/common/log.py", id="nearest-of-two-other-side"),
        pytest.param("pkg/json.py", "..up", None, id="relative-beyond-the-root"),
    ],
)
def test_python_rules(importer: str, target: str, expected: str | None) -> None:
    paths = [
        "app.py",
        "util.py",
        "scripts/run.py",
        "scripts/helpers.py",
        "scripts/json.py",
        "pkg/__init__.py",
        "pkg/json.py",
        "tools/a/common/log.py",
        "tools/b/common/log.py",
    ]
    assert ImportResolver(paths).resolve(importer, "python", imp(target)) == expected


def test_python_module_inside_a_package_is_not_top_level() -> None:
    resolver = ImportResolver(["pkg/__init__.py", "pkg/models.py", "main.py"])
    assert resolver.resolve("main.py", "python", imp("models")) is None
    assert resolver.resolve("main.py", "python", imp("pkg.models")) == "pkg/models.py"


def test_go_package_of_only_tests_and_nested_modules(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module example.com/root\n")
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "go.mod").write_text('module "example.com/root/tools"\n')
    paths = ["go.mod", "a/a_test.go", "a/b.go", "t/only_test.go", "tools/go.mod", "tools/gen/gen.go"]
    resolver = ImportResolver(paths, tmp_path)
    assert resolver.resolve("main.go", "go", imp("example.com/root/a")) == "a/b.go"
    assert resolver.resolve("main.go", "go", imp("example.com/root/t")) == "t/only_test.go"
    assert resolver.resolve("main.go", "go", imp("example.com/root/tools/gen")) == "tools/gen/gen.go"


def test_go_without_go_mod_is_unresolved() -> None:
    assert ImportResolver(["a/a.go"]).resolve("main.go", "go", imp("example.com/x/a")) is None


def test_rust_mod_declared_in_a_non_root_module() -> None:
    paths = ["src/lib.rs", "src/net.rs", "src/net/tcp.rs", "src/net/udp/mod.rs"]
    resolver = ImportResolver(paths)
    assert resolver.resolve("src/net.rs", "rust", imp("mod:tcp")) == "src/net/tcp.rs"
    assert resolver.resolve("src/net.rs", "rust", imp("mod:udp")) == "src/net/udp/mod.rs"
    assert resolver.resolve("src/net/tcp.rs", "rust", imp("super::udp::Socket", ["Socket"])) == "src/net/udp/mod.rs"
    assert resolver.resolve_all("src/lib.rs", "rust", imp("crate::net", ["tcp", "udp"])) == [
        "src/net/tcp.rs",
        "src/net/udp/mod.rs",
    ]


def test_javascript_probing_order_and_escapes() -> None:
    paths = ["src/a.ts", "src/a.js", "src/b/index.tsx", "src/c.d.ts", "src/d.mjs"]
    resolver = ImportResolver(paths)
    assert resolver.resolve("src/x.ts", "typescript", imp("./a")) == "src/a.ts"
    assert resolver.resolve("src/x.ts", "typescript", imp("./b")) == "src/b/index.tsx"
    assert resolver.resolve("src/x.ts", "typescript", imp("./c")) == "src/c.d.ts"
    assert resolver.resolve("src/x.js", "javascript", imp("./d.mjs")) == "src/d.mjs"
    assert resolver.resolve("src/x.js", "javascript", imp("./a.js?raw")) == "src/a.js"
    assert resolver.resolve("src/x.js", "javascript", imp("../../outside")) is None
    assert resolver.resolve("src/x.js", "javascript", imp("a")) is None  # no tsconfig: bare means package


def test_java_nested_class_falls_back_to_the_outer_file() -> None:
    resolver = ImportResolver(["src/com/acme/Outer.java", "test/com/acme/OuterTest.java"])
    assert resolver.resolve("src/Main.java", "java", imp("com.acme.Outer.Inner")) == "src/com/acme/Outer.java"
    assert resolver.resolve("src/Main.java", "java", imp("Outer")) is None  # a lone name is no import


def test_c_prefers_the_includers_directory_then_the_nearest_suffix() -> None:
    paths = ["lib/a/util.h", "lib/b/util.h", "lib/b/x.c", "app/util.h", "app/main.c"]
    resolver = ImportResolver(paths)
    assert resolver.resolve("app/main.c", "c", imp("util.h")) == "app/util.h"
    assert resolver.resolve("lib/b/x.c", "c", imp("a/util.h")) == "lib/a/util.h"
    assert resolver.resolve("tools/t.c", "c", imp("util.h")) == "app/util.h"  # nearest of three: shortest


def test_ruby_prefers_lib_directories() -> None:
    paths = ["lib/shop/cart.rb", "spec/shop/cart.rb", "app/models/cart.rb"]
    resolver = ImportResolver(paths)
    assert resolver.resolve("spec/cart_spec.rb", "ruby", imp("shop/cart")) == "lib/shop/cart.rb"
    assert resolver.resolve("app/x.rb", "ruby", imp("cart")) == "app/models/cart.rb"
    assert resolver.resolve("app/x.rb", "ruby", imp("./models/cart")) == "app/models/cart.rb"


def test_unknown_language_and_self_imports_resolve_to_nothing() -> None:
    resolver = ImportResolver(["a.py", "pkg/__init__.py"])
    assert resolver.resolve("a.py", "cobol", imp("a")) is None
    assert resolver.resolve("pkg/__init__.py", "python", imp(".")) is None


RESOLVER = ImportResolver(
    ["src/lib.rs", "src/a.rs", "pkg/__init__.py", "pkg/m.py", "web/index.ts", "inc/x.h", "lib/r.rb", "A.java"]
)
LANGUAGES = ["python", "javascript", "typescript", "tsx", "go", "rust", "java", "c", "cpp", "ruby", "markdown", ""]


@settings(max_examples=200, deadline=None)
@given(
    language=st.sampled_from(LANGUAGES),
    importer=st.sampled_from(["src/a.rs", "pkg/m.py", "web/index.ts", "x.c", "lib/r.rb", "A.java", "top.py"]),
    target=st.text(alphabet=st.sampled_from("ab./:*-_<>@"), max_size=12),
    names=st.lists(st.sampled_from(["a", "m", "*", "self", ""]), max_size=3),
)
def test_odd_targets_never_raise(language: str, importer: str, target: str, names: list[str]) -> None:
    found = RESOLVER.resolve_all(importer, language, Import(target, 1, names))
    assert all(isinstance(p, str) and p != importer for p in found)
