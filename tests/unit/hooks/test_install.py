"""The settings installer and the plugin writer: shape, idempotence, round trips, failures."""

from __future__ import annotations

import copy
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

import treerag
from treerag.hooks import run
from treerag.hooks.install import (
    BACKUP_SUFFIX,
    HOOK_EVENTS,
    InstallError,
    build_hooks,
    install_hooks,
    installed_status,
    is_treerag_handler,
    settings_path,
    uninstall_hooks,
)
from treerag.hooks.plugin import write_plugin

RUN_PY = str(Path(run.__file__).resolve())
COMMAND = [sys.executable, "-S", "-I", RUN_PY]
OTHER_COMMAND = ["/opt/other-venv/bin/python", "-S", "-I", "/opt/src/treerag/hooks/run.py"]
HTTP_URL = "http://127.0.0.1:8765"

FOREIGN_PRE = {"matcher": "Bash", "hooks": [{"type": "command", "command": "/usr/local/bin/audit", "timeout": 9}]}
FOREIGN_PROMPT = {"hooks": [{"type": "command", "command": "echo hi"}]}
FOREIGN_STOP = {"hooks": [{"type": "http", "url": "https://example.com/stop"}]}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


def make_settings(project: Path, content: object, *, scope: str = "project", raw: str | None = None) -> Path:
    """Write a settings file for ``scope`` holding ``content`` (as JSON) or ``raw`` text."""
    path = settings_path(scope, project)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(raw if raw is not None else json.dumps(content, indent=2) + "\n")
    return path


def read(path: Path) -> Any:
    return json.loads(path.read_text())


def handlers(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(event, h) for event, groups in data.get("hooks", {}).items() for g in groups for h in g["hooks"]]


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# --- the table and build_hooks -----------------------------------------------------------------


def test_table_matches_hook_client_and_doc() -> None:
    assert {spec.event: claude for claude, spec in HOOK_EVENTS.items()} == run.CLAUDE_EVENT_NAMES
    assert HOOK_EVENTS["SessionStart"].http is False  # SessionStart accepts only command hooks
    assert all(spec.http for name, spec in HOOK_EVENTS.items() if name != "SessionStart")
    assert [n for n, s in HOOK_EVENTS.items() if s.is_async] == ["PostToolUse"]
    assert HOOK_EVENTS["SessionEnd"].timeout < 1.5  # all SessionEnd hooks share a 1.5 s budget


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        pytest.param("user", "home/.claude/settings.json", id="user"),
        pytest.param("project", "proj/.claude/settings.json", id="project"),
        pytest.param("local", "proj/.claude/settings.local.json", id="local"),
    ],
)
def test_settings_path(tmp_path: Path, scope: str, expected: str) -> None:
    assert settings_path(scope, tmp_path / "proj", home=tmp_path / "home") == tmp_path / expected


def test_settings_path_unknown_scope(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match=r"unknown scope 'global'.*user, project, local"):
        settings_path("global", tmp_path)


def test_build_hooks_command_shape() -> None:
    hooks = build_hooks(COMMAND)
    assert list(hooks) == list(HOOK_EVENTS)
    for claude_event, groups in hooks.items():
        spec = HOOK_EVENTS[claude_event]
        assert len(groups) == 1
        group = groups[0]
        assert group.get("matcher") == spec.matcher
        assert ("matcher" in group) is (spec.matcher is not None)
        (handler,) = group["hooks"]
        assert handler["type"] == "command"
        assert os.path.isabs(handler["command"]) and handler["command"] == sys.executable
        assert handler["args"] == [*COMMAND[1:], spec.event]  # exec form: no shell, event last
        assert isinstance(handler["timeout"], int) and handler["timeout"] == spec.timeout
        assert handler.get("async", False) is spec.is_async
        assert set(handler) <= {"type", "command", "args", "timeout", "async"}  # no custom keys
        assert is_treerag_handler(handler)
    assert hooks["PostToolUse"][0]["hooks"][0]["async"] is True


