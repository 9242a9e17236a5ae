"""The overview's purpose line is the README's first paragraph of prose, whatever its markup."""

from __future__ import annotations

import pytest

from treerag.context.overview import _first_paragraph, _whole_sentences

RST = """======
Django
======

Django is a high-level Python web framework that encourages rapid development
and clean, pragmatic design. Thanks for checking it out.

All documentation is in the docs directory.
"""
SETEXT = """Flask
-----

[![badge](https://img.shields.io/x.svg)](https://example.org)

Flask is a lightweight WSGI web application framework.
"""
NAVIGATION = """[English readme](https://example.org/README.md)
 • [Deutsche readme](https://example.org/README.de.md) | [日本語 readme](https://example.org/README.ja.md)

Rich is a Python library for _rich_ text and beautiful formatting in the terminal.
"""
MARKDOWN = """# Requests

**Requests** is a simple, yet elegant, HTTP library.
"""


@pytest.mark.parametrize(("text", "max_lines", "expected"), [
    pytest.param(RST, 4, ["Django is a high-level Python web framework that encourages rapid development",
                          "and clean, pragmatic design. Thanks for checking it out."], id="rst-over-and-underlined"),
    pytest.param(SETEXT, 4, ["Flask is a lightweight WSGI web application framework."], id="setext-and-badge"),
    pytest.param(NAVIGATION, 4, ["Rich is a Python library for _rich_ text and beautiful formatting in the terminal."],
                 id="links-only-lines"),
    pytest.param(MARKDOWN, 4, ["**Requests** is a simple, yet elegant, HTTP library."], id="atx-heading"),
    pytest.param("A tool.\nIt does things.\nMore.\n", 2, ["A tool.", "It does things."], id="capped"),
])
def test_first_paragraph_of_prose(text: str, max_lines: int, expected: list[str]) -> None:
    assert _first_paragraph(text.splitlines(), max_lines) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Flask is light. It began as a wrapper around Werkzeug and has become one of the", "Flask is light."),
    ("A whole sentence.", "A whole sentence."),
    ("No sentence end at all in this cut", "No sentence end at all in this cut"),
])
def test_a_purpose_cut_by_the_line_cap_keeps_its_whole_sentences(text: str, expected: str) -> None:
    assert _whole_sentences(text) == expected
