"""treerag's configuration: the schema with its defaults, and where each value comes from.

The schema is the section dataclasses below; a key is ``section.name``
(``daemon.socket_path``). :func:`load_config` resolves every key once, in this
order (the first that sets a key wins):

1. an explicit flag (``flags={"daemon.socket_path": ...}``, None means "not given");
2. a ``TREERAG_<SECTION>_<NAME>`` environment variable, upper case
   (``TREERAG_RESOURCES_MEMORY_LIMIT_MB=80``); a few short aliases
   (:data:`ENV_ALIASES`) are accepted, and lose to the full name;
3. the config file: ``path``, else ``$TREERAG_CONFIG``, else
   ``$XDG_CONFIG_HOME/treerag/config.toml``, else ``~/.config/treerag/config.toml``;
4. the default.

Environment values are text, converted to the key's type: booleans from
1/0/true/false/yes/no/on/off, lists from comma-separated items. A bad value,
an unknown key or section, an unknown ``TREERAG_*`` variable or a TOML syntax
error raises :class:`~treerag.errors.ConfigError` naming the file or variable,
the key, what was expected and, for a typo, the closest valid name.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from treerag.errors import ConfigError
from treerag.paths import cache_dir, config_path, runtime_dir, socket_path, state_dir

__all__ = [
    "ENV_ALIASES",
    "Config",
    "ConfigError",
    "ContextConfig",
    "DaemonConfig",
    "EnrichConfig",
    "HttpConfig",
    "IndexConfig",
    "ResourcesConfig",
    "cache_dir",
    "config_path",
    "env_name",
    "load_config",
    "runtime_dir",
    "socket_path",
    "state_dir",
]


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    socket_path: str = ""  # "" = runtime_dir()/treerag.sock
    log_level: str = "info"
    read_timeout_s: float = 10.0
    frame_limit_bytes: int = 1 << 20
    max_connections: int = 256
    shutdown_grace_s: float = 5.0


@dataclass(frozen=True, slots=True)
class HttpConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 7451


@dataclass(frozen=True, slots=True)
class IndexConfig:
    max_file_bytes: int = 1 << 20
    debounce_ms: int = 50  # the watcher's quiet window before a batch of changes becomes an update
    workers: int = 2  # parse processes of a full build somebody waits for (background builds use one)
    nice: int = 10


@dataclass(frozen=True, slots=True)
class ResourcesConfig:
    memory_limit_mb: int = 100
    idle_evict_minutes: float = 10.0  # float so tests (and impatient users) can use fractions
    park_after_s: float = 60.0  # seconds with nothing loaded and no client before the daemon parks; 0 = never


@dataclass(frozen=True, slots=True)
class ContextConfig:
    budget_tokens: int = 2000
    max_chars: int = 9500
    cache_entries: int = 256


@dataclass(frozen=True, slots=True)
class EnrichConfig:
    provider: str = "local"
    base_url: str = ""
    model: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    requests_per_hour: int = 600
    tokens_per_hour: int = 200_000
    allow: tuple[str, ...] = ("**",)
    deny: tuple[str, ...] = ()
    embeddings_provider: str = "none"
    embeddings_model: str = ""
    embeddings_base_url: str = ""  # "" = base_url
    request_timeout_s: float = 30.0
    batch_nodes: int = 16
    max_batch_chars: int = 24_000
    embed_timeout_ms: int = 250
    auto: bool = True  # queue projects after each index build, load and edit (else only `treerag enrich`)
    breaker_cooldown_s: float = 30.0


_SECTIONS: dict[str, type] = {
    "daemon": DaemonConfig,
    "http": HttpConfig,
    "index": IndexConfig,
    "resources": ResourcesConfig,
    "context": ContextConfig,
    "enrich": EnrichConfig,
}


@dataclass(frozen=True, slots=True)
class Config:
    """The resolved configuration; ``get("section.name")`` or ``config.section.name``."""

    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    context: ContextConfig = field(default_factory=ContextConfig)
    enrich: EnrichConfig = field(default_factory=EnrichConfig)
    #: key -> "default" | "file:PATH" | "env:TREERAG_X" | "flag:--x"
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def get(self, key: str) -> Any:
        if key not in _TYPES:
            raise KeyError(f"unknown config key {key!r}{_suggest(key, _TYPES)}")
        section, _, name = key.partition(".")
        return getattr(getattr(self, section), name)

    def source(self, key: str) -> str:
        self.get(key)
        return self.sources.get(key, "default")

    def describe(self) -> list[tuple[str, Any, str]]:
        """``(key, effective value, source)`` for every key, in schema order (`treerag config show`)."""
        return [(key, self.get(key), self.sources.get(key, "default")) for key in _TYPES]


# -- the schema as data ---------------------------------------------------------------

_TYPE_NAMES = {"str": str, "int": int, "float": float, "bool": bool, "tuple[str, ...]": tuple}
_TYPES: dict[str, type] = {
    f"{section}.{f.name}": _TYPE_NAMES[str(f.type)] for section, cls in _SECTIONS.items() for f in fields(cls)
}
_EXPECTED = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean (true/false; from the environment also 1/0/yes/no/on/off)",
    tuple: "a list of strings (from the environment: comma-separated)",
}
_CHOICES: dict[str, tuple[str, ...]] = {"daemon.log_level": ("debug", "info", "warning", "error")}
_RANGES: dict[str, tuple[float, float]] = {"http.port": (1, 65535), "index.nice": (-20, 19)}
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def env_name(key: str) -> str:
    """``resources.memory_limit_mb`` -> ``TREERAG_RESOURCES_MEMORY_LIMIT_MB``."""
    return "TREERAG_" + key.replace(".", "_").upper()


_ENV_KEYS = {env_name(key): key for key in _TYPES}
#: Short spellings for the most used keys; the full name wins when both are set.
ENV_ALIASES = {
    "TREERAG_SOCKET": "daemon.socket_path",
    "TREERAG_LOG_LEVEL": "daemon.log_level",
    "TREERAG_MEMORY_LIMIT_MB": "resources.memory_limit_mb",
}
#: TREERAG_* variables that are not config keys (besides the one enrich.api_key_env names).
_ENV_OTHER = frozenset({"TREERAG_CONFIG", "TREERAG_HTTP_TOKEN"})
_FLAG_NAMES = {"daemon.socket_path": "--socket", "daemon.log_level": "--log-level", "http.enabled": "--http"}


def load_config(
    flags: Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> Config:
    """Resolve every key: explicit flag > ``TREERAG_*`` env > config file > default.

    ``flags`` maps dotted keys to values (None = not given); ``env`` defaults to
    ``os.environ``; ``path`` overrides ``$TREERAG_CONFIG`` and the XDG location.
    A missing file is fine at the default location, an error when named explicitly.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}

    file = path if path is not None else config_path(env)
    explicit = path is not None or bool(env.get("TREERAG_CONFIG"))
    for key, value in _read_file(file, must_exist=explicit).items():
        values[key], sources[key] = value, f"file:{file}"

    unknown_env: list[str] = []
    by_key: dict[str, str] = {}
    for name in sorted(n for n in env if n.startswith("TREERAG_")):
        target = _ENV_KEYS.get(name) or ENV_ALIASES.get(name)
        if target is None:
            if name not in _ENV_OTHER:
                unknown_env.append(name)
        elif name in _ENV_KEYS or target not in by_key:  # the full name beats an alias
            by_key[target] = name
    for key, name in by_key.items():
        values[key], sources[key] = _from_text(key, env[name], name), f"env:{name}"

    for key, value in (flags or {}).items():
        if value is None:
            continue
        flag = _FLAG_NAMES.get(key, f"--{key}")
        if key not in _TYPES:
            raise ConfigError(f"unknown key {key!r}{_suggest(key, _TYPES)}", source=f"flag {flag}", key=key)
        if isinstance(value, str):
            values[key] = _from_text(key, value, f"flag {flag}")
        else:
            values[key] = _from_toml(key, value, f"flag {flag}")
        sources[key] = f"flag:{flag}"

    config = _build(values, sources)
    for name in unknown_env:
        if name != config.enrich.api_key_env:  # the variable holding the API key may be a TREERAG_ one
            hint = _suggest(name, [*_ENV_KEYS, *ENV_ALIASES, *_ENV_OTHER], strip="TREERAG_")
            raise ConfigError(f"unknown treerag variable{hint}", source=name, key=name)
    return config


