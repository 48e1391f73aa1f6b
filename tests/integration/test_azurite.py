"""The Azurite launcher's command line: telemetry collection off, and every option one the installed Azurite knows.

The session's Azurite (tests/conftest.py) and the demo's are started by the same ``Azurite`` class, so the
command line checked here is theirs.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from shared.local.azurite import Azurite, azurite_command

pytestmark = pytest.mark.azurite


def test_the_running_azurite_was_told_not_to_collect_telemetry(azurite: Azurite) -> None:
    assert azurite.process is not None and azurite.process.poll() is None
    assert "--disableTelemetry" in azurite.process.args


def test_every_option_on_the_command_line_is_one_the_installed_azurite_documents(azurite: Azurite) -> None:
    assert azurite.process is not None
    helped = subprocess.run([*azurite_command(), "--help"], capture_output=True, text=True, timeout=60, check=False)
    documented = set(re.findall(r"--([A-Za-z]+)", helped.stdout + helped.stderr))
    assert "disableTelemetry" in documented, helped.stdout[-2000:]
    given = {arg[2:] for arg in azurite.process.args if str(arg).startswith("--")}
    assert given <= documented, sorted(given - documented)
