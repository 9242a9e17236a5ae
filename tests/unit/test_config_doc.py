"""docs/CONFIG.md is the config schema's own rendering, and every key says what it sets."""

from __future__ import annotations

from pathlib import Path

from treerag.cli.config_reference import DESCRIPTIONS, render_config
from treerag.config import _TYPES

DOC = Path(__file__).resolve().parents[2] / "docs" / "CONFIG.md"


def test_config_doc_matches_the_schema():
    assert DOC.read_text() == render_config(), (
        "docs/CONFIG.md is stale: run `python -m treerag.cli.config_reference > docs/CONFIG.md`")


def test_every_key_is_described_and_no_description_is_stale():
    assert set(DESCRIPTIONS) == set(_TYPES), sorted(set(DESCRIPTIONS) ^ set(_TYPES))
