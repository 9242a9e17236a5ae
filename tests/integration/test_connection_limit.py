"""daemon.max_connections on the Unix socket: one more connection gets a clear error, and the daemon goes on."""

from __future__ import annotations

import json
import socket

from tests.conftest import wait_for


def test_a_connection_past_the_limit_is_refused_with_a_clear_error(daemon_factory):
    daemon = daemon_factory(env={"TREERAG_DAEMON_MAX_CONNECTIONS": "3"})
    held = []
    for _ in range(3):
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(daemon.socket))
        held.append(s)
    # (accepted in order: by the time the next one is served, these three are counted)
    extra = socket.socket(socket.AF_UNIX)
    extra.settimeout(5)
    extra.connect(str(daemon.socket))
    reply = json.loads(extra.makefile("rb").readline())
    assert reply["error"]["code"] == "too_many_connections", reply
    assert "daemon.max_connections" in reply["error"]["message"]
    extra.close()
    for s in held:
        s.close()
    assert wait_for(lambda: daemon.call("ping") == "pong", 5)
    assert "refused a connection" in daemon.log.read_text()
