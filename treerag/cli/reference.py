"""Render the CLI reference (docs/COMMANDS.md) from the argparse parser itself.

``python -m treerag.cli.reference > docs/COMMANDS.md`` regenerates it; a test
fails when the file and the parser drift apart.
"""

from __future__ import annotations

import argparse

__all__ = ["render_commands"]


def _subparsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser, str]]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                out.append((name, sub, helps.get(name, "")))
    return out


def _options(parser: argparse.ArgumentParser) -> list[str]:
    lines = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.option_strings:
            name = ", ".join(f"`{o}`" for o in action.option_strings)
            if action.metavar or (action.nargs != 0 and not isinstance(action, argparse._StoreTrueAction)):
                name += f" `{action.metavar or action.dest.upper()}`"
        else:
            name = f"`{action.metavar or action.dest}`"
        extra = ""
        if action.choices and not isinstance(action, argparse._SubParsersAction):
            extra = " (one of: " + ", ".join(str(c) for c in action.choices) + ")"
        lines.append(f"- {name}: {action.help or ''}{extra}")
    return lines


def render_commands(parser: argparse.ArgumentParser) -> str:
    lines = [
        "# Commands",
        "",
        "Generated from the CLI parser by `python -m treerag.cli.reference`; a test keeps it in step.",
        "Every command prints one clear line on stderr and exits non-zero on failure: 1 for an error,",
        "2 for a usage error, 3 when the daemon is not running, 4 when one is already running.",
        "",
    ]

    def walk(prefix: str, parser: argparse.ArgumentParser) -> None:
        for name, sub, help_text in _subparsers(parser):
            full = f"{prefix} {name}"
            nested = _subparsers(sub)
            lines.append(f"## `{full}`")
            lines.append("")
            lines.append(help_text.capitalize() + ("." if help_text and not help_text.endswith(".") else ""))
            lines.append("")
            lines.append("```")
            lines.append(sub.format_usage().strip().replace("usage: ", ""))
            lines.append("```")
            lines.append("")
            options = _options(sub)
            if options:
                lines.extend(options)
                lines.append("")
            if nested:
                walk(full, sub)

    walk("treerag", parser)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    import os

    os.environ["COLUMNS"] = "100"
    from treerag.cli import build_parser

    print(render_commands(build_parser()), end="")
