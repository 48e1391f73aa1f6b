"""A :class:`shared.ports.JobPlatform` that behaves like the real ones where the services depend on it.

Submission is idempotent on ``request.name`` (a job of that name exists: its name comes back, nothing new is
created), as the port requires of the Azure and the local platform. It can be slow, fail before creating
anything (``failures``), or create the job and then lose the answer (``lost_answers``: what a read timeout
after the service accepted the request looks like to the caller).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from shared.ports import JobInfo, PipelineJobRequest, TransientError


class FakeJobPlatform:
    def __init__(
        self,
        *,
        delay: float = 0.0,
        validate: Callable[[PipelineJobRequest], None] | None = None,
        default_status: str = "Running",
    ) -> None:
        self.delay = delay
        self.validate = validate
        self.default_status = default_status
        self.failures: list[Exception] = []  # raised, in order, before anything is created
        self.lost_answers = 0  # the next this many jobs are created, then TransientError is raised
        self.calls = 0
        self.requests: list[PipelineJobRequest] = []  # one per job created
        self.status: dict[str, str] = {}  # job name → status; "unavailable": get_job raises TransientError
        self._jobs: dict[str, PipelineJobRequest] = {}
        self._lock = threading.Lock()

    @property
    def submissions(self) -> int:
        return len(self.requests)

    @property
    def job_names(self) -> list[str]:
        return list(self._jobs)

    def submit_pipeline(self, request: PipelineJobRequest) -> str:
        with self._lock:
            self.calls += 1
            failure = self.failures.pop(0) if self.failures else None
        time.sleep(self.delay)
        if failure is not None:
            raise failure
        if self.validate is not None:
            self.validate(request)
        with self._lock:
            name = request.name or f"job-{len(self._jobs) + 1}"
            if name in self._jobs:
                return name
            self._jobs[name] = request
            self.requests.append(request)
            if self.lost_answers:
                self.lost_answers -= 1
                raise TransientError(f"submit pipeline {request.pipeline_yaml}: ServiceResponseError: Read timed out")
            return name

    def get_job(self, name: str) -> JobInfo:
        state = self.status.get(name, self.default_status)
        if state == "unavailable":
            raise TransientError("HTTP 503 from Azure ML")
        return JobInfo(name=name, status=state)
