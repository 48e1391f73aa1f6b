"""What one call of a windowed job submission (drift, performance) decided: the HTTP answer and the logged record."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from shared.services.timestamps import iso_z

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
