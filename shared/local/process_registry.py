"""The process groups the local mode starts, recorded in ``<state folder>/processes/``, so that what a process
killed outright (SIGKILL, a crash, a closed terminal) left running is found and stopped by the next start.

Every starter (``serve``, the deployments of the local endpoint platform, the job platform's job processes, the
pipeline runner's steps, Azurite) starts its processes with :meth:`ProcessRegistry.start`: in a new session (its
own process group, whose id is the leader's pid), with a marker in its environment that its descendants inherit,
and a record ``<pgid>.json`` written atomically, one file per group, so concurrent starters never write the same
file. A record names what runs (``what``), the leader's pid, start time and command line, the marker, and the
owner: the process that started it (pid and start time). The owner stops the group and drops the record
(:meth:`ProcessRegistry.stop`, :meth:`ProcessRegistry.forget`); on the way out of a command,
:meth:`ProcessRegistry.stop_owned` stops whatever the command still owns.

A record is stale once its owner is gone (no process with that pid and that start time). The first start through
a registry object stops the stale groups (:meth:`ProcessRegistry.stop_stale`, one sweeper at a time under an
``flock``) and says so in one line on stderr. A group is signalled only when one of its processes is verifiably
the one recorded: the leader (same pid, start time and command line) or a member carrying the marker. A pid reused
by an unrelated process is left alone, and its record dropped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ml_assets.src.stores.atomic_files import utc_stamp, write_json_atomic
from shared.local.process_groups import (
    CANCEL_GRACE_S,
    group_members,
    process_alive,
    process_started,
    same_start,
    stop_group,
    stop_groups,
)

PROCESSES_DIR = "processes"
MARKER_VARIABLE = "MLOPS_LOCAL_PROCESS_GROUP"  # inherited by every process of the group
_SWEEP_LOCK = ".sweep.lock"


def default_state_dir() -> Path:
    """The local state folder of this environment: ``LOCAL_STATE_DIR``, else ``.local`` (as the settings say)."""
    return Path(os.environ.get("LOCAL_STATE_DIR", "").strip() or ".local")


@dataclass(frozen=True)
class GroupRecord:
    """One process group started by ``owner_pid``; ``leader_started`` and ``cmdline`` tell its leader from a
    later process given the same pid, ``marker`` tells the members."""

    pgid: int
    what: str
    leader_started: float | None
    cmdline: list[str]
    marker: str
    owner_pid: int
    owner_started: float | None
    recorded_at: str

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> GroupRecord:
        return cls(
            pgid=int(doc["pgid"]),
            what=str(doc["what"]),
            leader_started=None if doc.get("leader_started") is None else float(doc["leader_started"]),
            cmdline=[str(part) for part in doc.get("cmdline") or []],
            marker=str(doc["marker"]),
            owner_pid=int(doc["owner_pid"]),
            owner_started=None if doc.get("owner_started") is None else float(doc["owner_started"]),
            recorded_at=str(doc.get("recorded_at") or ""),
        )

    def describe(self) -> str:
        return f"{self.what} (pgid {self.pgid}, started by pid {self.owner_pid})"


def _is_recorded_process(process: Any, record: GroupRecord) -> bool:
    """Whether the psutil ``process`` (a member of the group ``record.pgid``) is one the record's owner started."""
    import psutil

    try:
        leader = process.pid == record.pgid and same_start(process.create_time(), record.leader_started)
        if leader and process.cmdline() == record.cmdline:
            return True
        return process.environ().get(MARKER_VARIABLE) == record.marker
    except psutil.Error:
        return False