def _build(values: Mapping[str, Any], sources: Mapping[str, str]) -> Config:
    sections: dict[str, Any] = {}
    for section, cls in _SECTIONS.items():
        prefix = section + "."
        sections[section] = cls(**{k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)})
    full_sources = {key: sources.get(key, "default") for key in _TYPES}
    return Config(**sections, sources=full_sources)


# -- reading the file -----------------------------------------------------------------

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def _read_file(file: Path, *, must_exist: bool) -> dict[str, Any]:
    source = str(file)
    try:
        with open(file, "rb") as fp:
            data = tomllib.load(fp)
    except FileNotFoundError:
        if must_exist:
            raise ConfigError("config file not found", source=source) from None
        return {}
    except tomllib.TOMLDecodeError as exc:
        text = str(exc)
        match = _TOML_POSITION.search(text)
        where = f"line {match[1]}, column {match[2]}: " if match else ""
        msg = text[: match.start()] if match else text
        raise ConfigError(f"{where}invalid TOML: {msg}", source=source) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 ({exc.reason} at byte {exc.start})", source=source) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read the config file: {exc.strerror or exc}", source=source) from exc

    values: dict[str, Any] = {}
    for section, table in data.items():
        if section not in _SECTIONS:
            if isinstance(table, dict):
                hint = _suggest(section, _SECTIONS)
                raise ConfigError(f"unknown section [{section}]{hint}", source=source, key=section)
            raise ConfigError(f"unknown key {section!r}{_suggest(section, _TYPES)}", source=source, key=section)
        if not isinstance(table, dict):
            raise ConfigError(f"{section!r} must be a table ([{section}])", source=source, key=section)
        for name, value in table.items():
            key = f"{section}.{name}"
            if key not in _TYPES:
                raise ConfigError(f"unknown key {key!r}{_suggest(key, _TYPES)}", source=source, key=key)
            values[key] = _from_toml(key, value, source)
    return values


