"""The process registry with real processes: starters killed outright (SIGKILL) leave their process groups running,
and the next start stops them and says which; a pid that now belongs to another process (same pid, another start
time or command line) is never signalled; a record whose owner lives is left alone; concurrent starters each write
their own record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from shared.local.process_registry import MARKER_VARIABLE, ProcessRegistry
from tests.process_checks import process_records, running, still_running_after, wait_for

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SLEEP = [sys.executable, "-c", "import time; time.sleep(600)"]

# A starter like the demo's: groups started through the registry, one of them a leader with a child, one a leader
# that exits and leaves its child behind in the group; it prints the pids, then waits to be killed.
STARTER = textwrap.dedent(
    """
    import subprocess, sys, time
    from shared.local.process_registry import ProcessRegistry
    registry = ProcessRegistry(sys.argv[1])
    sleep = "import time; time.sleep(600)"
    spawn = "import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', %r]); print(c.pid, flush=True)"
    spawn = spawn % sleep
    pids = []
    for n in range(int(sys.argv[2])):
        leader = registry.start([sys.executable, "-c", spawn + "; time.sleep(600)"], what=f"leader-{n}",
                                stdout=subprocess.PIPE, text=True)
        pids += [leader.pid, int(leader.stdout.readline())]
    orphaning = registry.start([sys.executable, "-c", spawn], what="orphaning", stdout=subprocess.PIPE, text=True)
    pids.append(int(orphaning.stdout.readline()))
    orphaning.wait()
    print(" ".join(map(str, pids)), flush=True)
    time.sleep(600)
    """
)


def _start_starter(state: Path, groups: int) -> tuple[subprocess.Popen[str], list[int]]:
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(state), str(groups)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert starter.stdout is not None
    return starter, [int(pid) for pid in starter.stdout.readline().split()]


def _kill_outright(starter: subprocess.Popen[str]) -> None:
    starter.send_signal(signal.SIGKILL)
    starter.wait(timeout=10)


def test_what_a_killed_starter_left_running_is_stopped_by_the_next_start_and_reported(tmp_path: Path) -> None:
    starter, pids = _start_starter(tmp_path, groups=2)
    processes = [psutil.Process(pid) for pid in pids]
    _kill_outright(starter)
    assert len(running(processes)) == 5  # the bug this registry is for: every group outlives its starter
    assert {r["what"] for r in process_records(tmp_path)} == {"leader-0", "leader-1", "orphaning"}

    reports: list[str] = []
    registry = ProcessRegistry(tmp_path, report=reports.append)
    following = registry.start(SLEEP, what="next")
    registry.stop(following)

    assert still_running_after(processes) == []
    assert len(reports) == 1
    assert reports[0].startswith("[processes] stopped 3 process group(s) left running by a process that was killed")
    for what in ("leader-0", "leader-1", "orphaning"):
        assert f"{what} (pgid " in reports[0] and f"started by pid {starter.pid})" in reports[0]
    assert process_records(tmp_path) == []


def test_concurrent_starters_each_record_their_groups_and_one_sweep_stops_them_all(tmp_path: Path) -> None:
    started = [_start_starter(tmp_path, groups=3) for _ in range(3)]
    processes = [psutil.Process(pid) for _, pids in started for pid in pids]
    records = process_records(tmp_path)
    assert len(records) == 3 * 4 and len({r["pgid"] for r in records}) == 12
    assert {r["owner_pid"] for r in records} == {starter.pid for starter, _ in started}
    for starter, _ in started:
        _kill_outright(starter)

    stopped = ProcessRegistry(tmp_path).stop_stale()

    assert len(stopped) == 12 and still_running_after(processes) == []
    assert process_records(tmp_path) == []


@pytest.mark.parametrize(
    ("start_shift", "cmdline_matches", "stopped"),
    [(0.0, True, True), (5.0, True, False), (0.0, False, False)],
    ids=["same-process", "recycled-pid-other-start-time", "recycled-pid-other-command"],
)
def test_a_recorded_pid_is_signalled_only_if_it_is_still_the_recorded_process(
    tmp_path: Path, start_shift: float, cmdline_matches: bool, stopped: bool
) -> None:
    # A process the registry never started (no marker), in a group of its own, at the pid of a record whose owner
    # is gone: as if the recorded group had ended and its pid been given to this process.
    stranger = subprocess.Popen(SLEEP, start_new_session=True)
    try:
        wait_for(lambda: psutil.Process(stranger.pid).cmdline() == SLEEP, 10, "the process runs its command")
        gone_owner = subprocess.Popen(["true"])
        gone_owner.wait()
        record = {
            "pgid": stranger.pid,
            "what": "azmlinfsrv for an old deployment",
            "leader_started": psutil.Process(stranger.pid).create_time() + start_shift,
            "cmdline": SLEEP if cmdline_matches else [*SLEEP, "--other"],
            "marker": "0" * 32,
            "owner_pid": gone_owner.pid,
            "owner_started": 1.0,
            "recorded_at": "2026-01-01T00:00:00.000000Z",
        }
        (tmp_path / "processes").mkdir()
        (tmp_path / "processes" / f"{stranger.pid}.json").write_text(json.dumps(record))

        result = ProcessRegistry(tmp_path).stop_stale()

        if stopped:
            assert [r.pgid for r in result] == [stranger.pid] and stranger.wait(timeout=15) == -signal.SIGTERM
        else:
            assert result == [] and stranger.poll() is None
        assert process_records(tmp_path) == []  # either way the record is done with
    finally:
        stranger.kill()
        stranger.wait()


def test_groups_whose_owner_lives_are_left_alone_and_the_owner_stops_them_on_its_way_out(tmp_path: Path) -> None:
    mine = ProcessRegistry(tmp_path)
    process = mine.start(SLEEP, what="mine")
    try:
        assert psutil.Process(process.pid).environ()[MARKER_VARIABLE] == process_records(tmp_path)[0]["marker"]
        assert ProcessRegistry(tmp_path).stop_stale() == [] and process.poll() is None

        assert [r.what for r in mine.stop_owned()] == ["mine"]

        assert process.wait(timeout=15) == -signal.SIGTERM and process_records(tmp_path) == []
    finally:
        process.kill()
        process.wait()


def test_a_file_that_is_not_a_record_is_named_and_left_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "processes").mkdir()
    broken = tmp_path / "processes" / "123.json"
    broken.write_text('{"pgid": 123')

    assert ProcessRegistry(tmp_path).stop_stale() == []

    assert f"{broken}: not a process record" in capsys.readouterr().err and broken.exists()
