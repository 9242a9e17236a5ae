from __future__ import annotations

import random
import sqlite3

import pytest

from treerag.enrich.vectors import cosine_blob, dequantise, put_vectors, quantise, similar

SCHEMA = """CREATE TABLE embeddings(hash TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
    dim INTEGER NOT NULL, scale REAL NOT NULL, vec BLOB NOT NULL, PRIMARY KEY(hash, provider, model)) WITHOUT ROWID"""


@pytest.mark.parametrize("kind", ["int8", "float16"])
def test_round_trip(kind: str) -> None:
    rng = random.Random(1)
    vec = [rng.uniform(-1, 1) for _ in range(64)]
    norm = sum(x * x for x in vec) ** 0.5
    scale, blob = quantise(vec, kind=kind)
    assert len(blob) == (64 if kind == "int8" else 128)
    back = dequantise(scale, blob)
    assert max(abs(a - b / norm) for a, b in zip(back, vec, strict=True)) < 0.02
    assert cosine_blob([x / norm for x in vec], scale, blob) == pytest.approx(1.0, abs=0.01)


def test_similar_ranks_and_reads_only_candidates() -> None:
    db = sqlite3.connect(":memory:")
    db.execute(SCHEMA)
    put_vectors(db, "openai", "e", [("near", [1.0, 0.1, 0.0]), ("far", [-1.0, 0.0, 0.2]), ("mid", [0.5, 0.5, 0.5])])
    put_vectors(db, "openai", "other", [("near", [-1.0, 0.0, 0.0])])
    put_vectors(db, "openai", "e", [("wrongdim", [1.0, 0.0])])
    scores = similar(db, "openai", "e", [1.0, 0.0, 0.0], ["near", "far", "mid", "wrongdim", "missing"])
    assert sorted(scores, key=scores.__getitem__, reverse=True) == ["near", "mid", "far"]
    assert scores["near"] == pytest.approx(0.995, abs=0.01)
    traced: list[str] = []
    db.set_trace_callback(traced.append)
    assert set(similar(db, "openai", "e", [1.0, 0.0, 0.0], ["far"])) == {"far"}
    assert len(traced) == 1 and "hash IN ('far')" in traced[0]
