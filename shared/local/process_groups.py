"""Process control for the local mode: process groups (each started in its own session, so everything a process
starts is stopped with it by signalling the group) and process identity.

A pid alone could name a later, unrelated process: a record keeps the start time of its process too
(:func:`process_started`, with psutil), and :func:`process_alive` compares it. POSIX only (process groups).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from typing import Any

CANCEL_GRACE_S = 5.0  # SIGTERM, then SIGKILL after this long
START_TIME_TOLERANCE_S = 0.05  # psutil's start time is derived from clock ticks since boot: stable to a tick


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


def same_start(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) < START_TIME_TOLERANCE_S


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
        return started is None or same_start(process.create_time(), started)
    except psutil.Error:
        return False


def group_members(pgid: int) -> list[Any]:
    """The psutil processes of group ``pgid`` that are not zombies (empty without psutil)."""
    try:
        import psutil
    except ImportError:
        return []
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process)
        except (OSError, psutil.Error):
            continue
    return members


def group_exists(pgid: int) -> bool:
    """Whether group ``pgid`` has a process, zombies included: a stop waits until its orphans are reaped too."""
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


def stop_group(
    pgid: int,
    process: subprocess.Popen[Any] | None,
    started: float | None = None,
    *,
    grace: float = CANCEL_GRACE_S,
) -> None:
    """Stop the process group ``pgid`` (its leader is ``process`` when this process started it, else the pid that
    started at ``started``): SIGTERM, then SIGKILL after ``grace`` seconds; reaps ``process``."""
    leader_alive = process_alive(pgid, started) if process is None else process.poll() is None
    if not leader_alive and not group_exists(pgid):
        return
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if process is not None:
            process.poll()  # reap our child, or the group never looks empty
        if not group_exists(pgid):
            return
        time.sleep(0.05)
    signal_group(pgid, signal.SIGKILL)
    if process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)


def running_groups(pgids: Iterable[int]) -> set[int]:
    """Which of ``pgids`` have a process that is not a zombie (one pass over the processes)."""
    wanted = set(pgids)
    try:
        import psutil
    except ImportError:
        return {pgid for pgid in wanted if group_exists(pgid)}
    found = set()
    for process in psutil.process_iter():
        try:
            pgid = os.getpgid(process.pid)
            if pgid in wanted and process.status() != psutil.STATUS_ZOMBIE:
                found.add(pgid)
        except (OSError, psutil.Error):
            continue
    return found


def stop_groups(pgids: Iterable[int], *, grace: float = CANCEL_GRACE_S) -> None:
    """Stop process groups this process has no ``Popen`` for (left behind by another): SIGTERM to all at once,
    SIGKILL to those still running after ``grace`` seconds. Done once no process of them runs; zombies are for
    their parents to reap."""
    remaining = set(pgids)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pgid in remaining:
            signal_group(pgid, sig)
        deadline = time.monotonic() + grace
        while (remaining := running_groups(remaining)) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not remaining:
            return


def stop_tree(process: subprocess.Popen[Any], *, grace: float = CANCEL_GRACE_S) -> None:
    """Stop ``process`` and its descendants (a child that shares this process's group, so the group cannot be
    signalled): SIGTERM to each, SIGKILL to what is left after ``grace`` seconds; reaps ``process``."""
    if process.poll() is not None:
        return
    try:
        import psutil
    except ImportError:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return
    try:
        descendants = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    for member in descendants:
        with contextlib.suppress(psutil.Error):
            member.terminate()
    deadline = time.monotonic() + grace
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)  # through Popen, which keeps the exit status (psutil would reap it first)
    _, alive = psutil.wait_procs(descendants, timeout=max(0.0, deadline - time.monotonic()))
    for member in alive:
        with contextlib.suppress(psutil.Error):
            member.kill()
    if process.poll() is None:
        process.kill()
        process.wait()
    psutil.wait_procs(alive, timeout=grace)
