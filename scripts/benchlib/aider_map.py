"""Rank files with Aider's repo map, for the retrieval benchmark's side-by-side column.

Run with the interpreter of a virtualenv that has ``aider-chat`` installed (the
benchmark makes one under .bench/aider-venv); it must not import treerag. Reads
one JSON object on stdin, ``{"root": DIR, "files": [REL, ...], "prompts": [TEXT,
...], "depth": N}``, and prints ``{"rankings": [[REL, ...], ...]}``: for each
prompt, files in the order Aider's ``RepoMap.get_ranked_tags`` would put them
into its map, the way its chat loop calls it with no file added to the chat:
every word of the prompt is a mentioned identifier, and files whose name the
prompt spells out are mentioned files.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path


class _QuietIO:
    """The slice of aider's InputOutput that RepoMap uses."""

    def read_text(self, filename: str, silent: bool = False) -> str | None:
        try:
            return Path(filename).read_text(errors="replace")
        except OSError:
            return None

    def tool_output(self, *args: object, **kwargs: object) -> None:
        pass

    tool_warning = tool_error = tool_output


class _CharModel:
    """RepoMap only asks the model to count tokens: four characters a token is close enough here."""

    def token_count(self, text: str) -> int:
        return len(text) // 4


def _mentioned_files(prompt: str, files: list[str]) -> set[str]:
    """Files the prompt names: by relative path, by a unique base name, or by a stem of five letters or more."""
    words = {w.strip("\"'`*_").rstrip(",.!;:?") for w in prompt.split()}
    idents = {w.lower() for w in re.split(r"\W+", prompt) if len(w) >= 5}
    by_base: dict[str, list[str]] = {}
    for rel in files:
        by_base.setdefault(os.path.basename(rel), []).append(rel)
    named = {rel for rel in files if rel in words}
    named |= {group[0] for base, group in by_base.items() if base in words and len(group) == 1}
    named |= {rel for rel in files if len(Path(rel).stem) >= 5 and Path(rel).stem.lower() in idents}
    return named


def main() -> None:
    from aider.repomap import RepoMap

    request = json.loads(sys.stdin.read())
    root, files, depth = request["root"], request["files"], request["depth"]
    repo_map = RepoMap(root=root, main_model=_CharModel(), io=_QuietIO(), map_tokens=1024)
    absolute = [os.path.join(root, rel) for rel in files]
    rankings = []
    for prompt in request["prompts"]:
        idents = set(re.split(r"\W+", prompt))
        tags = repo_map.get_ranked_tags([], absolute, _mentioned_files(prompt, files), idents)
        ordered = list(dict.fromkeys(tag[0] for tag in tags))
        rankings.append(ordered[:depth])
    print(json.dumps({"rankings": rankings}))


if __name__ == "__main__":
    main()
