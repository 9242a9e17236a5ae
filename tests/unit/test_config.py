"""Configuration: precedence, sources, typo suggestions, bad values, XDG paths."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from treerag import config as config_module
from treerag.config import Config, ConfigError, env_name, load_config
from treerag.paths import cache_dir, config_path, runtime_dir, socket_path, state_dir

WriteConfig = Callable[[str], Path]


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """Factory: write a config.toml with ``text`` and return its path."""

    def make(text: str, name: str = "config.toml") -> Path:
        path = tmp_path / "conf" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    return make


def test_defaults() -> None:
    config = load_config(env={})
    assert config == Config()
    assert config.get("daemon.socket_path") == ""
    assert config.get("daemon.read_timeout_s") == 10.0
    assert config.get("daemon.frame_limit_bytes") == 1 << 20
    assert config.get("http.enabled") is False
    assert config.get("http.port") == 7451
    assert config.get("resources.memory_limit_mb") == 100
    assert config.get("enrich.allow") == ("**",)
    assert config.get("enrich.deny") == ()
    assert config.resources.memory_limit_mb == 100  # attribute access works too
    assert set(config.sources.values()) == {"default"}


def test_default_file_location_is_read(isolated_env: Path) -> None:
    path = isolated_env / ".config" / "treerag" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text("[resources]\nmemory_limit_mb = 80\n")
    config = load_config()
    assert config.get("resources.memory_limit_mb") == 80
    assert config.source("resources.memory_limit_mb") == f"file:{path}"


FILE = """
[daemon]
log_level = "warning"
read_timeout_s = 2
[resources]
memory_limit_mb = 70
[http]
port = 8000
[enrich]
allow = ["src/**"]
"""


@pytest.mark.parametrize(
    ("key", "env", "flags", "value", "source"),
    [
        pytest.param("daemon.log_level", {}, {}, "warning", "file", id="file-beats-default"),
        pytest.param("daemon.read_timeout_s", {}, {}, 2.0, "file", id="file-int-for-float"),
        pytest.param("daemon.max_connections", {}, {}, 256, "default", id="default"),
        pytest.param("daemon.log_level", {"TREERAG_DAEMON_LOG_LEVEL": "debug"}, {}, "debug",
                     "env:TREERAG_DAEMON_LOG_LEVEL", id="env-beats-file"),
        pytest.param("resources.memory_limit_mb", {"TREERAG_RESOURCES_MEMORY_LIMIT_MB": "90"}, {}, 90,
                     "env:TREERAG_RESOURCES_MEMORY_LIMIT_MB", id="env-int"),
        pytest.param("resources.memory_limit_mb", {"TREERAG_RESOURCES_MEMORY_LIMIT_MB": "90"},
                     {"resources.memory_limit_mb": 60}, 60, "flag:--resources.memory_limit_mb", id="flag-beats-env"),
        pytest.param("daemon.log_level", {"TREERAG_DAEMON_LOG_LEVEL": "debug"}, {"daemon.log_level": "error"},
                     "error", "flag:--log-level", id="flag-named-by-cli-option"),
        pytest.param("http.enabled", {"TREERAG_HTTP_ENABLED": "no"}, {"http.enabled": True}, True,
                     "flag:--http", id="flag-bool"),
        pytest.param("http.port", {}, {"http.port": None}, 8000, "file", id="none-flag-is-not-given"),
        pytest.param("daemon.socket_path", {"TREERAG_SOCKET": "/a.sock"}, {}, "/a.sock", "env:TREERAG_SOCKET",
                     id="alias"),
        pytest.param("daemon.socket_path", {"TREERAG_SOCKET": "/a.sock", "TREERAG_DAEMON_SOCKET_PATH": "/b.sock"},
                     {}, "/b.sock", "env:TREERAG_DAEMON_SOCKET_PATH", id="full-name-beats-alias"),
        pytest.param("resources.memory_limit_mb", {"TREERAG_MEMORY_LIMIT_MB": "50"}, {}, 50,
                     "env:TREERAG_MEMORY_LIMIT_MB", id="alias-memory"),
        pytest.param("enrich.allow", {"TREERAG_ENRICH_ALLOW": "src/**, lib/*.py,"}, {}, ("src/**", "lib/*.py"),
                     "env:TREERAG_ENRICH_ALLOW", id="env-list"),
        pytest.param("enrich.allow", {}, {"enrich.allow": ["a", "b"]}, ("a", "b"), "flag:--enrich.allow",
                     id="flag-list"),
        pytest.param("http.port", {}, {"http.port": "9000"}, 9000, "flag:--http.port", id="string-flag-coerced"),
    ],
)
def test_precedence(
    write_config: WriteConfig, key: str, env: dict[str, str], flags: dict[str, object], value: object, source: str
) -> None:
    path = write_config(FILE)
    config = load_config(flags=flags, env=env, path=path)
    assert config.get(key) == value
    assert config.source(key) == (f"file:{path}" if source == "file" else source)


def test_describe_lists_every_key_with_value_and_source(write_config: WriteConfig) -> None:
    path = write_config(FILE)
    config = load_config(flags={"daemon.socket_path": "/s.sock"}, env={"TREERAG_INDEX_WORKERS": "3"}, path=path)
    rows = {key: (value, source) for key, value, source in config.describe()}
    assert len(rows) == len(config.describe()) == len(config.sources)
    assert rows["daemon.socket_path"] == ("/s.sock", "flag:--socket")
    assert rows["index.workers"] == (3, "env:TREERAG_INDEX_WORKERS")
    assert rows["resources.memory_limit_mb"] == (70, f"file:{path}")
    assert rows["context.budget_tokens"] == (2000, "default")
    assert next(key for key, _, _ in config.describe()) == "daemon.socket_path"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("[resources]\nmemory_limt_mb = 5\n",
                     "unknown key 'resources.memory_limt_mb' (did you mean 'resources.memory_limit_mb'?)",
                     id="key-typo"),
        pytest.param("[daemon]\nsocket = '/x'\n", "unknown key 'daemon.socket'", id="key-unknown"),
        pytest.param("[resourses]\nmemory_limit_mb = 5\n", "unknown section [resourses] (did you mean 'resources'?)",
                     id="section-typo"),
        pytest.param("[gui]\ntheme = 'dark'\n", "unknown section [gui]", id="section-unknown"),
        pytest.param("memory_limit_mb = 5\n",
                     "unknown key 'memory_limit_mb' (did you mean 'resources.memory_limit_mb'?)",
                     id="key-outside-section"),
        pytest.param("daemon = 5\n", "'daemon' must be a table", id="section-not-a-table"),
        pytest.param("[daemon.extra]\nx = 1\n", "unknown key 'daemon.extra'", id="nested-table"),
    ],
)
def test_unknown_names_in_the_file(write_config: WriteConfig, text: str, message: str) -> None:
    path = write_config(text)
    with pytest.raises(ConfigError) as info:
        load_config(env={}, path=path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert info.value.source == str(path) and info.value.code == "config"


def test_the_exact_message_for_a_typo(write_config: WriteConfig) -> None:
    path = write_config("[resources]\nmemory_limt_mb = 5\n")
    with pytest.raises(ConfigError) as info:
        load_config(env={}, path=path)
    assert str(info.value) == (
        f"{path}: unknown key 'resources.memory_limt_mb' (did you mean 'resources.memory_limit_mb'?)"
    )
    assert info.value.key == "resources.memory_limt_mb"


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        pytest.param("[resources]\nmemory_limit_mb = '100'\n", "resources.memory_limit_mb", "an integer",
                     id="str-for-int"),
        pytest.param("[resources]\nmemory_limit_mb = 1.5\n", "resources.memory_limit_mb", "an integer",
                     id="float-for-int"),
        pytest.param("[resources]\nmemory_limit_mb = true\n", "resources.memory_limit_mb", "an integer",
                     id="bool-for-int"),
        pytest.param("[http]\nenabled = 1\n", "http.enabled", "a boolean", id="int-for-bool"),
        pytest.param("[daemon]\nread_timeout_s = 'fast'\n", "daemon.read_timeout_s", "a number", id="str-for-float"),
        pytest.param("[enrich]\nallow = 'src/**'\n", "enrich.allow", "a list of strings", id="str-for-list"),
        pytest.param("[enrich]\ndeny = [1, 2]\n", "enrich.deny", "a list of strings", id="ints-in-list"),
        pytest.param("[daemon]\nsocket_path = 5\n", "daemon.socket_path", "a string", id="int-for-str"),
        pytest.param("[daemon]\nlog_level = 'loud'\n", "daemon.log_level", "one of debug, info, warning, error",
                     id="not-a-choice"),
        pytest.param("[http]\nport = 70000\n", "http.port", "from 1 to 65535", id="port-range"),
        pytest.param("[resources]\nmemory_limit_mb = -1\n", "resources.memory_limit_mb", ">= 0", id="negative"),
        pytest.param("[daemon]\nread_timeout_s = nan\n", "daemon.read_timeout_s", "a number", id="nan"),
    ],
)
def test_bad_value_in_the_file(write_config: WriteConfig, text: str, key: str, expected: str) -> None:
    path = write_config(text)
    with pytest.raises(ConfigError) as info:
        load_config(env={}, path=path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key} expects ")
    assert expected in message
    assert info.value.key == key


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        pytest.param("TREERAG_RESOURCES_MEMORY_LIMIT_MB", "lots", "an integer", id="int"),
        pytest.param("TREERAG_RESOURCES_MEMORY_LIMIT_MB", "", "an integer", id="empty-int"),
        pytest.param("TREERAG_DAEMON_READ_TIMEOUT_S", "fast", "a number", id="float"),
        pytest.param("TREERAG_DAEMON_READ_TIMEOUT_S", "inf", "a number", id="infinite"),
        pytest.param("TREERAG_HTTP_ENABLED", "maybe", "a boolean", id="bool"),
        pytest.param("TREERAG_INDEX_NICE", "40", "from -20 to 19", id="range"),
        pytest.param("TREERAG_LOG_LEVEL", "LOUD", "one of", id="alias-choice"),
    ],
)
def test_bad_value_in_the_environment(name: str, raw: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env={name: raw})
    message = str(info.value)
    key = config_module._ENV_KEYS.get(name) or config_module.ENV_ALIASES[name]
    assert message.startswith(f"{name}: {key} expects ")
    assert expected in message and repr(raw) in message


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        pytest.param("1", True, id="1"),
        pytest.param("TRUE", True, id="TRUE"),
        pytest.param("yes", True, id="yes"),
        pytest.param(" on ", True, id="on"),
        pytest.param("0", False, id="0"),
        pytest.param("false", False, id="false"),
        pytest.param("No", False, id="No"),
        pytest.param("off", False, id="off"),
    ],
)
def test_booleans_from_the_environment(raw: str, value: bool) -> None:
    assert load_config(env={"TREERAG_HTTP_ENABLED": raw}).get("http.enabled") is value


def test_bad_flag_value_names_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"^flag --socket: daemon.socket_path expects a string, got 5$"):
        load_config(flags={"daemon.socket_path": 5}, env={})
    with pytest.raises(ConfigError, match=r"flag --daemon.sockt_path: unknown key .*'daemon.socket_path'"):
        load_config(flags={"daemon.sockt_path": "/x"}, env={})


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        pytest.param("TREERAG_RESOURCES_MEMORY_LIMT_MB", "TREERAG_RESOURCES_MEMORY_LIMIT_MB", id="typo"),
        pytest.param("TREERAG_SOCKT", "TREERAG_SOCKET", id="alias-typo"),
        pytest.param("TREERAG_DAEMON_SOCKET", "TREERAG_DAEMON_SOCKET_PATH", id="short"),
    ],
)
def test_unknown_environment_variable(name: str, suggestion: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env={name: "1"})
    assert str(info.value) == f"{name}: unknown treerag variable (did you mean {suggestion!r}?)"


def test_unknown_environment_variable_without_a_close_match() -> None:
    with pytest.raises(ConfigError, match=r"^TREERAG_ZZZ: unknown treerag variable$"):
        load_config(env={"TREERAG_ZZZ": "1"})


def test_non_config_treerag_variables_are_allowed(tmp_path: Path) -> None:
    env = {"TREERAG_HTTP_TOKEN": "secret", "TREERAG_ENRICH_API_KEY_ENV": "TREERAG_LLM_KEY", "TREERAG_LLM_KEY": "k"}
    config = load_config(env=env)
    assert config.get("enrich.api_key_env") == "TREERAG_LLM_KEY"
    with pytest.raises(ConfigError, match="TREERAG_LLM_KEY: unknown"):
        load_config(env={"TREERAG_LLM_KEY": "k"})  # only when enrich.api_key_env names it


def test_other_variables_are_ignored() -> None:
    assert load_config(env={"PATH": "/bin", "TREERAGX": "1", "XDG_CONFIG_HOME": "/nowhere"}) == Config()


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param("[daemon]\nlog_level = \n", 2, id="missing-value"),
        pytest.param("[daemon]\nlog_level = 'info'\n[daemon\n", 3, id="unclosed-table"),
        pytest.param("[daemon]\nlog_level = 'info'\nlog_level = 'debug'\n", 3, id="duplicate-key"),
    ],
)
def test_toml_syntax_error_names_file_and_line(write_config: WriteConfig, text: str, line: int) -> None:
    path = write_config(text)
    with pytest.raises(ConfigError) as info:
        load_config(env={}, path=path)
    assert str(info.value).startswith(f"{path}: line {line}, column ")
    assert "invalid TOML" in str(info.value)


def test_file_that_is_not_utf8(write_config: WriteConfig) -> None:
    path = write_config("")
    path.write_bytes(b"[daemon]\nlog_level = '\xff'\n")
    with pytest.raises(ConfigError, match=r"^.*config\.toml: not UTF-8 \("):
        load_config(env={}, path=path)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(env={}, path=tmp_path)  # a directory


def test_treerag_config_overrides_the_path(write_config: WriteConfig, isolated_env: Path) -> None:
    default = isolated_env / ".config" / "treerag" / "config.toml"
    default.parent.mkdir(parents=True)
    default.write_text("[index]\nworkers = 2\n")
    other = write_config("[index]\nworkers = 4\n", name="other.toml")
    env = {"TREERAG_CONFIG": str(other), "XDG_CONFIG_HOME": str(isolated_env / ".config")}
    config = load_config(env=env)
    assert config.get("index.workers") == 4 and config.source("index.workers") == f"file:{other}"
    assert load_config(env={"XDG_CONFIG_HOME": env["XDG_CONFIG_HOME"]}).get("index.workers") == 2
    assert load_config(env=env, path=default).get("index.workers") == 2  # the argument beats the variable


def test_missing_file(tmp_path: Path) -> None:
    assert load_config(env={"XDG_CONFIG_HOME": str(tmp_path)}) == Config()  # default location: fine
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=f"^{missing}: config file not found$"):
        load_config(env={"TREERAG_CONFIG": str(missing)})
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(env={}, path=missing)


def test_config_is_frozen_and_get_rejects_unknown_keys() -> None:
    config = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.daemon = None  # type: ignore[misc]
    with pytest.raises(KeyError, match=re.escape("did you mean 'daemon.log_level'")):
        config.get("daemon.log_levl")


def test_env_name_mapping() -> None:
    assert env_name("daemon.socket_path") == "TREERAG_DAEMON_SOCKET_PATH"
    assert env_name("resources.memory_limit_mb") == "TREERAG_RESOURCES_MEMORY_LIMIT_MB"
    keys = [key for key, _, _ in Config().describe()]
    assert len({env_name(key) for key in keys}) == len(keys)  # no two keys share a variable


# -- paths --------------------------------------------------------------------------------


def test_xdg_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert runtime_dir() == runtime / "treerag"
    assert state_dir() == tmp_path / "state" / "treerag"
    assert cache_dir() == tmp_path / "cache" / "treerag"
    assert config_path() == tmp_path / "config" / "treerag" / "config.toml"
    assert socket_path(load_config()) == runtime / "treerag" / "treerag.sock"
    assert not (runtime / "treerag").exists()  # computing a path creates nothing


def test_xdg_fallbacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    for name in ("XDG_RUNTIME_DIR", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    assert runtime_dir() == Path(f"/tmp/treerag-{os.getuid()}")
    assert state_dir() == home / ".local" / "state" / "treerag"
    assert cache_dir() == home / ".cache" / "treerag"
    assert config_path() == home / ".config" / "treerag" / "config.toml"
    assert socket_path() == Path(f"/tmp/treerag-{os.getuid()}/treerag.sock")


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({"XDG_RUNTIME_DIR": "relative/run", "XDG_CACHE_HOME": "rel", "XDG_STATE_HOME": ""},
                     id="relative-or-empty"),
        pytest.param({"XDG_RUNTIME_DIR": "/nonexistent/run"}, id="runtime-dir-missing"),
    ],
)
def test_unusable_xdg_values_are_ignored(env: dict[str, str]) -> None:
    env = {"HOME": "/home/u", **env}
    assert runtime_dir(env) == Path(f"/tmp/treerag-{os.getuid()}")
    assert cache_dir(env) == Path("/home/u/.cache/treerag")
    assert state_dir(env) == Path("/home/u/.local/state/treerag")


def test_socket_path_from_config() -> None:
    assert socket_path(load_config(flags={"daemon.socket_path": "/tmp/x/t.sock"}, env={})) == Path("/tmp/x/t.sock")
    assert socket_path(load_config(env={"TREERAG_SOCKET": "/tmp/y.sock"})) == Path("/tmp/y.sock")


def test_config_reexports_the_path_helpers() -> None:
    for name in ("runtime_dir", "state_dir", "cache_dir", "config_path", "socket_path"):
        assert name in config_module.__all__ and callable(getattr(config_module, name))
