"""Assemble a daemon from the resolved configuration: settings, logging, feature methods.

Each feature module exposes ``install(daemon)`` that registers its methods,
services and metric samplers; this is the one place that lists them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from treerag.config import load_config, socket_path
from treerag.daemon.app import Daemon, DaemonSettings
from treerag.logs import LogTap, setup_logging

__all__ = ["build_daemon", "settings_from_config"]


def settings_from_config(config: object) -> DaemonSettings:
    get = config.get  # type: ignore[attr-defined]
    return DaemonSettings(
        socket_path=socket_path(config),
        read_timeout_s=float(get("daemon.read_timeout_s")),
        frame_limit_bytes=int(get("daemon.frame_limit_bytes")),
        max_connections=int(get("daemon.max_connections")),
        shutdown_grace_s=float(get("daemon.shutdown_grace_s")),
        memory_limit_mb=int(get("resources.memory_limit_mb")),
        park_after_s=float(get("resources.park_after_s")),
    )


def build_daemon(flags: Mapping[str, object] | None = None, *, log_file: Path | None = None) -> Daemon:
    config = load_config(flags=flags)
    root_logger = setup_logging(str(config.get("daemon.log_level")), log_file)
    daemon = Daemon(settings_from_config(config), full_config=config)
    root_logger.addHandler(
        LogTap(lambda fields: daemon.broadcast.publish("log", fields), lambda: daemon.broadcast.listeners("log") > 0)
    )
    for feature in _features():
        feature(daemon)
    logging.getLogger(__name__).debug("daemon assembled with %d methods", len(daemon.methods.names()))
    return daemon


def _features() -> list:  # type: ignore[type-arg]
    """Feature installers, imported here so the list of what the daemon serves is in one place."""
    from treerag.daemon.http import install as install_http
    from treerag.runtime.methods import install as install_projects

    return [install_projects, install_http]
