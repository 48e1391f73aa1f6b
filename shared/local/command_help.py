"""The help every local command prints (``--help``): what it does in a line, its options each with its default, and
examples, written for a user (no docstring markup)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The description and epilog as written (their example lines), and ``(default: …)`` after every option's
    help unless the help says its default itself."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or action.default is argparse.SUPPRESS or "default" in text:
            return text
        return f"{text} (default: %(default)s)"


def examples_epilog(examples: Sequence[str]) -> str:
    return "examples:\n" + "\n".join(f"  {example}" for example in examples)


def command_parser(prog: str, summary: str, examples: Sequence[str]) -> argparse.ArgumentParser:
    """A parser whose help is ``summary``, the arguments, then ``examples`` (one command each)."""
    return argparse.ArgumentParser(
        prog=prog, description=summary, epilog=examples_epilog(examples), formatter_class=HelpFormatter
    )
