"""Helpers for ``scripts/bench``: one module per benchmark group, plus the shared plumbing.

Not part of the installed package; ``scripts/bench`` puts ``scripts/`` on
``sys.path`` and imports ``benchlib`` from here.

    common     Row, Options, statistics, /proc readers, isolated daemons, temp dirs
    corpora    real source trees fetched from PyPI (sdists) and npm, extracted under .bench/src
    ipc        ping (vs. an asyncio floor server) and concurrency
    idle       idle RSS/USS, CPU, wake-ups, fds, threads (vs. bare interpreters); import MB breakdown
    memory     a loaded project's heap per file and per symbol (tracemalloc) vs. a naive form; RSS split
    indexing   cold index time vs. ctags, index size, daemon RSS per loaded tree
    latency    live update latency, cached and uncached context
    hooks      command hook spawns vs. interpreter floors; a scripted session's cache hit rate
    report     the table, machine info, JSON and docs/BENCHMARKS.md
"""
