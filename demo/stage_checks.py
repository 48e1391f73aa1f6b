"""What every step of the demo's stages shares: the error a step that misses its expected outcome raises, waiting
for a condition or a job (its status kept in the recorder's facts), and reading a platform's time stamp."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from demo.host import LocalHost
from demo.recorder import Recorder
from shared.ports import JobInfo


class DemoError(RuntimeError):
    """A stage did not reach its expected outcome."""


def parse_stamp(value: Any) -> datetime | None:
    """A platform's ISO-8601 UTC time stamp (``…Z``) as an aware datetime; None when absent or unreadable."""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def wait_until(what: str, condition: Callable[[], Any], timeout: float, poll: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise DemoError(f"{what}: not done within {timeout:.0f}s")
        time.sleep(poll)


def wait_job(host: LocalHost, rec: Recorder, name: str, timeout: float) -> JobInfo:
    """Job ``name`` once it ended (``timeout`` at most), its status and tags in ``facts["jobs"]``; DemoError
    unless it completed."""
    info = host.jobs.wait(name, timeout=timeout)
    rec.facts.setdefault("jobs", {})[name] = {"status": info.status, "tags": dict(info.tags)}
    if info.status != "Completed":
        record = host.jobs.get_job(name)
        raise DemoError(f"job {name} ended {record.status}; see {host.state_dir / 'jobs' / name}")
    return info
