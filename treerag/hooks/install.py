"""Install, remove and inspect treerag's hooks in Claude Code settings files.

Claude Code reads hooks from ``~/.claude/settings.json`` (scope ``user``),
``<project>/.claude/settings.json`` (``project``) and
``<project>/.claude/settings.local.json`` (``local``). Those files belong to
the user and to Claude Code, so the installer edits them conservatively:

* every other key and every other hook handler is kept, in its order;
* treerag's own handlers are found by a marker (:func:`is_treerag_handler`)
  and replaced, so installing twice leaves the file byte for byte the same;
* the file is backed up before each change and written atomically;
* a file that cannot be parsed or written is never touched; the caller gets
  one :class:`InstallError` naming the file.

The marker. Claude Code may reject unknown keys in handler objects, so no
custom key marks our handlers. A handler is treerag's when it is either

* a ``command`` handler whose argument list holds one of treerag's event
  names (``session-start``, ``prompt``, ...) *and* whose command or one of
  its arguments contains ``treerag`` (the package path
  ``.../treerag/hooks/run.py`` or the ``treerag`` console script); or
* an ``http`` handler whose URL points at a loopback host (``127.0.0.1``,
  ``localhost``, ``::1``) with the path ``/v1/hooks/<treerag event name>``.

The backup policy. Before a file that already exists is changed, its
current bytes are copied to ``<name>.treerag-backup`` next to it (same mode),
replacing an older backup: the backup is always the file as it was just
before treerag's latest change. No backup is made when nothing changes or
when treerag creates the file.

Emptied containers. Removing treerag's handler drops a matcher group whose
``hooks`` list it empties, an event whose list it empties and the ``hooks``
object if it empties that; containers that were already empty are left as
they were. A file that install created holds ``{}`` after uninstall: the file
is kept, never deleted.
"""

from __future__ import annotations

from treerag.errors import TreeragError

import contextlib
import copy
import json
import logging
import os
import re
import shlex
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

__all__ = [
    "BACKUP_SUFFIX",
    "HOOK_EVENTS",
    "SCOPES",
    "HookSpec",
    "InstallError",
    "InstallResult",
    "UninstallResult",
    "build_hooks",
    "install_hooks",
    "installed_status",
    "is_treerag_handler",
    "settings_path",
    "uninstall_hooks",
]

logger = logging.getLogger(__name__)

BACKUP_SUFFIX = ".treerag-backup"
SCOPES = ("user", "project", "local")
DEFAULT_TOKEN_ENV = "TREERAG_HTTP_TOKEN"
PLUGIN_ROOT = "${CLAUDE_PLUGIN_ROOT}"
HTTP_PATH_PREFIX = "/v1/hooks/"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class HookSpec(NamedTuple):
    """How treerag hooks one Claude Code event."""

    event: str  # treerag's event name, the hook client's last argument
    matcher: str | None  # None: the group carries no "matcher" key
    timeout: int  # seconds, written on every handler
    is_async: bool  # command handler runs in the background
    http: bool  # Claude Code accepts an http handler for this event


HOOK_EVENTS: Mapping[str, HookSpec] = {
    "SessionStart": HookSpec("session-start", "startup|resume|clear|compact", 5, False, False),
    "UserPromptSubmit": HookSpec("prompt", None, 3, False, True),
    "PreToolUse": HookSpec("pre-tool", "Read|Grep|Glob", 2, False, True),
    "PostToolUse": HookSpec("post-edit", "Edit|Write|MultiEdit|NotebookEdit", 5, True, True),
    "SubagentStart": HookSpec("subagent-start", None, 3, False, True),
    "SessionEnd": HookSpec("session-end", None, 1, False, True),
}
_EVENT_NAMES = frozenset(spec.event for spec in HOOK_EVENTS.values())


