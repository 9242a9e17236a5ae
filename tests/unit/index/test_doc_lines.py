"""A symbol's doc is its first doc line, with the lines a sentence wraps onto, never the paragraph after."""

from __future__ import annotations

import pytest

from treerag.index.parsing import parse_file


def _doc(rel: str, source: str, name: str) -> str:
    parsed = parse_file(rel, source.encode())
    return next(s.doc for s in parsed.symbols if s.name == name)


def test_a_docstring_sentence_wrapped_over_lines_is_whole() -> None:
    source = ('def rate(order):\n    """Return the tax rate that applies to the order\n    for its destination.\n\n'
              '    Args:\n        order: the order.\n    """\n')
    assert _doc("tax.py", source, "rate") == "Return the tax rate that applies to the order for its destination."


def test_a_jsdoc_sentence_wrapped_over_lines_is_whole() -> None:
    source = ("/**\n * Checks if `value` is the\n * [language type](http://example.org/#types)\n * of `Object`.\n *\n"
              " * @param {*} value The value to check.\n */\nfunction isObject(value) {\n  return true;\n}\n")
    assert _doc("isObject.js", source, "isObject") == (
        "Checks if `value` is the [language type](http://example.org/#types) of `Object`.")


@pytest.mark.parametrize(("comment", "expected"), [
    pytest.param("// Parse a header.\n// Second sentence on its own line.\n", "Parse a header.", id="first-line-complete"),
    pytest.param("// Parse a header\n//\n// Details after a blank line.\n", "Parse a header", id="paragraph-ends"),
    pytest.param("// Options:\n// - verbose\n// - quiet\n", "Options:", id="colon-ends"),
    pytest.param("// - verbose\n// - quiet\n", "- verbose", id="bullet-alone"),
    pytest.param("// Options for the run\n// - verbose\n", "Options for the run", id="list-after-first-line"),
    pytest.param("/**\n * Parse one line\n * @param line the text\n */\n", "Parse one line", id="tag-after-first-line"),
])
def test_a_comment_runs_on_only_within_its_first_sentence(comment: str, expected: str) -> None:
    source = comment + "function parse(line) {\n  return line;\n}\n"
    assert _doc("parse.js", source, "parse") == expected


def test_a_run_on_doc_stops_near_the_signature_cap() -> None:
    words = " ".join(f"word{i}" for i in range(80))  # ~560 characters with no sentence end
    wrapped = "\n".join(f"    {words[i:i + 60]}" for i in range(0, len(words), 60))
    source = f'def f():\n    """{wrapped.strip()}\n    """\n'
    doc = _doc("long.py", source, "f")
    assert 150 < len(doc) <= 200 and doc.endswith("…")


def test_a_comment_block_of_one_line_comments_is_read_as_one() -> None:
    """Python, Ruby and Go comments are a node per line: the sentence still runs on across them."""
    source = ("class It:\n    # __aiter__() is a synchronous method that has to then return an\n"
              "    # asynchronous iterator. Thus, nest a generator inside it.\n"
              "    def __aiter__(self):\n        return self\n")
    assert _doc("it.py", source, "__aiter__") == (
        "__aiter__() is a synchronous method that has to then return an asynchronous iterator.")
    go = "package p\n\n// NewLRU returns an empty cache holding\n// at most capacity keys.\nfunc NewLRU() {}\n"
    assert _doc("lru.go", go, "NewLRU") == "NewLRU returns an empty cache holding at most capacity keys."


def test_a_module_doc_from_opening_comments_stops_at_their_blank_line() -> None:
    source = "# -*- coding: utf-8 -*-\n# Helpers for the\n# billing screens\n\n# (c) Example Corp\nimport os\n"
    assert parse_file("billing.py", source.encode()).doc == "Helpers for the billing screens"
    ruby = "# frozen_string_literal: true\n\n# Todo: a plain-text task list kept\n# in a JSON file.\nclass Todo; end\n"
    assert parse_file("todo.rb", ruby.encode()).doc == "Todo: a plain-text task list kept in a JSON file."
