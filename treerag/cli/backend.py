"""Reach the daemon, or stand one up in this process when none runs.

Commands that read or write an index (``index``, ``query``, ``tree``,
``context``, ``projects``, ``remove``) work without a daemon: they build the
same daemon object in-process and talk to it through the in-memory
transport, so both paths run the same method code and write the same index.
"""

from __future__ import annotations

import logging
from typing import Any

from treerag.cli.common import open_client
from treerag.client import Client
from treerag.errors import DaemonNotRunning

__all__ = ["open_backend"]


def open_backend(config: Any, *, local_ok: bool = True, timeout: float = 600.0) -> tuple[Client, bool]:
    """(client, is_local). ``is_local`` is True when no daemon runs and we serve ourselves."""
    try:
        return open_client(config, timeout=timeout), False
    except DaemonNotRunning:
        if not local_ok:
            raise
    from treerag.client.memory import MemoryTransport
    from treerag.daemon.app import Daemon
    from treerag.daemon.bootstrap import settings_from_config
    from treerag.runtime.methods import install

    logging.getLogger("treerag").setLevel(logging.WARNING)
    daemon = Daemon(settings_from_config(config), full_config=config)
    install(daemon)
    daemon.projects.load_after_build = False  # type: ignore[attr-defined]  # loaded on first use, if any
    return Client(MemoryTransport(daemon)), True
