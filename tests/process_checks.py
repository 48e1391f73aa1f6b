"""What the tests of the local commands check about processes (with psutil): a command's process tree, whether any of
it still runs, the ports it listens on, and the state folder's process records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import psutil

from tests.conftest import PROJECT_ROOT

STOP_SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:g}s: {what}"
        time.sleep(0.1)


def tree(pid: int) -> list[psutil.Process]:
    """``pid`` and its descendants now."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def running(processes: list[psutil.Process]) -> list[psutil.Process]:
    """The processes that still run (a zombie does not: it holds no port and runs no code)."""
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            continue
    return alive


def still_running_after(processes: list[psutil.Process], timeout: float = 15.0) -> list[psutil.Process]:
    """The processes still running after at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (alive := running(processes)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def listening_ports(processes: list[psutil.Process]) -> set[int]:
    pids = {p.pid for p in processes}
    return {c.laddr.port for c in psutil.net_connections("tcp") if c.pid in pids and c.status == psutil.CONN_LISTEN}


def still_listening(ports: set[int]) -> set[int]:
    """Which of ``ports`` some process of this machine listens on."""
    return {c.laddr.port for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN} & ports


def process_records(state_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((state_dir / "processes").glob("[0-9]*.json"))]


def start_command(args: list[str], log: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``python <args>`` from the project root, stdout and stderr to ``log``, in this test's process group (as a
    shell or process manager would start it, not in a session of its own)."""
    full_env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "PYTHONUNBUFFERED": "1", **(env or {})}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, *args], cwd=PROJECT_ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT
        )


def exit_status(process: subprocess.Popen[bytes], timeout: float) -> int:
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        for member in reversed(tree(process.pid)):
            member.kill()
        raise