class InstallError(TreeragError):
    """A settings file could not be read, parsed or written; nothing was changed."""

    code = "install"

    def __init__(self, reason: str, path: Path | str | None = None) -> None:
        self.reason = reason
        self.path = Path(path) if path is not None else None
        super().__init__(f"{path}: {reason}" if path is not None else reason)


@dataclass(frozen=True)
class InstallResult:
    settings_path: Path
    backup_path: Path | None  # None: no backup written by this call
    events_added: tuple[str, ...]  # Claude Code events that had no treerag handler before
    replaced: int  # earlier treerag handlers removed and written anew
    changed: bool  # False: the file already held exactly these handlers and was not rewritten


@dataclass(frozen=True)
class UninstallResult:
    settings_path: Path
    backup_path: Path | None
    removed: int  # treerag handlers removed
    events: tuple[str, ...]  # Claude Code events they were removed from

    @property
    def changed(self) -> bool:
        return self.removed > 0


# --- where and what ----------------------------------------------------------------------------


def settings_path(scope: str, project_dir: Path, home: Path | None = None) -> Path:
    """The settings file Claude Code reads for ``scope`` (user, project or local)."""
    if scope == "user":
        return (home if home is not None else Path.home()) / ".claude" / "settings.json"
    if scope == "project":
        return Path(project_dir) / ".claude" / "settings.json"
    if scope == "local":
        return Path(project_dir) / ".claude" / "settings.local.json"
    raise InstallError(f"unknown scope {scope!r}; expected one of: {', '.join(SCOPES)}")


def build_hooks(
    command: list[str], *, http_url: str | None = None, token_env: str = DEFAULT_TOKEN_ENV
) -> dict[str, list[dict[str, Any]]]:
    """The ``{"<Event>": [matcher group]}`` mapping treerag wants, one group per event.

    ``command`` is the exec-form base command (interpreter first, by absolute
    path or under ``${CLAUDE_PLUGIN_ROOT}``); the event name is appended to its
    arguments. With ``http_url`` (a loopback ``http://host:port``), events that
    accept http handlers get one that sends ``Authorization: Bearer
    $<token_env>``; Claude Code fills the variable in from its environment, so
    the token itself is never written to a settings file.
    """
    _check_command(command)
    base = _check_http_url(http_url) if http_url is not None else None
    if not _ENV_NAME.match(token_env):
        raise ValueError(f"token_env must be an environment variable name, not {token_env!r}")
    hooks: dict[str, list[dict[str, Any]]] = {}
    for claude_event, spec in HOOK_EVENTS.items():
        handler: dict[str, Any]
        if base is not None and spec.http:
            handler = {
                "type": "http",
                "url": f"{base}{HTTP_PATH_PREFIX}{spec.event}",
                "headers": {"Authorization": f"Bearer ${token_env}"},
                "allowedEnvVars": [token_env],
                "timeout": spec.timeout,
            }
        else:
            args = [*command[1:], spec.event]
            handler = {"type": "command", "command": command[0], "args": args, "timeout": spec.timeout}
            if spec.is_async:
                handler["async"] = True
        group: dict[str, Any] = {} if spec.matcher is None else {"matcher": spec.matcher}
        group["hooks"] = [handler]
        hooks[claude_event] = [group]
    return hooks


def _check_command(command: list[str]) -> None:
    if not isinstance(command, list) or not command or not all(isinstance(a, str) and a for a in command):
        raise ValueError(f"command must be a non-empty list of non-empty strings, not {command!r}")
    exe = command[0]
    if not (os.path.isabs(exe) or exe.startswith(PLUGIN_ROOT + "/")):
        raise ValueError(
            f"hook command {exe!r} must be an absolute path (or start with {PLUGIN_ROOT}/): "
            "Claude Code may run hooks with a PATH that lacks treerag's environment"
        )
    if not any("treerag" in arg for arg in command):
        raise ValueError(f"hook command {command!r} must reference treerag's path, or uninstall could not find it")


