"""What the windowed job submissions (drift, performance) share: the model version a request names, how a
previous job ended, and what one call decided (the HTTP answer and the logged record)."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TypeVar

from shared.payloads import PayloadError
from shared.ports import JobPlatform, ModelInfo, ModelRegistry, NotFoundError
from shared.services.timestamps import iso_z

# A job in one of these states will not produce its figures: its window may be submitted again.
FAILED_STATES: Final = frozenset({"Failed", "Canceled", "NotResponding"})

Outcome = TypeVar("Outcome", bound="WindowJobOutcome")


@dataclass(frozen=True)
class WindowJobOutcome:
    decision: Any  # the submission's own StrEnum of decisions
    model_name: str
    model_version: str | None
    window_start: datetime
    window_end: datetime
    trigger: str
    job_name: str | None = None
    message: str = ""
    blobs: int = 0
    in_progress: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "job_name": self.job_name,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "window_start": iso_z(self.window_start),
            "window_end": iso_z(self.window_end),
            "trigger": self.trigger,
            "message": self.message,
            "blobs": self.blobs,
            **self.counts(),
            "in_progress": self.in_progress,
            **self.details,
        }

    def counts(self) -> dict[str, Any]:
        """What a kind of job counts besides the window's blobs."""
        return {}


def logged(outcome: Outcome, kind: str, answered: Collection[Any], log: logging.Logger) -> Outcome:
    """``outcome``, logged at INFO when it answers the request, at ERROR when it is a misconfiguration."""
    level = logging.INFO if outcome.decision in answered else logging.ERROR
    log.log(level, "%s %s: %s", kind, outcome.decision, outcome.body())
    return outcome


def requested_model(registry: ModelRegistry, model_name: str, version: str | None) -> ModelInfo | None:
    """The version a request names (a 400 for one the registry does not have), or the latest; None: no version."""
    if version is None:
        return registry.latest_model(model_name)
    try:
        return registry.get_model(model_name, version)
    except NotFoundError:
        raise PayloadError("model_version", f"unknown version {version!r} of model {model_name!r}") from None


def ended_badly(platform: JobPlatform, job_name: str) -> str | None:
    """How the job ended when it failed, was canceled or is gone (``NotFound``); else None."""
    try:
        status = platform.get_job(job_name).status
    except NotFoundError:
        return "NotFound"
    return status if status in FAILED_STATES else None
