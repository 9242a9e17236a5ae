"""treerag: a local context engine for Claude Code.

The package is split by concern: ``daemon`` (socket server and methods),
``client`` (sync and async clients), ``index`` (scan, parse, store, watch),
``context`` (overview, prompt ranking, rendering), ``runtime`` (projects,
memory, task queue), ``hooks`` (Claude Code hook client and installer) and
``cli`` (the ``treerag`` command). The dashboard lives in ``treerag.tui``.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
