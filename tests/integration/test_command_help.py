"""``--help`` of every local command, as a user runs it: it exits 0, says in its first line what the command does,
shows an example, shows every option's default, and carries no docstring markup."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT

COMMANDS = [
    ["-m", "shared.local"],
    ["-m", "shared.local", "serve"],
    ["-m", "shared.local", "pipeline"],
    ["-m", "shared.local", "demo"],
    ["-m", "demo"],
    ["-m", "shared.local.job_worker"],
    ["-m", "shared.local.job_worker", "run"],
]
MARKUP = re.compile(r":(data|class|meth|func|mod|attr|exc):|``")
OPTION_ENTRY = re.compile(r"^  (-\S+)")


def _help(command: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, *command, "--help"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def option_entries(text: str) -> dict[str, str]:
    """Each option of the "options:" section → its help text (all its lines)."""
    section = text.split("\noptions:\n", 1)[1].split("\n\n", 1)[0]
    entries: dict[str, str] = {}
    current = ""
    for line in section.splitlines():
        found = OPTION_ENTRY.match(line)
        if found:
            current = found.group(1).rstrip(",")
            entries[current] = line
        elif current:
            entries[current] += " " + line.strip()
    return entries


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c[1:]) for c in COMMANDS])
def test_the_help_is_written_for_a_user(command: list[str]) -> None:
    text = _help(command)

    assert not MARKUP.search(text), MARKUP.search(text)
    summary = text.split("\n\n", 2)[1]  # after the usage: what the command does
    assert len(summary.splitlines()[0]) > 20
    assert re.search(r"^examples?:\n  python -m ", text, re.MULTILINE)
    entries = option_entries(text)
    assert "-h" in entries
    missing = [name for name, entry in entries.items() if name != "-h" and "default" not in entry]
    assert missing == []


def test_every_option_of_serve_shows_the_value_it_takes_by_default() -> None:
    entries = option_entries(_help(["-m", "shared.local", "serve"]))

    assert set(entries) == {"-h", "--port", "--deployment", "--state-dir"}
    assert "(default: 5001)" in entries["--port"] and "(default: local)" in entries["--deployment"]