def test_build_hooks_http_variant() -> None:
    hooks = build_hooks(COMMAND, http_url=HTTP_URL + "/")
    session = hooks["SessionStart"][0]["hooks"][0]
    assert session["type"] == "command" and session["args"][-1] == "session-start"
    for claude_event, spec in HOOK_EVENTS.items():
        if claude_event == "SessionStart":
            continue
        (handler,) = hooks[claude_event][0]["hooks"]
        assert handler == {
            "type": "http",
            "url": f"{HTTP_URL}/v1/hooks/{spec.event}",
            "headers": {"Authorization": "Bearer $TREERAG_HTTP_TOKEN"},
            "allowedEnvVars": ["TREERAG_HTTP_TOKEN"],
            "timeout": spec.timeout,
        }
        assert is_treerag_handler(handler)


def test_build_hooks_custom_token_env() -> None:
    handler = build_hooks(COMMAND, http_url=HTTP_URL, token_env="MY_TOKEN")["UserPromptSubmit"][0]["hooks"][0]
    assert handler["headers"] == {"Authorization": "Bearer $MY_TOKEN"}
    assert handler["allowedEnvVars"] == ["MY_TOKEN"]


@pytest.mark.parametrize(
    ("command", "http_url", "message"),
    [
        pytest.param([], None, "non-empty list", id="empty-command"),
        pytest.param("python run.py", None, "non-empty list", id="string-command"),
        pytest.param(["python", "/x/treerag/hooks/run.py"], None, "absolute path", id="relative-interpreter"),
        pytest.param(["/usr/bin/python3", "/x/hook.py"], None, "reference treerag", id="no-treerag-path"),
        pytest.param(COMMAND, "http://10.0.0.5:8765", "loopback", id="remote-host"),
        pytest.param(COMMAND, "https://127.0.0.1:8765", "loopback", id="https"),
        pytest.param(COMMAND, "http://127.0.0.1:8765/base", "no path", id="url-with-path"),
    ],
)
def test_build_hooks_rejects(command: Any, http_url: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_hooks(command, http_url=http_url)


# --- the marker --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("handler", "ours"),
    [
        pytest.param(build_hooks(COMMAND)["PreToolUse"][0]["hooks"][0], True, id="ours-exec"),
        pytest.param(
            {"type": "command", "command": "/home/u/.local/bin/treerag", "args": ["hook", "prompt"]},
            True,
            id="ours-console-script",
        ),
        pytest.param({"type": "command", "command": "/home/u/.local/bin/treerag hook prompt"}, True, id="ours-shell"),
        pytest.param({"type": "http", "url": "http://localhost:9/v1/hooks/pre-tool"}, True, id="ours-http"),
        pytest.param({"type": "http", "url": "http://[::1]:9/v1/hooks/prompt"}, True, id="ours-http-ipv6"),
        pytest.param({"type": "command", "command": "/usr/bin/other", "args": ["prompt"]}, False, id="event-no-path"),
        pytest.param(
            {"type": "command", "command": "/opt/treerag/bin/x", "args": ["status"]}, False, id="path-no-event"
        ),
        pytest.param({"type": "command", "command": "prompt", "args": ["/treerag"]}, False, id="event-as-command"),
        pytest.param({"type": "http", "url": "https://example.com/v1/hooks/prompt"}, False, id="remote-http"),
        pytest.param({"type": "http", "url": "http://127.0.0.1:9/v1/hooks/other"}, False, id="http-other-path"),
        pytest.param({"type": "http", "url": "http://127.0.0.1:9/api/v1/hooks/prompt"}, False, id="http-prefix"),
        pytest.param({"type": "mcp_tool", "server": "treerag", "tool": "prompt"}, False, id="mcp-tool"),
        pytest.param({"type": "command", "command": "treerag 'unbalanced"}, False, id="bad-shell-quoting"),
        pytest.param("treerag prompt", False, id="not-an-object"),
    ],
)
def test_marker(handler: object, ours: bool) -> None:
    assert is_treerag_handler(handler) is ours


# --- install -----------------------------------------------------------------------------------


def test_fresh_install_creates_file(project: Path) -> None:
    result = install_hooks("project", project, COMMAND)
    path = project / ".claude" / "settings.json"
    assert result.settings_path == path
    assert result.backup_path is None and result.changed and result.replaced == 0
    assert result.events_added == tuple(HOOK_EVENTS)
    assert read(path) == {"hooks": build_hooks(COMMAND)}
    assert path.read_text().endswith("}\n")
    assert not path.with_name(path.name + BACKUP_SUFFIX).exists()
    assert leftovers(path.parent) == []