class ProcessRegistry:
    """The records under ``<state_dir>/processes``; ``report`` gets the line naming what a sweep stopped."""

    def __init__(self, state_dir: str | Path, *, report: Callable[[str], None] | None = None) -> None:
        self.root = Path(state_dir).resolve() / PROCESSES_DIR
        self.report = report or _print_to_stderr
        self._swept = False
        self._lock = threading.Lock()
        self._me = os.getpid()
        self._me_started = process_started(self._me)

    # --- starting and stopping what this process starts ------------------------------------------------

    def start(
        self, command: Sequence[str], *, what: str, env: Mapping[str, str] | None = None, **popen: Any
    ) -> subprocess.Popen[Any]:
        """``subprocess.Popen(command, env=env, **popen)`` in a new session, recorded; the stale groups are
        stopped first (once per registry object). OSError if it cannot start (nothing is left running)."""
        self.sweep_once()
        marker = secrets.token_hex(16)
        child_env = {**(os.environ if env is None else env), MARKER_VARIABLE: marker}
        process = subprocess.Popen(list(command), env=child_env, start_new_session=True, **popen)
        record = GroupRecord(
            pgid=process.pid,
            what=what,
            leader_started=process_started(process.pid),
            cmdline=[str(part) for part in command],
            marker=marker,
            owner_pid=self._me,
            owner_started=self._me_started,
            recorded_at=utc_stamp(),
        )
        try:
            write_json_atomic(self._path(process.pid), asdict(record), fsync=False)
        except OSError:
            stop_group(process.pid, process, grace=1.0)
            raise
        return process

    def stop(self, process: subprocess.Popen[Any], *, grace: float = CANCEL_GRACE_S) -> None:
        """Stop the group ``process`` leads (SIGTERM, SIGKILL after ``grace`` seconds) and drop its record."""
        stop_group(process.pid, process, grace=grace)
        self.forget(process.pid)

    def forget(self, pgid: int) -> None:
        """Drop the record of the group ``pgid`` (its owner stopped it, or saw it end)."""
        with contextlib.suppress(FileNotFoundError):
            self._path(pgid).unlink()

    def stop_owned(self) -> list[GroupRecord]:
        """Stop every group this process recorded and has not stopped yet (a command's last word)."""
        mine = [r for r in self.records() if r.owner_pid == self._me and same_start(r.owner_started, self._me_started)]
        self._stop(mine)
        return mine

    # --- what processes killed outright left behind ----------------------------------------------------

    def sweep_once(self) -> None:
        """:meth:`stop_stale` the first time it is called on this object, reporting what it stopped."""
        with self._lock:
            if self._swept:
                return
            self._swept = True
        stopped = self.stop_stale()
        if stopped:
            self.report(stale_report(stopped))

    def stop_stale(self) -> list[GroupRecord]:
        """Stop the groups whose owner is gone; returns those that had a process left to stop."""
        if self._me_started is None:  # without psutil nothing can be verified: nothing is signalled
            return []
        self.root.mkdir(parents=True, exist_ok=True)
        with self._sweep_lock():
            stale = [
                record
                for record in self.records()
                if record.owner_started is not None and not process_alive(record.owner_pid, record.owner_started)
            ]
            return self._stop(stale)

    def records(self) -> list[GroupRecord]:
        """Every readable record (a file that is not one is left for a human to look at)."""
        if not self.root.is_dir():
            return []
        found = []
        for path in sorted(self.root.glob("[0-9]*.json")):
            try:
                found.append(GroupRecord.from_json(json.loads(path.read_text())))
            except FileNotFoundError:
                continue  # stopped meanwhile by its owner
            except (OSError, ValueError, KeyError, TypeError) as exc:
                print(f"[processes] {path}: not a process record ({exc}); left as it is", file=sys.stderr)
        return found

    # --- internals ------------------------------------------------------------------------------------

    def _path(self, pgid: int) -> Path:
        return self.root / f"{pgid}.json"

    def _stop(self, records: Sequence[GroupRecord]) -> list[GroupRecord]:
        """Stop the recorded groups that still have a process the record's owner started, all at once, and drop
        every record; returns those that had such a process."""
        verified = [r for r in records if any(_is_recorded_process(p, r) for p in group_members(r.pgid))]
        # A member carries the record's marker or is its leader: the group was never empty, so its id has not been
        # given to anyone else.
        stop_groups([r.pgid for r in verified])
        for record in records:
            self.forget(record.pgid)
        return verified

    @contextlib.contextmanager
    def _sweep_lock(self) -> Iterator[None]:
        fd = os.open(self.root / _SWEEP_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def stale_report(stopped: Sequence[GroupRecord]) -> str:
    """The one line a start prints about what it stopped."""
    return (
        f"[processes] stopped {len(stopped)} process group(s) left running by a process that was killed: "
        + "; ".join(record.describe() for record in stopped)
    )


def _print_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
