"""Process control for the local job platform: each job process leads its own session and process group, so the
steps it starts (and theirs) are stopped together by signalling the group.

A pid alone could name a later, unrelated process: a record keeps the start time of its job process too
(:func:`process_started`, with psutil), and :func:`process_alive` compares it. POSIX only (process groups).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

CANCEL_GRACE_S = 5.0  # SIGTERM, then SIGKILL after this long


def process_started(pid: int) -> float | None:
    """When ``pid`` started (seconds since the epoch), to tell it from a later process given the same pid."""
    try:
        import psutil
    except ImportError:  # psutil is a dev dependency (the local mode runs in the dev environment)
        return None
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def process_alive(pid: int, started: float | None = None) -> bool:
    """Whether ``pid`` runs (not a zombie) and, when ``started`` is known, is the same process (no pid reuse)."""
    try:
        import psutil
    except ImportError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(process.create_time() - started) < 1.0
    except psutil.Error:
        return False


def group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def stop_group(pgid: int, process: subprocess.Popen[bytes] | None, started: float | None = None) -> None:
    """Stop the process group ``pgid`` (its leader is ``process`` when this process started it, else the pid that
    started at ``started``): SIGTERM, then SIGKILL after :data:`CANCEL_GRACE_S`."""
    leader_alive = process_alive(pgid, started) if process is None else process.poll() is None
    if not leader_alive and not group_exists(pgid):
        return
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + CANCEL_GRACE_S
    while time.monotonic() < deadline:
        if process is not None:
            process.poll()  # reap our child, or the group never looks empty
        if not group_exists(pgid):
            return
        time.sleep(0.05)
    signal_group(pgid, signal.SIGKILL)
    if process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=CANCEL_GRACE_S)
