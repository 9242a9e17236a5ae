"""Recognise secrets so they are never indexed, summarised or sent anywhere.

Two gates, both cheap and both tuned for few false positives, since a false
positive only costs one file missing from the index while a miss leaks a key:

* :func:`is_secret_path` judges a path by its name alone (no I/O): ``.env``
  files, private keys, credential files. The scanner calls it for every file.
* :func:`looks_like_secret_content` judges the first bytes of a file: PEM
  private key blocks and well-known token formats. The indexer calls it on
  the head of every file it reads (the scanner, which opens few files, only
  on the ones it sniffs anyway).

Template policy: a name ending in ``.example``, ``.sample`` or ``.template``
(``.env.example``, ``credentials.json.sample``) is a file meant to be
committed, so its name alone does not make it secret; its content is still
checked like any other file's.
"""

from __future__ import annotations

import re

__all__ = ["SECRET_SNIFF_BYTES", "is_secret_path", "looks_like_secret_content"]

SECRET_SNIFF_BYTES = 8192
"""How much of a file's head :func:`looks_like_secret_content` is meant to see."""

_TEMPLATE_SUFFIXES = (".example", ".sample", ".template")

_SECRET_NAMES = frozenset({
    ".env", ".envrc",
    # ssh private keys (the .pub halves are public)
    "id_rsa", "id_dsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk",
    # credential stores
    ".npmrc", ".pypirc", ".netrc", "_netrc", ".pgpass", ".htpasswd", ".git-credentials",
    "credentials", "credentials.json",
})  # fmt: skip

_SECRET_SUFFIXES = (
    ".env",  # docker --env-file style: prod.env
    ".pem", ".key", ".p12", ".pfx", ".keystore", ".jks", ".ppk", ".kdbx",
)  # fmt: skip

_SECRET_PARENT_FILES = frozenset({(".aws", "credentials"), (".docker", "config.json")})
_SECRET_DIRS = frozenset({".ssh", ".gnupg"})

# Config-like extensions where a name containing "secret" means secret data.
_CONFIG_EXTS = frozenset({"json", "yaml", "yml", "toml", "env", "ini"})

# --- content -----------------------------------------------------------------
# Every pattern opens with a literal, which lets the regex engine skip ahead
# with a fast substring search (a leading class or look-behind makes it try
# every offset: ~50x slower on 8 KiB). Word boundaries are checked in Python.

_NL = rb"(?:\r?\n|(?:\\r)?\\n)"  # a real newline, or an escaped one inside a JSON/code string
_PEM_PRIVATE_KEY = re.compile(
    rb"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----" + _NL
    # optional RFC 1421 headers (Proc-Type, DEK-Info), a blank line, then base64
    + rb"(?:[A-Za-z-]+: [^\r\n\\]*" + _NL + rb")*(?:" + _NL + rb")?"
    + rb"[ \t\"']*[A-Za-z0-9+/=]{40}"
)  # fmt: skip
_AWS_KEY_ID = re.compile(rb"A(?:KIA|SIA)[0-9A-Z]{16}")
_GITHUB_TOKEN = re.compile(rb"gh[pousr]_[A-Za-z0-9]{36}")
_GITHUB_PAT = re.compile(rb"github_pat_[A-Za-z0-9_]{50,}")
_SLACK_TOKEN = re.compile(rb"xox[baprs]-(?:[0-9]+-)+[0-9A-Za-z]{10,}")
_SK_KEY = re.compile(rb"sk-[A-Za-z0-9_-]{32,}")  # OpenAI, Anthropic, DeepSeek, …
_STRIPE_LIVE_KEY = re.compile(rb"k_live_[0-9A-Za-z]{24,}")  # sk_live_, rk_live_

_WORD = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_ALNUM_RUN = re.compile(rb"[A-Za-z0-9]{20,}")
_DIGIT = re.compile(rb"[0-9]")
_LETTER = re.compile(rb"[A-Za-z]")


def is_secret_path(rel: str) -> bool:
    """Whether the file at ``rel`` (POSIX, relative to the root) holds secrets by its name."""
    parent, _, name = rel.rpartition("/")
    name = name.lower()
    if name.endswith(_TEMPLATE_SUFFIXES):
        return False
    if (
        name in _SECRET_NAMES
        or name.startswith(".env.")
        or name.endswith(_SECRET_SUFFIXES)
        or (name.startswith("service-account") and name.endswith(".json"))
    ):
        return True
    if "secret" in name and name.rpartition(".")[2] in _CONFIG_EXTS:
        return True
    if not parent:
        return False
    parts = parent.split("/")
    return (parts[-1], name) in _SECRET_PARENT_FILES or not _SECRET_DIRS.isdisjoint(parts)


def looks_like_secret_content(head: bytes) -> bool:
    """Whether ``head`` (a file's first :data:`SECRET_SNIFF_BYTES`) holds key material."""
    if _PEM_PRIVATE_KEY.search(head):
        return True
    for m in _AWS_KEY_ID.finditer(head):
        if _whole_word(head, m.start(), m.end()) and b"EXAMPLE" not in m.group():
            return True
    for m in _GITHUB_TOKEN.finditer(head):
        if _whole_word(head, m.start(), m.end()):
            return True
    for pattern in (_GITHUB_PAT, _SLACK_TOKEN):  # greedy tails: only the start can be glued
        for m in pattern.finditer(head):
            if _word_starts(head, m.start()):
                return True
    for m in _SK_KEY.finditer(head):
        if _word_starts(head, m.start()) and _random_looking(m.group()[3:]):
            return True
    for m in _STRIPE_LIVE_KEY.finditer(head):
        start = m.start() - 1
        if start >= 0 and head[start] in b"sr" and _word_starts(head, start):
            return True
    return False


def _word_starts(data: bytes, start: int) -> bool:
    """Whether ``data[start]`` does not continue an identifier-like run."""
    return start == 0 or data[start - 1] not in _WORD


def _whole_word(data: bytes, start: int, end: int) -> bool:
    return _word_starts(data, start) and (end == len(data) or data[end] not in _WORD)


def _random_looking(body: bytes) -> bool:
    """Keys hold long runs of mixed letters and digits; slugs (``sk-a-long-css-name``) do not."""
    return any(_DIGIT.search(run) and _LETTER.search(run) for run in _ALNUM_RUN.findall(body))
