"""Start and stop Azurite (the Azure Storage emulator, blob service) for tests and the local mode.

Azurite comes from npm (``package.json``, installed by ``make setup``). Each instance listens on a
free loopback port chosen by the OS, keeps its data in its own folder and uses an account with a
random key generated at start, so nothing fixed is shared between runs and no key is stored. It runs in its own
process group, recorded in a :class:`~shared.local.process_registry.ProcessRegistry` when one is given.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from shared.local.process_groups import stop_group
from shared.local.process_registry import ProcessRegistry

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"successfully listens on (http://[\d.]+:(\d+))")


class AzuriteError(RuntimeError):
    pass


def azurite_command() -> list[str]:
    local = _PROJECT_ROOT / "node_modules" / ".bin" / "azurite-blob"
    if local.exists():
        return [str(local)]
    found = shutil.which("azurite-blob")
    if found:
        return [found]
    raise AzuriteError("azurite-blob not found: run `make setup` (npm ci installs Azurite from package.json)")


@dataclass
class Azurite:
    """A running Azurite blob service. Use as a context manager or call :meth:`stop`."""

    location: Path
    account: str = "devaccount"
    key: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(32)).decode())
    blob_endpoint: str = ""
    process: subprocess.Popen[str] | None = None
    registry: ProcessRegistry | None = None
    _output: list[str] = field(default_factory=list)

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account};AccountKey={self.key};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def start(self, timeout: float = 30.0) -> Azurite:
        self.location.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "AZURITE_ACCOUNTS": f"{self.account}:{self.key}"}
        cmd = [
            *azurite_command(),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            "0",
            "--location",
            str(self.location),
            "--skipApiVersionCheck",
            "--disableProductStyleUrl",
            "--loose",
            "--disableTelemetry",  # Azurite 3.34+ collects telemetry unless told not to
        ]
        output = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
        if self.registry is not None:
            self.process = self.registry.start(cmd, what=f"Azurite (blob) in {self.location}", env=env, **output)
        else:
            self.process = subprocess.Popen(cmd, env=env, start_new_session=True, **output)
        found = threading.Event()

        def pump() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                if len(self._output) < 200:
                    self._output.append(line.rstrip())
                match = _LISTENING.search(line)
                if match and not found.is_set():
                    self.blob_endpoint = f"{match.group(1)}/{self.account}"
                    found.set()

        threading.Thread(target=pump, name="azurite-output", daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AzuriteError("Azurite did not start:\n" + "\n".join(self._output[-20:]))
        return self

    def stop(self) -> None:
        """Stop its process group: SIGTERM, SIGKILL after 3 s."""
        if self.process is None:
            return
        if self.registry is not None:
            self.registry.stop(self.process, grace=3.0)
        else:
            stop_group(self.process.pid, self.process, grace=3.0)

    def __enter__(self) -> Azurite:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