def test_user_scope_uses_home(tmp_path: Path, project: Path) -> None:
    home = tmp_path / "elsewhere"
    result = install_hooks("user", project, COMMAND, home=home)
    assert result.settings_path == home / ".claude" / "settings.json"
    assert read(result.settings_path) == {"hooks": build_hooks(COMMAND)}
    assert not (project / ".claude").exists()


ORIGINAL = {
    "model": "opus",
    "permissions": {"allow": ["Bash(git status)"], "deny": []},
    "hooks": {
        "PreToolUse": [FOREIGN_PRE],
        "UserPromptSubmit": [FOREIGN_PROMPT],
        "Stop": [FOREIGN_STOP],
    },
    "env": {"FOO": "1"},
}


def test_install_keeps_unrelated_keys_and_hooks(project: Path) -> None:
    path = make_settings(project, ORIGINAL)
    original_bytes = path.read_bytes()
    result = install_hooks("project", project, COMMAND)
    data = read(path)
    assert list(data) == ["model", "permissions", "hooks", "env"]
    assert {k: v for k, v in data.items() if k != "hooks"} == {k: v for k, v in ORIGINAL.items() if k != "hooks"}
    assert list(data["hooks"]) == [
        "PreToolUse",
        "UserPromptSubmit",
        "Stop",
        *[e for e in HOOK_EVENTS if e not in ("PreToolUse", "UserPromptSubmit")],
    ]
    assert data["hooks"]["PreToolUse"] == [FOREIGN_PRE, *build_hooks(COMMAND)["PreToolUse"]]  # foreign stays first
    assert data["hooks"]["UserPromptSubmit"] == [FOREIGN_PROMPT, *build_hooks(COMMAND)["UserPromptSubmit"]]
    assert data["hooks"]["Stop"] == [FOREIGN_STOP]
    assert result.backup_path == path.with_name("settings.json" + BACKUP_SUFFIX)
    assert result.backup_path.read_bytes() == original_bytes


def test_install_twice_is_byte_identical(project: Path) -> None:
    path = make_settings(project, ORIGINAL)
    original_bytes = path.read_bytes()
    install_hooks("project", project, COMMAND)
    first = path.read_bytes()
    stat_before = path.stat()
    again = install_hooks("project", project, COMMAND)
    assert path.read_bytes() == first
    assert path.stat().st_ino == stat_before.st_ino  # not even rewritten
    assert not again.changed and again.backup_path is None
    assert again.replaced == len(HOOK_EVENTS) and again.events_added == ()
    assert path.with_name(path.name + BACKUP_SUFFIX).read_bytes() == original_bytes  # backup kept


def test_install_after_command_change_replaces_in_place(project: Path) -> None:
    path = make_settings(project, {"hooks": {"PreToolUse": [FOREIGN_PRE]}})
    install_hooks("project", project, OTHER_COMMAND)
    # the user adds a hook after ours; reinstalling must keep our group where it was
    data = read(path)
    data["hooks"]["PreToolUse"].append(FOREIGN_PROMPT)
    path.write_text(json.dumps(data, indent=2) + "\n")
    before = path.read_bytes()

    result = install_hooks("project", project, COMMAND)
    data = read(path)
    assert result.replaced == len(HOOK_EVENTS) and result.changed
    assert result.backup_path is not None and result.backup_path.read_bytes() == before
    ours = [h for _, h in handlers(data) if is_treerag_handler(h)]
    assert len(ours) == len(HOOK_EVENTS)
    assert all(h["command"] == sys.executable for h in ours)
    assert OTHER_COMMAND[0] not in path.read_text()
    assert data["hooks"]["PreToolUse"] == [FOREIGN_PRE, *build_hooks(COMMAND)["PreToolUse"], FOREIGN_PROMPT]