# -- typing the values ----------------------------------------------------------------


def _bad(key: str, value: object, source: str, expected: str | None = None) -> ConfigError:
    want = expected or _EXPECTED[_TYPES[key]]
    return ConfigError(f"{key} expects {want}, got {value!r}", source=source, key=key)


def _from_toml(key: str, value: object, source: str) -> Any:
    """A value that already has a type (TOML, a non-string flag): check it, never guess."""
    kind = _TYPES[key]
    if kind is tuple:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise _bad(key, value, source)
        return _check(key, tuple(value), source)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not kind:
        raise _bad(key, value, source)
    return _check(key, value, source)


def _from_text(key: str, raw: str, source: str) -> Any:
    """A value given as text (environment, string flag), converted to the key's type."""
    kind = _TYPES[key]
    value: Any
    if kind is str:
        value = raw
    elif kind is bool:
        word = raw.strip().lower()
        if word not in _TRUE and word not in _FALSE:
            raise _bad(key, raw, source)
        value = word in _TRUE
    elif kind is tuple:
        value = tuple(item.strip() for item in raw.split(",") if item.strip())
    else:
        try:
            value = kind(raw.strip())
        except ValueError:
            raise _bad(key, raw, source) from None
    return _check(key, value, source, shown=raw)


def _check(key: str, value: Any, source: str, shown: object = None) -> Any:
    """Choices and ranges; ``shown`` is what the user wrote, if it was text."""
    shown = value if shown is None else shown
    choices = _CHOICES.get(key)
    if choices is not None and value not in choices:
        raise _bad(key, shown, source, "one of " + ", ".join(choices))
    if isinstance(value, int | float) and not isinstance(value, bool):
        lo, hi = _RANGES.get(key, (0, math.inf))
        if not (lo <= value <= hi and math.isfinite(value)):
            bounds = f">= {lo}" if hi == math.inf else f"from {lo} to {hi}"
            raise _bad(key, shown, source, f"{_EXPECTED[_TYPES[key]]} {bounds}")
    return value


def _suggest(word: str, candidates: Mapping[str, object] | list[str], strip: str = "") -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or a key whose last part is ``word``.

    ``strip`` is a prefix all candidates share, left out of the comparison.
    """
    import difflib  # only on the error path

    names = list(candidates)
    if strip:
        tails = {n.removeprefix(strip): n for n in names}
        match = difflib.get_close_matches(word.removeprefix(strip), tails, n=1, cutoff=0.6)
        return f" (did you mean {tails[match[0]]!r}?)" if match else ""
    match = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    if not match:
        tail = word.rpartition(".")[2].lower()
        match = [n for n in names if n.rpartition(".")[2].lower() == tail][:1]
    return f" (did you mean {match[0]!r}?)" if match else ""
