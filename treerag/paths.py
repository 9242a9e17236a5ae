"""Where treerag keeps things on disk, by the XDG base-directory rules.

=============  =============================================  ==============================
what           directory                                      fallback
=============  =============================================  ==============================
runtime        ``$XDG_RUNTIME_DIR/treerag`` (socket, pid)     ``/tmp/treerag-$UID``
state          ``$XDG_STATE_HOME/treerag`` (log)              ``~/.local/state/treerag``
cache          ``$XDG_CACHE_HOME/treerag`` (indexes)          ``~/.cache/treerag``
config file    ``$TREERAG_CONFIG``, else                      ``~/.config/treerag/config.toml``
               ``$XDG_CONFIG_HOME/treerag/config.toml``
=============  =============================================  ==============================

As the XDG spec asks, a relative ``XDG_*`` value is ignored; ``XDG_RUNTIME_DIR``
is used only if it exists. Every function reads ``os.environ`` unless given
``env``, and only computes paths: nothing here creates a directory. Stdlib only,
so the hook client can import it cheaply.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

__all__ = ["SOCKET_NAME", "cache_dir", "config_path", "runtime_dir", "socket_path", "state_dir"]

SOCKET_NAME = "treerag.sock"


class _HasGet(Protocol):
    def get(self, key: str) -> object: ...


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def _xdg(env: Mapping[str, str], name: str, *fallback: str) -> Path:
    value = env.get(name, "")
    if value and os.path.isabs(value):
        return Path(value)
    home = env.get("HOME") or os.path.expanduser("~")
    return Path(home, *fallback)


def runtime_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_RUNTIME_DIR/treerag`` if that runtime dir exists, else ``/tmp/treerag-$UID``."""
    env = _env(env)
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime) and os.path.isdir(runtime):
        return Path(runtime, "treerag")
    return Path(f"/tmp/treerag-{os.getuid()}")


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/treerag``, default ``~/.local/state/treerag``."""
    return _xdg(_env(env), "XDG_STATE_HOME", ".local", "state") / "treerag"


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/treerag``, default ``~/.cache/treerag``."""
    return _xdg(_env(env), "XDG_CACHE_HOME", ".cache") / "treerag"


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$TREERAG_CONFIG``, else ``$XDG_CONFIG_HOME/treerag/config.toml``, else ``~/.config/...``."""
    env = _env(env)
    explicit = env.get("TREERAG_CONFIG", "")
    if explicit:
        return Path(explicit).expanduser()
    return _xdg(env, "XDG_CONFIG_HOME", ".config") / "treerag" / "config.toml"


def socket_path(config: _HasGet | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The daemon socket: ``daemon.socket_path`` from ``config`` if set, else ``runtime_dir()/treerag.sock``."""
    explicit = config.get("daemon.socket_path") if config is not None else ""
    if explicit:
        return Path(str(explicit)).expanduser()
    return runtime_dir(env) / SOCKET_NAME