def test_install_switches_between_command_and_http(project: Path) -> None:
    path = make_settings(project, ORIGINAL)
    install_hooks("project", project, COMMAND, http_url=HTTP_URL)
    data = read(path)
    assert data["hooks"]["SessionStart"] == build_hooks(COMMAND)["SessionStart"]
    assert data["hooks"]["PreToolUse"] == [FOREIGN_PRE, *build_hooks(COMMAND, http_url=HTTP_URL)["PreToolUse"]]
    install_hooks("project", project, COMMAND)
    assert {k: v for k, v in read(path)["hooks"].items()} == {
        **ORIGINAL["hooks"],  # type: ignore[dict-item]
        "PreToolUse": [FOREIGN_PRE, *build_hooks(COMMAND)["PreToolUse"]],
        "UserPromptSubmit": [FOREIGN_PROMPT, *build_hooks(COMMAND)["UserPromptSubmit"]],
        **{e: g for e, g in build_hooks(COMMAND).items() if e not in ("PreToolUse", "UserPromptSubmit")},
    }
    assert "127.0.0.1" not in path.read_text()


def test_install_removes_legacy_handlers_on_other_events(project: Path) -> None:
    legacy = {"type": "command", "command": "/old/treerag", "args": ["hook", "session-end"]}
    path = make_settings(project, {"hooks": {"Stop": [{"hooks": [legacy]}], "Notification": []}})
    result = install_hooks("project", project, COMMAND)
    data = read(path)
    assert "Stop" not in data["hooks"]  # emptied by us: dropped
    assert data["hooks"]["Notification"] == []  # already empty: left alone
    assert result.replaced == 1


def test_install_keeps_file_indentation(project: Path) -> None:
    path = make_settings(project, None, raw=json.dumps({"model": "opus"}, indent=4) + "\n")
    install_hooks("project", project, COMMAND)
    text = path.read_text()
    assert text.startswith('{\n    "model"')
    assert text == json.dumps(read(path), indent=4) + "\n"


@pytest.mark.parametrize(
    "raw",
    [pytest.param("", id="empty"), pytest.param("  \n", id="whitespace")],
)
def test_install_over_empty_file(project: Path, raw: str) -> None:
    path = make_settings(project, None, raw=raw)
    install_hooks("project", project, COMMAND)
    assert read(path) == {"hooks": build_hooks(COMMAND)}


def test_install_preserves_mode_and_leaves_no_temp_files(project: Path) -> None:
    path = make_settings(project, ORIGINAL)
    path.chmod(0o640)
    result = install_hooks("project", project, COMMAND)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert result.backup_path is not None and stat.S_IMODE(result.backup_path.stat().st_mode) == 0o640
    assert leftovers(path.parent) == []
    uninstall_hooks("project", project)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert leftovers(path.parent) == []


def test_install_writes_through_symlink(tmp_path: Path, project: Path) -> None:
    real = tmp_path / "dotfiles" / "claude-settings.json"
    real.parent.mkdir()
    real.write_text(json.dumps({"model": "opus"}))
    link = settings_path("project", project)
    link.parent.mkdir()
    link.symlink_to(real)
    install_hooks("project", project, COMMAND)
    assert link.is_symlink()
    assert read(real) == {"model": "opus", "hooks": build_hooks(COMMAND)}


# --- uninstall ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "original",
    [
        pytest.param(ORIGINAL, id="foreign-hooks-and-keys"),
        pytest.param({"model": "opus"}, id="no-hooks-key"),
        pytest.param({"hooks": {}}, id="empty-hooks"),
        pytest.param({"hooks": {"SessionStart": [{"matcher": "startup", "hooks": []}]}}, id="empty-foreign-group"),
        pytest.param(
            {"hooks": {"PreToolUse": [FOREIGN_PRE, FOREIGN_PRE]}, "x": [1, 2.5, None, True]}, id="duplicate-foreign"
        ),
    ],
)
def test_uninstall_restores_original(project: Path, original: dict[str, Any]) -> None:
    path = make_settings(project, original)
    install_hooks("project", project, COMMAND, http_url=HTTP_URL)
    install_hooks("project", project, COMMAND)
    result = uninstall_hooks("project", project)
    assert result.removed == len(HOOK_EVENTS) and result.changed
    assert set(result.events) == set(HOOK_EVENTS)
    restored = read(path)
    expected = copy.deepcopy(original)
    if expected.get("hooks") == {}:
        del expected["hooks"]  # an empty "hooks" object means the same as none; uninstall drops it
    assert restored == expected
    assert list(restored) == list(expected)


