"""Clients of the daemon: ``Client`` (synchronous, for the CLI) and ``AsyncClient`` (for the dashboard).

Both speak through a transport seam: the real Unix-socket transports, or the
in-memory twins in ``treerag.client.memory`` for tests without a socket.
"""

from __future__ import annotations

from treerag.client.sync import Client, connect

__all__ = ["Client", "connect"]
