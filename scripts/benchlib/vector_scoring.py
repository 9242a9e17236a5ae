"""Micro-benchmark: cost of scoring N candidate hashes × D dims with treerag.enrich.vectors.similar.

    .venv/bin/python scripts/benchlib/vector_scoring.py [N] [D]
"""

from __future__ import annotations

import random
import sqlite3
import sys
import time

from treerag.enrich.vectors import put_vectors, similar


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    dim = int(sys.argv[2]) if len(sys.argv) > 2 else 1536
    rng = random.Random(0)
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE embeddings(hash TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, dim INTEGER"
               " NOT NULL, scale REAL NOT NULL, vec BLOB NOT NULL, PRIMARY KEY(hash, provider, model)) WITHOUT ROWID")
    rows = [(f"h{i}", [rng.gauss(0, 1) for _ in range(dim)]) for i in range(n * 5)]
    put_vectors(db, "openai", "e", rows)
    query = [rng.gauss(0, 1) for _ in range(dim)]
    hashes = [f"h{i}" for i in range(0, n * 5, 5)]
    runs = []
    for _ in range(7):
        t = time.perf_counter()
        similar(db, "openai", "e", query, hashes)
        runs.append(time.perf_counter() - t)
    runs.sort()
    print(f"similar: {n} candidates x {dim} dims (int8): median {runs[3] * 1000:.1f} ms, best {runs[0] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