def test_uninstall_keeps_foreign_handler_added_to_our_group(project: Path) -> None:
    path = make_settings(project, {})
    install_hooks("project", project, COMMAND)
    data = read(path)
    data["hooks"]["PreToolUse"][0]["hooks"].append(FOREIGN_PRE["hooks"][0])
    path.write_text(json.dumps(data))
    result = uninstall_hooks("project", project)
    assert result.removed == len(HOOK_EVENTS)
    assert read(path) == {"hooks": {"PreToolUse": [{"matcher": "Read|Grep|Glob", "hooks": [FOREIGN_PRE["hooks"][0]]}]}}


def test_fresh_install_then_uninstall_leaves_empty_object(project: Path) -> None:
    install_hooks("project", project, COMMAND)
    result = uninstall_hooks("project", project)
    path = project / ".claude" / "settings.json"
    assert path.read_text() == "{}\n"  # the file is kept, never deleted
    assert result.backup_path is not None and read(result.backup_path) == {"hooks": build_hooks(COMMAND)}


@pytest.mark.parametrize(
    "content",
    [pytest.param(None, id="no-file"), pytest.param(ORIGINAL, id="nothing-of-ours")],
)
def test_uninstall_nothing_to_do(project: Path, content: dict[str, Any] | None) -> None:
    path = settings_path("project", project)
    if content is not None:
        make_settings(project, content)
    before = path.read_bytes() if content is not None else None
    result = uninstall_hooks("project", project)
    assert result.removed == 0 and not result.changed and result.backup_path is None
    if content is None:
        assert not path.parent.exists()
    else:
        assert path.read_bytes() == before
        assert not path.with_name(path.name + BACKUP_SUFFIX).exists()


# --- failures ----------------------------------------------------------------------------------


BAD_JSON = '{\n  "model": "opus",\n  "hooks": {,}\n}\n'


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(BAD_JSON, r"invalid JSON at line 3, column 13", id="syntax"),
        pytest.param("[1, 2]\n", r"holds a JSON array, expected an object", id="top-level-array"),
        pytest.param('{"hooks": []}', r'"hooks" is a JSON array, expected an object', id="hooks-array"),
    ],
)
@pytest.mark.parametrize("action", ["install", "uninstall", "status"])
def test_bad_settings_change_nothing(project: Path, raw: str, message: str, action: str) -> None:
    path = make_settings(project, None, raw=raw)
    with pytest.raises(InstallError, match=message) as info:
        if action == "install":
            install_hooks("project", project, COMMAND)
        elif action == "uninstall":
            uninstall_hooks("project", project)
        else:
            installed_status("project", project)
    assert str(info.value).startswith(f"{path}: ")
    assert info.value.path == path
    assert path.read_text() == raw
    assert sorted(p.name for p in path.parent.iterdir()) == ["settings.json"]


@pytest.mark.parametrize(
    "event_value",
    [pytest.param({}, id="object"), pytest.param("x", id="string")],
)
def test_install_refuses_malformed_event_list(project: Path, event_value: object) -> None:
    path = make_settings(project, {"hooks": {"PreToolUse": event_value}})
    before = path.read_bytes()
    with pytest.raises(InstallError, match=r'"hooks.PreToolUse" is a JSON .*, expected an array'):
        install_hooks("project", project, COMMAND)
    assert path.read_bytes() == before
    assert uninstall_hooks("project", project).removed == 0  # foreign shapes are not ours to judge
    assert path.read_bytes() == before


def test_non_utf8_settings(project: Path) -> None:
    path = settings_path("project", project)
    path.parent.mkdir()
    path.write_bytes(b'{"model": "\xff"}')
    with pytest.raises(InstallError, match="not UTF-8"):
        install_hooks("project", project, COMMAND)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        pytest.param("parent-is-file", "a parent of this path is not a directory", id="parent-is-file"),
        pytest.param("path-is-dir", "is a directory, not a settings file", id="path-is-dir"),
    ],
)
def test_unwritable_settings(project: Path, setup: str, message: str) -> None:
    path = settings_path("project", project)
    if setup == "parent-is-file":
        path.parent.write_text("not a directory")
    else:
        path.mkdir(parents=True)
    with pytest.raises(InstallError, match=message) as info:
        install_hooks("project", project, COMMAND)
    assert info.value.path == path and str(path) in str(info.value)
    with pytest.raises(InstallError, match=message):
        uninstall_hooks("project", project)
    if setup == "parent-is-file":
        assert path.parent.read_text() == "not a directory"
    else:
        assert path.is_dir() and list(path.iterdir()) == []


