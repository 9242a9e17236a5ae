"""Markdown headings: heading paths, spans, fenced code and setext headings."""

from __future__ import annotations

from collections.abc import Callable

from treerag.index.model import ParsedFile
from treerag.index.parsing import parse_file

Parse = Callable[[str, str], ParsedFile]


def test_readme_headings(parse_fixture: Parse, outline: Callable, symbol: Callable) -> None:
    parsed = parse_fixture("python_app", "README.md")
    assert parsed.language == "markdown"
    assert outline(parsed) == [
        ("Invoicing", "heading", "Invoicing", 1),
        ("Usage", "heading", "Invoicing > Usage", 5),  # the '# one invoice…' line in the fence is code
        ("Development", "heading", "Invoicing > Development", 12),
        ("Tests", "heading", "Invoicing > Development > Tests", 14),
    ]
    tests = symbol(parsed, "Invoicing > Development > Tests")
    assert (tests.signature, tests.doc, tests.end_line) == ("### Tests", "Run `pytest` from the project root.", 15)
    assert symbol(parsed, "Invoicing > Usage").end_line == 10
    assert parsed.doc == "Invoicing"
    assert parsed.imports == [] and parsed.references == set()


def test_fences_setext_and_closing_hashes() -> None:
    text = b"""Title
=====

Intro text.

~~~python
# comment, not a heading
~~~

```
## still code
````

Section two ##
--------------

    # indented code, not a heading
#hashtag is not a heading
## Sub ##
"""
    parsed = parse_file("docs/guide.markdown", text)
    assert [(s.qualname, s.line, s.end_line) for s in parsed.symbols] == [
        ("Title", 1, 19),
        ("Title > Section two ##", 14, 18),
        ("Title > Sub", 19, 19),
    ]
    assert [s.doc for s in parsed.symbols] == ["Intro text.", "#hashtag is not a heading", ""]


def test_horizontal_rule_after_blank_line_is_not_a_heading() -> None:
    parsed = parse_file("a.md", b"# A\n\ntext\n\n---\n\nmore\n")
    assert [s.qualname for s in parsed.symbols] == ["A"]