def _check_http_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in _LOOPBACK_HOSTS:
        raise ValueError(f"http_url must be http:// on a loopback host, not {url!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"http_url must carry no path, query or fragment, not {url!r}")
    return url.rstrip("/")


def is_treerag_handler(handler: object) -> bool:
    """The marker: whether a hook handler object is one treerag installed (see the module docstring)."""
    if not isinstance(handler, dict):
        return False
    kind = handler.get("type")
    if kind == "command":
        tokens = _command_tokens(handler)
        return any(t in _EVENT_NAMES for t in tokens[1:]) and any("treerag" in t for t in tokens)
    if kind == "http":
        url = handler.get("url")
        if not isinstance(url, str):
            return False
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:
            return False
        path = parts.path
        return (
            host in _LOOPBACK_HOSTS
            and path.startswith(HTTP_PATH_PREFIX)
            and path[len(HTTP_PATH_PREFIX) :] in _EVENT_NAMES
        )
    return False


def _command_tokens(handler: Mapping[str, Any]) -> list[str]:
    command = handler.get("command")
    if not isinstance(command, str):
        return []
    args = handler.get("args")
    if isinstance(args, list):
        return [command, *(a for a in args if isinstance(a, str))]
    try:  # shell form: "command": "/path/treerag hook prompt"
        return shlex.split(command)
    except ValueError:
        return [command]


# --- install / uninstall / status --------------------------------------------------------------


def install_hooks(
    scope: str,
    project_dir: Path,
    command: list[str],
    *,
    http_url: str | None = None,
    home: Path | None = None,
) -> InstallResult:
    """Write treerag's hooks into the scope's settings file, replacing earlier treerag handlers."""
    desired = build_hooks(command, http_url=http_url)
    path = settings_path(scope, project_dir, home)
    doc = _SettingsFile.read(path)
    data = copy.deepcopy(doc.data)
    hooks = _hooks_object(data, path, create=True)
    assert hooks is not None
    had_ours = {event for event, groups in hooks.items() if _holds_treerag(groups)}
    replaced, slots, _ = _strip(hooks, path, drop_empty=set(hooks) - set(desired))
    for event, groups in desired.items():
        existing = hooks.setdefault(event, [])
        if not isinstance(existing, list):
            kind = _json_type(existing)
            raise InstallError(f'"hooks.{event}" is a JSON {kind}, expected an array; nothing was changed', path)
        at = slots.get(event, len(existing))
        existing[at:at] = groups
    backup = doc.write(data)
    return InstallResult(
        settings_path=path,
        backup_path=backup,
        events_added=tuple(e for e in desired if e not in had_ours),
        replaced=replaced,
        changed=doc.changed,
    )


def uninstall_hooks(scope: str, project_dir: Path, home: Path | None = None) -> UninstallResult:
    """Remove every treerag handler from the scope's settings file, and nothing else."""
    path = settings_path(scope, project_dir, home)
    doc = _SettingsFile.read(path)
    data = copy.deepcopy(doc.data)
    hooks = _hooks_object(data, path, create=False)
    if not hooks:
        return UninstallResult(path, None, 0, ())
    removed, _, events = _strip(hooks, path, drop_empty=set(hooks))
    if removed and not hooks:
        del data["hooks"]
    backup = doc.write(data) if removed else None
    return UninstallResult(path, backup, removed, events)


def installed_status(scope: str, project_dir: Path, home: Path | None = None) -> dict[str, Any]:
    """Which events carry treerag handlers in the scope's file, and whether their commands exist.

    Shape: ``{"scope", "settings_path", "exists", "disable_all_hooks", "events":
    {"<Event>": [handler status]}, "missing": [events without a treerag
    handler], "ok"}``. A command handler's status holds ``type``, ``event``,
    ``matcher``, ``timeout``, ``command`` (the argv), ``interpreter`` and
    ``interpreter_ok`` (an executable file), ``script`` (its first absolute
    path argument, or None) and ``script_ok``; an http handler's holds ``url``.
    """
    path = settings_path(scope, project_dir, home)
    doc = _SettingsFile.read(path)
    hooks = _hooks_object(doc.data, path, create=False) or {}
    events: dict[str, list[dict[str, Any]]] = {}
    for claude_event, groups in hooks.items():
        if not isinstance(groups, list):
            continue
        for group in groups:
            if not isinstance(group, dict) or not isinstance(group.get("hooks"), list):
                continue
            for handler in group["hooks"]:
                if is_treerag_handler(handler):
                    events.setdefault(claude_event, []).append(_handler_status(handler, group.get("matcher")))
    missing = [e for e in HOOK_EVENTS if e not in events]
    healthy = all(
        h.get("interpreter_ok", True) and h.get("script_ok") is not False for hs in events.values() for h in hs
    )
    disabled = doc.data.get("disableAllHooks") is True
    return {
        "scope": scope,
        "settings_path": str(path),
        "exists": doc.existed,
        "disable_all_hooks": disabled,
        "events": events,
        "missing": missing,
        "ok": not missing and healthy and not disabled,
    }


def _handler_status(handler: Mapping[str, Any], matcher: object) -> dict[str, Any]:
    status: dict[str, Any] = {"type": handler["type"], "matcher": matcher, "timeout": handler.get("timeout")}
    if handler["type"] == "http":
        url = str(handler["url"])
        status.update(event=url.rsplit("/", 1)[-1], url=url)
        return status
    tokens = _command_tokens(handler)
    interpreter = tokens[0]
    script = next((t for t in tokens[1:] if os.path.isabs(t)), None)
    status.update(
        event=next(t for t in reversed(tokens) if t in _EVENT_NAMES),
        command=tokens,
        interpreter=interpreter,
        interpreter_ok=os.path.isfile(interpreter) and os.access(interpreter, os.X_OK),
        script=script,
        script_ok=None if script is None else os.path.isfile(script),
    )
    return status


def _hooks_object(data: dict[str, Any], path: Path, *, create: bool) -> dict[str, Any] | None:
    hooks = data.get("hooks")
    if hooks is None and "hooks" not in data:
        if not create:
            return None
        hooks = data["hooks"] = {}
    if not isinstance(hooks, dict):
        raise InstallError(f'"hooks" is a JSON {_json_type(hooks)}, expected an object; nothing was changed', path)
    return hooks


def _holds_treerag(groups: object) -> bool:
    return isinstance(groups, list) and any(
        isinstance(g, dict) and isinstance(g.get("hooks"), list) and any(map(is_treerag_handler, g["hooks"]))
        for g in groups
    )


def _strip(hooks: dict[str, Any], path: Path, *, drop_empty: set[str]) -> tuple[int, dict[str, int], tuple[str, ...]]:
    """Remove treerag handlers from every event, in place.

    Returns the number removed, per event the index of the first matcher group
    removed (where a replacement goes, so reinstalling keeps its place), and
    the events touched. Groups and events in ``drop_empty`` that the removal
    empties are dropped; already-empty ones are left alone.
    """
    removed = 0
    slots: dict[str, int] = {}
    touched: list[str] = []
    for event in list(hooks):
        groups = hooks[event]
        if not isinstance(groups, list):
            if _holds_treerag([groups]):
                raise InstallError(f'"hooks.{event}" is not an array; nothing was changed', path)
            continue
        kept: list[Any] = []
        count = 0
        for group in groups:
            handlers = group.get("hooks") if isinstance(group, dict) else None
            if not isinstance(handlers, list):
                kept.append(group)
                continue
            others = [h for h in handlers if not is_treerag_handler(h)]
            if len(others) == len(handlers):
                kept.append(group)
                continue
            count += len(handlers) - len(others)
            if others:
                group["hooks"] = others
                kept.append(group)
            else:
                slots.setdefault(event, len(kept))
        if not count:
            continue
        removed += count
        touched.append(event)
        if kept or event not in drop_empty:
            hooks[event] = kept
        else:
            del hooks[event]
    return removed, slots, tuple(touched)


def _json_type(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


# --- the file itself ---------------------------------------------------------------------------


class _SettingsFile:
    """One settings file: read once, parsed, and rewritten only if its content changes."""

    def __init__(self, path: Path, target: Path, raw: bytes | None, data: dict[str, Any], indent: int | str) -> None:
        self.path = path  # as the caller named it
        self.target = target  # the real file behind a symlink (dotfile managers link settings.json)
        self.raw = raw  # None: the file does not exist
        self.data = data
        self.indent = indent
        self.changed = False

    @property
    def existed(self) -> bool:
        return self.raw is not None

    @classmethod
    def read(cls, path: Path) -> _SettingsFile:
        target = Path(os.path.realpath(path))
        try:
            raw: bytes | None = target.read_bytes()
        except FileNotFoundError:
            raw = None
        except IsADirectoryError:
            raise InstallError("is a directory, not a settings file", path) from None
        except NotADirectoryError:
            raise InstallError("a parent of this path is not a directory", path) from None
        except OSError as exc:
            raise InstallError(f"cannot read: {exc.strerror or exc}", path) from exc
        if raw is None or not raw.strip():
            return cls(path, target, raw, {}, 2)
        try:
            text = raw.decode("utf-8-sig")
            data = json.loads(text)
        except UnicodeDecodeError as exc:
            raise InstallError(f"not UTF-8 ({exc.reason} at byte {exc.start}); nothing was changed", path) from None
        except json.JSONDecodeError as exc:
            raise InstallError(
                f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; nothing was changed", path
            ) from None
        if not isinstance(data, dict):
            raise InstallError(f"holds a JSON {_json_type(data)}, expected an object; nothing was changed", path)
        return cls(path, target, raw, data, _detect_indent(text))

    def render(self, data: dict[str, Any]) -> bytes:
        return (json.dumps(data, indent=self.indent, ensure_ascii=False) + "\n").encode()

    def write(self, data: dict[str, Any]) -> Path | None:
        """Write ``data`` if it differs from what was read; back the old file up first. Returns the backup."""
        unchanged = self.render(self.data) if self.raw is not None else None
        new = self.render(data)
        if self.raw is not None and (new == unchanged or new == self.raw):
            return None
        self.changed = True
        target = self.target
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = f"cannot create {target.parent}: {exc.strerror or exc}; nothing was changed"
            raise InstallError(reason, self.path) from exc
        backup = None
        stat = None
        if self.raw is not None:
            stat = target.stat()
            backup = target.with_name(target.name + BACKUP_SUFFIX)
            _atomic_write(backup, self.raw, stat, self.path)
        _atomic_write(target, new, stat, self.path)
        logger.info("wrote %s%s", target, f" (backup {backup})" if backup else "")
        return backup


def _detect_indent(text: str) -> int | str:
    """Keep the file's own indentation (two spaces, four, or a tab); compact files get two spaces."""
    match = re.search(r"\n([ \t]+)\S", text)
    if not match:
        return 2
    lead = match.group(1)
    return "\t" if lead.startswith("\t") else len(lead)


def _atomic_write(path: Path, data: bytes, like: os.stat_result | None, named: Path) -> None:
    """Temp file in the same directory, fsync, rename over ``path``; mode and owner as in ``like``."""
    if like is not None:
        mode = like.st_mode & 0o7777
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise InstallError(f"cannot write in {path.parent}: {exc.strerror or exc}; nothing was changed", named) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            if like is not None:
                with contextlib.suppress(OSError):  # only root may give a file away; keep the user's owner
                    os.fchown(fh.fileno(), like.st_uid, like.st_gid)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise InstallError(f"cannot write {path}: {exc.strerror or exc}", named) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
