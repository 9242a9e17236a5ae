"""Compact embeddings: int8 (or float16) blobs with a per-vector scale, cosine scoring without numpy.

Vectors are L2-normalised before quantisation, so the cosine of a query and a
stored vector is ``scale * dot(query, int8s)``. :func:`similar` scores only the
candidate hashes it is given, streaming rows from SQLite in chunks, so the
daemon never holds every vector in memory.
"""

from __future__ import annotations

import math
import operator
import sqlite3
import struct
from array import array
from collections.abc import Iterable
from typing import Any

__all__ = ["cosine_blob", "dequantise", "normalise", "put_vectors", "quantise", "similar", "similar_files"]

_CHUNK = 400  # candidates per SELECT (well under SQLite's variable limit)


def normalise(vec: Iterable[float]) -> list[float]:
    values = [float(x) for x in vec]
    norm = math.sqrt(sum(x * x for x in values))
    return [x / norm for x in values] if norm else values


def quantise(vec: Iterable[float], *, kind: str = "int8") -> tuple[float, bytes]:
    """``(scale, blob)`` for a normalised copy of ``vec``; ``kind`` is ``int8`` or ``float16``.

    A float16 blob is marked by a negative scale (-1.0) so readers know how to decode it."""
    values = normalise(vec)
    if kind == "float16":
        return -1.0, struct.pack(f"<{len(values)}e", *values)
    peak = max((abs(x) for x in values), default=0.0) or 1.0
    scale = peak / 127.0
    return scale, array("b", [round(x / scale) for x in values]).tobytes()


def dequantise(scale: float, blob: bytes) -> list[float]:
    if scale < 0:
        return list(struct.unpack(f"<{len(blob) // 2}e", blob))
    return [x * scale for x in array("b", blob)]


def cosine_blob(query: list[float], scale: float, blob: bytes) -> float:
    """Cosine between a normalised ``query`` and a stored vector."""
    if scale < 0:
        return sum(map(operator.mul, query, struct.unpack(f"<{len(blob) // 2}e", blob)))
    return scale * sum(map(operator.mul, query, array("b", blob)))


def put_vectors(
    db: sqlite3.Connection, provider: str, model: str, rows: list[tuple[str, list[float]]], *, kind: str = "int8"
) -> int:
    """Store (content hash, vector) rows; replaces earlier vectors of the same hash/provider/model."""
    packed = []
    for digest, vec in rows:
        scale, blob = quantise(vec, kind=kind)
        packed.append((digest, provider, model, len(vec), scale, blob))
    db.executemany(
        "INSERT OR REPLACE INTO embeddings(hash, provider, model, dim, scale, vec) VALUES (?, ?, ?, ?, ?, ?)", packed
    )
    return len(packed)


def similar(
    db: sqlite3.Connection, provider: str, model: str, query_vec: list[float], hashes: list[str]
) -> dict[str, float]:
    """Cosine of ``query_vec`` with each candidate hash that has a vector of the same dimension."""
    sql = "SELECT hash, dim, scale, vec FROM embeddings WHERE provider = ? AND model = ? AND hash IN ({marks})"
    return _scores(db, sql, provider, model, query_vec, hashes)


def similar_files(
    db: sqlite3.Connection, provider: str, model: str, query_vec: list[float], file_ids: list[int]
) -> dict[int, float]:
    """Cosine of ``query_vec`` with each candidate file (by ``files.id``) whose content has a vector."""
    sql = ("SELECT f.id, e.dim, e.scale, e.vec FROM files f JOIN embeddings e ON e.hash = f.hash "
           "WHERE e.provider = ? AND e.model = ? AND f.id IN ({marks})")
    return _scores(db, sql, provider, model, query_vec, file_ids)


def _scores(db: sqlite3.Connection, sql: str, provider: str, model: str, query_vec: list[float],
            keys: list[Any]) -> dict[Any, float]:
    query = normalise(query_vec)
    dim = len(query)
    out: dict[Any, float] = {}
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        cursor = db.execute(sql.format(marks=",".join("?" * len(chunk))), (provider, model, *chunk))
        for key, row_dim, scale, blob in cursor:
            if row_dim == dim:
                out[key] = cosine_blob(query, scale, blob)
    return out