def test_failed_write_leaves_file_and_no_temp(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_settings(project, ORIGINAL)
    before = path.read_bytes()

    def refuse(src: str, dst: str) -> None:
        if Path(dst) == path:
            raise PermissionError(13, "Permission denied")
        os.rename(src, dst)

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(InstallError, match=r"cannot write .*Permission denied"):
        install_hooks("project", project, COMMAND)
    assert path.read_bytes() == before
    assert leftovers(path.parent) == []


# --- status ------------------------------------------------------------------------------------


def test_status_without_file(project: Path) -> None:
    status = installed_status("project", project)
    assert status["exists"] is False and status["events"] == {} and status["ok"] is False
    assert status["missing"] == list(HOOK_EVENTS)


def test_status_after_install(project: Path) -> None:
    make_settings(project, ORIGINAL)
    install_hooks("project", project, COMMAND)
    status = installed_status("project", project)
    assert status["exists"] and status["ok"] and status["missing"] == []
    assert set(status["events"]) == set(HOOK_EVENTS)
    (pre,) = status["events"]["PreToolUse"]
    assert pre == {
        "type": "command",
        "event": "pre-tool",
        "matcher": "Read|Grep|Glob",
        "timeout": 2,
        "command": [*COMMAND, "pre-tool"],
        "interpreter": sys.executable,
        "interpreter_ok": True,
        "script": RUN_PY,
        "script_ok": True,
    }


def test_status_reports_missing_interpreter_and_partial_install(project: Path) -> None:
    path = make_settings(project, {})
    install_hooks("project", project, OTHER_COMMAND)
    data = read(path)
    del data["hooks"]["SessionEnd"]
    data["disableAllHooks"] = True
    path.write_text(json.dumps(data))
    status = installed_status("project", project)
    assert status["missing"] == ["SessionEnd"]
    assert status["disable_all_hooks"] is True and status["ok"] is False
    (prompt,) = status["events"]["UserPromptSubmit"]
    assert prompt["interpreter_ok"] is False and prompt["script_ok"] is False


def test_status_http(project: Path) -> None:
    install_hooks("project", project, COMMAND, http_url=HTTP_URL)
    status = installed_status("project", project)
    assert status["ok"]
    (prompt,) = status["events"]["UserPromptSubmit"]
    assert prompt == {
        "type": "http",
        "event": "prompt",
        "matcher": None,
        "timeout": 3,
        "url": f"{HTTP_URL}/v1/hooks/prompt",
    }
    assert status["events"]["SessionStart"][0]["type"] == "command"


# --- plugin ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(COMMAND, id="absolute"),
        pytest.param(["${CLAUDE_PLUGIN_ROOT}/bin/treerag-hook"], id="plugin-root"),
        pytest.param([sys.executable, "-S", "-I", "${CLAUDE_PLUGIN_ROOT}/treerag/hooks/run.py"], id="plugin-root-arg"),
    ],
)
def test_plugin_layout(tmp_path: Path, command: list[str]) -> None:
    dest = write_plugin(tmp_path / "plugin", command)
    assert dest == tmp_path / "plugin"
    manifest = json.loads((dest / ".claude-plugin" / "plugin.json").read_text())
    assert manifest["name"] == "treerag" and manifest["version"] == treerag.__version__
    assert isinstance(manifest["description"], str) and manifest["description"]
    hooks = json.loads((dest / "hooks" / "hooks.json").read_text())
    assert hooks == {"hooks": build_hooks(command)}
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == [
        ".claude-plugin/plugin.json",
        "hooks/hooks.json",
    ]


def test_plugin_rewrite_is_identical_and_refreshes(tmp_path: Path) -> None:
    dest = write_plugin(tmp_path / "plugin", OTHER_COMMAND)
    write_plugin(dest, COMMAND)
    first = (dest / "hooks" / "hooks.json").read_bytes()
    write_plugin(dest, COMMAND)
    assert (dest / "hooks" / "hooks.json").read_bytes() == first
    assert json.loads(first) == {"hooks": build_hooks(COMMAND)}


def test_plugin_dest_is_a_file(tmp_path: Path) -> None:
    dest = tmp_path / "plugin"
    dest.write_text("x")
    with pytest.raises(InstallError, match="cannot create"):
        write_plugin(dest, COMMAND)
