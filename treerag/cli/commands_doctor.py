"""``treerag doctor``: check the environment and say how to fix what is wrong.

Each check prints one line: ``OK``, ``WARN`` or ``FAIL``, what was found, and
for the last two the command or change that fixes it. Exit code 1 when any
check fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from treerag.cli.common import add_socket_option
from treerag.errors import ConfigError, TreeragError

__all__ = ["add_parsers", "run_checks"]

Check = tuple[str, str, str]  # level, message, fix
MIN_FREE_BYTES = 200 * 1024 * 1024
MIN_WATCHES = 65536


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("doctor", help="check the daemon, socket, limits, disk, hooks and config, with fixes")
    p.add_argument("--project", default=".", help="project directory whose hook settings to check (default: .)")
    add_socket_option(p)
    p.set_defaults(func=cmd_doctor)


def check_config(args: argparse.Namespace) -> tuple[Check, Any]:
    from treerag.config import config_path, load_config

    try:
        config = load_config(flags={"daemon.socket_path": args.socket} if args.socket else None)
    except ConfigError as exc:
        return ("FAIL", f"config invalid: {exc}", f"edit {config_path()}"), None
    where = config_path()
    return ("OK", f"config valid ({where if where.exists() else 'defaults; no config file'})", ""), config


def check_socket_dir(config: Any) -> Check:
    from treerag.config import socket_path

    directory = socket_path(config).parent
    try:
        st = directory.lstat()
    except FileNotFoundError:
        return "OK", f"socket directory {directory} will be created 0700 by the daemon", ""
    if not stat.S_ISDIR(st.st_mode):
        return "FAIL", f"socket directory {directory} is not a directory", f"rm {directory}"
    if st.st_uid != os.getuid():
        return "FAIL", f"socket directory {directory} belongs to uid {st.st_uid}", \
            "set daemon.socket_path in the config to a directory you own"
    mode = stat.S_IMODE(st.st_mode)
    if mode != 0o700:
        return "WARN", f"socket directory {directory} has mode {mode:o}, not 700", f"chmod 700 {directory}"
    sock = socket_path(config)
    if sock.exists():
        smode = stat.S_IMODE(sock.lstat().st_mode)
        if not stat.S_ISSOCK(sock.lstat().st_mode):
            return "FAIL", f"{sock} is not a socket", f"rm {sock}"
        if smode & 0o077:
            return "WARN", f"socket {sock} has mode {smode:o}, not 600", f"chmod 600 {sock}"
    return "OK", f"socket directory {directory} is private (0700)", ""


def check_daemon(config: Any) -> tuple[Check, dict[str, Any] | None]:
    from treerag.cli.common import open_client

    try:
        with open_client(config, timeout=5) as client:
            started = time.perf_counter()
            client.call("ping")
            elapsed = time.perf_counter() - started
            status = client.call("status")
    except TreeragError as exc:
        return ("FAIL", f"daemon not reachable: {exc}", "treerag serve --headless --detach"), None
    except OSError as exc:
        return ("FAIL", f"daemon not reachable: {exc.strerror or exc}", "treerag serve --headless --detach"), None
    return ("OK", f"daemon {status.get('version')} reachable (pid {status.get('pid')}, "
                  f"ping {elapsed * 1e6:.0f} µs)", ""), status


def check_inotify(status: dict[str, Any] | None) -> Check:
    try:
        limit = int(Path("/proc/sys/fs/inotify/max_user_watches").read_text())
    except (OSError, ValueError):
        return "OK", "inotify not available here; changes are picked up by reconciling on load", ""
    watched = sum(int(p.get("watches", 0) or 0) for p in (status or {}).get("projects", []))
    fix = "sudo sysctl fs.inotify.max_user_watches=524288 (persist it in /etc/sysctl.d/)"
    if watched and watched > 0.8 * limit:
        return "WARN", f"{watched} of {limit} inotify watches in use", fix
    if limit < MIN_WATCHES:
        return "WARN", f"inotify watch limit is {limit} (large trees need one watch per directory)", fix
    return "OK", f"inotify watch limit {limit}" + (f", {watched} in use" if watched else ""), ""


def check_disk() -> Check:
    from treerag.config import cache_dir

    target = cache_dir()
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < MIN_FREE_BYTES:
        return "WARN", f"only {free // 2**20} MB free for the index at {target}", \
            "free disk space or set XDG_CACHE_HOME to a roomier disk"
    return "OK", f"{free // 2**30} GB free for the index at {target}", ""


def check_hooks(project: Path) -> list[Check]:
    import treerag.hooks.run as run
    from treerag.hooks.install import InstallError, installed_status

    ours = os.path.abspath(run.__file__)
    found = []
    for scope in ("user", "project", "local"):
        try:
            info = installed_status(scope, project)
        except InstallError as exc:
            found.append(("FAIL", f"Claude Code settings unreadable: {exc}", "fix the JSON or move the file away"))
            continue
        if not info["events"]:
            continue
        handlers = [h for hs in info["events"].values() for h in hs]
        broken = [h for h in handlers if not h.get("interpreter_ok", True) or h.get("script_ok") is False]
        foreign = [h for h in handlers if h.get("script") and os.path.abspath(h["script"]) != ours]
        fix = f"treerag install-hooks --scope {scope}"
        if broken:
            found.append(("FAIL", f"{scope} hooks point at a missing interpreter or script ({info['settings_path']})",
                          fix))
        elif foreign:
            found.append(("WARN", f"{scope} hooks point at another treerag installation ({foreign[0]['script']})",
                          fix))
        elif info["missing"]:
            found.append(("WARN", f"{scope} hooks miss {', '.join(info['missing'])}", fix))
        elif info["disable_all_hooks"]:
            found.append(("WARN", f"{info['settings_path']} sets disableAllHooks", "remove disableAllHooks"))
        else:
            found.append(("OK", f"Claude Code hooks installed ({scope}: {info['settings_path']})", ""))
    return found or [("WARN", "Claude Code hooks are not installed", "treerag install-hooks")]


def run_checks(args: argparse.Namespace) -> list[Check]:
    config_check, config = check_config(args)
    checks = [config_check]
    if config is None:
        return checks
    checks.append(check_socket_dir(config))
    daemon_check, status = check_daemon(config)
    checks.append(daemon_check)
    steps: list[Callable[[], Check | list[Check]]] = [
        lambda: check_inotify(status), check_disk, lambda: check_hooks(Path(args.project).resolve())]
    for step in steps:
        result = step()
        checks.extend(result if isinstance(result, list) else [result])
    return checks


def cmd_doctor(args: argparse.Namespace) -> int:
    checks = run_checks(args)
    for level, message, fix in checks:
        print(f"{level:<4} {message}" + (f"\n     fix: {fix}" if fix else ""))
    return 1 if any(level == "FAIL" for level, _, _ in checks) else 0
