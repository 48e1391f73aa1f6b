"""The rollout document and the pure rules the rollout state machine is built from.

One JSON document per model under ``rollouts/<model>.json`` (see :mod:`shared.services.state_keys`)
holds the current rollout (phase, deployment name, the traffic it found and the traffic it set,
timers), the deployments waiting to be cleaned up, what is deployed, and a history of transitions.
``GET /api/status`` shows it as is, so every field is plain JSON and named for a reader.

Also here: the failure a step raises, deployment names, traffic arithmetic (always summing to 100), the deadline
of a wait on the platform and the smoke-test check of a scoring response. Plain Python, no Azure SDK.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.platform_rules import is_valid_deployment_name, live
from shared.services import state_keys
from shared.services.timestamps import iso, parse_iso

# --- phases --------------------------------------------------------------------------------------

PENDING = "pending"  # recorded by the event handler; the reconciler picks it up
SHARING = "sharing"  # copying the model into the Azure ML registry (AML_REGISTRY_NAME)
ENDPOINT = "endpoint"  # the endpoint exists (created if not) and the serving traffic is recorded
CREATING = "creating"  # the new deployment is requested
PROVISIONING = "provisioning"  # waiting for the deployment to provision (ROLLOUT_PROVISIONING_TIMEOUT)
SMOKE_TEST = "smoke_test"  # the deployment is invoked directly with the sample request
MIRROR = "mirror"  # a copy of live traffic goes to the new deployment (ROLLOUT_MIRROR_PERCENT)
TRAFFIC = "traffic"  # the new deployment takes ROLLOUT_TRAFFIC_STEPS[step] % of live traffic
BAKE = "bake"  # the new deployment serves 100 % for ROLLOUT_BAKE, judged by the gate; the previous ones still exist
RETIRING = "retiring"  # the new deployment serves 100 %; the previous ones are being deleted
ROLLING_BACK = "rolling_back"  # a step failed: previous traffic is being restored, the new deployment deleted
SUCCEEDED = "succeeded"
FAILED = "failed"
SKIPPED = "skipped"  # nothing to do (a newer or the same version already serves)

TERMINAL = frozenset({SUCCEEDED, FAILED, SKIPPED})
PHASES = (
    frozenset(
        {PENDING, SHARING, ENDPOINT, CREATING, PROVISIONING, SMOKE_TEST, MIRROR, TRAFFIC, BAKE, RETIRING, ROLLING_BACK}
    )
    | TERMINAL
)
# Phases in which the new deployment may exist (a superseding rollout must clean it up).
DEPLOYMENT_MAY_EXIST = frozenset({CREATING, PROVISIONING, SMOKE_TEST, MIRROR, TRAFFIC, BAKE, ROLLING_BACK})

HISTORY_LIMIT = 100
PAST_LIMIT = 20
GATE_LIMIT = 50  # gate judgements kept in the document (the last one is also in ``gate``)
EVENT_ID_LIMIT = 20

# Log lines a reconciler step produces, written only once the state they describe is stored.
LogLines = list[tuple[int, str]]


class RolloutFailure(Exception):
    """A step failed for good (bad smoke test, failing gate, provisioning failed or timed out): roll back."""


def rollout_key(model: str) -> str:
    return f"{state_keys.ROLLOUT_PREFIX}{model}.json"


# --- names ---------------------------------------------------------------------------------------


def deployment_name(model: str, version: str, rollout_id: str) -> str:
    """``v<version>-<6 hex>``: valid for Azure ML (3-32 chars, starts with a letter) and unique per rollout.

    The hash covers the rollout id, so re-deploying a version after a failed attempt never collides
    with the failed deployment that may still be deleting.
    """
    digest = hashlib.sha256(f"{model}:{version}:{rollout_id}".encode()).hexdigest()[:6]
    readable = re.sub(r"[^A-Za-z0-9]+", "-", version).strip("-")[:24].strip("-") or "x"
    name = f"v{readable}-{digest}"
    if not is_valid_deployment_name(name):  # cannot happen with the rules above; never send a bad name
        raise ValueError(f"derived deployment name {name!r} is not valid for Azure ML")
    return name


# --- traffic -------------------------------------------------------------------------------------


def _largest_remainder(weights: Mapping[str, float], total: int) -> dict[str, int]:
    """Integers proportional to ``weights`` summing to exactly ``total`` (ties broken by name)."""
    weight_sum = sum(weights.values())
    if total <= 0 or weight_sum <= 0:
        return {}
    exact = {k: w * total / weight_sum for k, w in weights.items()}
    out = {k: math.floor(v) for k, v in exact.items()}
    short = total - sum(out.values())
    for k in sorted(exact, key=lambda k: (-(exact[k] - out[k]), k))[:short]:
        out[k] += 1
    return {k: v for k, v in sorted(out.items()) if v > 0}


def split_traffic(baseline: Mapping[str, int], new: str, percent: int) -> dict[str, int]:
    """Live traffic giving ``new`` ``percent`` % and the baseline deployments the rest, in proportion."""
    if not 0 < percent <= 100:
        raise ValueError(f"traffic step {percent} is not in 1..100")
    others = {k: float(v) for k, v in live(baseline).items() if k != new}
    if not others:
        return {new: 100}
    out = _largest_remainder(others, 100 - percent)
    out[new] = percent
    return dict(sorted(out.items()))


def restore_target(baseline: Mapping[str, int] | None, existing: Iterable[str]) -> dict[str, int]:
    """The baseline limited to deployments that still exist, re-scaled to 100 (empty if none is left)."""
    keep = set(existing)
    kept = {k: float(v) for k, v in live(baseline).items() if k in keep}
    return _largest_remainder(kept, 100)


def restore_mirror(mirror: Mapping[str, int] | None, existing: Iterable[str], live_target: Mapping[str, int]) -> dict:
    keep = set(existing) - set(live_target)
    return {k: min(int(v), 50) for k, v in live(mirror).items() if k in keep}


# --- waits ---------------------------------------------------------------------------------------

# Provisioning states of an endpoint or deployment while the platform is still applying a change.
BUSY_STATES = ("Creating", "Updating")


def wait_deadline(r: Rollout, now: datetime, timeout: timedelta) -> datetime:
    """When the current wait on the platform (endpoint creation, provisioning, a traffic update) fails: the
    recorded deadline, or ``now + timeout`` recorded on the first ask (a transition clears it)."""
    if r.deadline:
        return parse_iso(r.deadline)
    deadline = now + timeout
    r.deadline = iso(deadline)
    return deadline


# --- smoke test ----------------------------------------------------------------------------------


def expected_predictions(request_body: bytes) -> int | None:
    """How many records the sample request holds (``{"data": [...]}`` or ``{"input_data": {"data": [...]}}``)."""
    try:
        request = json.loads(request_body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if isinstance(request, dict):
        for candidate in (request.get("data"), (request.get("input_data") or {}).get("data")):
            if isinstance(candidate, list):
                return len(candidate)
    return None


def check_scoring_response(request_body: bytes, response: bytes | str) -> str | None:
    """None when the response is ``{"predictions": [p, …]}`` with one probability in [0, 1] per record;
    otherwise what is wrong (for the failure reason)."""
    try:
        body = json.loads(response)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
        return f"response is not JSON ({exc}): {_snippet(response)}"
    if isinstance(body, str):  # some servers JSON-encode the JSON text once more
        try:
            body = json.loads(body)
        except json.JSONDecodeError:
            return f"response is a string, not an object: {_snippet(body)}"
    if not isinstance(body, dict) or not isinstance(body.get("predictions"), list):
        return f'response has no "predictions" list: {_snippet(response)}'
    predictions = body["predictions"]
    expected = expected_predictions(request_body)
    if expected is not None and len(predictions) != expected:
        return f"expected {expected} predictions for {expected} records, got {len(predictions)}"
    if not predictions:
        return "response has an empty predictions list"
    for i, p in enumerate(predictions):
        if isinstance(p, bool) or not isinstance(p, int | float) or not math.isfinite(p) or not 0.0 <= p <= 1.0:
            return f"prediction {i} is not a probability in [0, 1]: {p!r}"
    return None


def _snippet(value: Any, limit: int = 200) -> str:
    text = value.decode("utf-8", errors="replace") if isinstance(value, bytes | bytearray) else str(value)
    return text if len(text) <= limit else text[:limit] + "…"


# --- the document --------------------------------------------------------------------------------


@dataclass
class CleanupItem:
    """A deployment to delete once it has no live and no mirror traffic.

    ``restore_traffic`` (and ``restore_mirror``) is the traffic to put back first when it still has
    traffic (failed or superseded rollouts); None for a retired deployment, which is never taken
    traffic from: if it has traffic again an operator put it there, and it is left alone.
    """

    deployment: str
    reason: str  # failed | superseded | retired
    restore_traffic: dict[str, int] | None = None
    restore_mirror: dict[str, int] = field(default_factory=dict)
    added_at: str | None = None
    delete_requested_at: str | None = None
    attempts: int = 0
    last_error: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CleanupItem:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class Rollout:
    """The rollout document of one model (``rollouts/<model>.json``)."""

    model: str
    endpoint: str
    version: str
    rollout_id: str
    deployment: str
    model_ref: str
    phase: str = PENDING
    registry: str | None = None
    instance_type: str | None = None
    data_collection: bool = False  # absent in documents written before the setting: off, as they were deployed
    traffic_steps: list[int] = field(default_factory=lambda: [100])
    mirror_percent: int = 0
    step: int | None = None  # index into traffic_steps while in TRAFFIC
    baseline_traffic: dict[str, int] | None = None  # live traffic found before anything changed
    baseline_mirror: dict[str, int] = field(default_factory=dict)
    previous: list[str] = field(default_factory=list)  # deployments that served before (to retire)
    retire_queued: bool = False  # the previous deployments were handed to cleanup
    traffic: dict[str, int] = field(default_factory=dict)  # live traffic last set by the rollout
    mirror: dict[str, int] = field(default_factory=dict)  # mirror traffic last set by the rollout
    phase_entered_at: str | None = None
    wait_until: str | None = None  # end of the dwell at a traffic or mirror step
    deadline: str | None = None  # the current wait (endpoint creation, provisioning) fails after this
    transient_since: str | None = None  # first of an unbroken run of transient platform errors
    last_error: str | None = None
    failure_reason: str | None = None
    traffic_reapplied: int = 0
    window_start: str | None = None  # start of the window the gate judges (the step's traffic was set then)
    gate: dict[str, Any] | None = None  # the last gate judgement: decision, reasons, figures, window, limits
    gates: list[dict[str, Any]] = field(default_factory=list)  # every judgement of this rollout (bounded)
    gate_waiting_since: str | None = None  # first judgement with too little traffic in this window
    approval_steps: list[str] = field(default_factory=list)  # labels that wait for an operator (ROLLOUT_APPROVAL_STEPS)
    approvals: list[dict[str, Any]] = field(default_factory=list)  # what operators approved: label, at, by
    awaiting_approval: str | None = None  # the label the rollout waits on ("100", "retire", "low-traffic:10")
    abort_requested: dict[str, Any] | None = None  # an operator's abort: at, by, reason (the next tick acts on it)
    requested_by: str = "event"  # event | operator (an operator may roll out an older version)
    rolled_back: bool = False  # ended in failed after its traffic was restored and its deployment deleted
    deployed: dict[str, Any] | None = None  # what serves 100 % after the last successful rollout
    cleanup: list[CleanupItem] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    past: list[dict[str, Any]] = field(default_factory=list)  # summaries of earlier rollouts
    created_at: str | None = None
    updated_at: str | None = None
    finished_at: str | None = None

    @property
    def active(self) -> bool:
        return self.phase not in TERMINAL

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rollout:
        """Raises ValueError naming what is wrong when the document is not a rollout document."""
        try:
            values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            values["cleanup"] = [CleanupItem.from_dict(c) for c in data.get("cleanup") or []]
            rollout = cls(**values)
        except (TypeError, AttributeError) as exc:
            raise ValueError(f"not a rollout document ({exc})") from None
        if rollout.phase not in PHASES:
            raise ValueError(f"not a rollout document (unknown phase {rollout.phase!r})")
        return rollout

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["state"] = self.phase  # the one word `status` readers look for first
        out["outcome"] = self.outcome
        return out

    def transition(self, to: str, now: datetime, detail: str = "") -> None:
        entry = {"at": iso(now), "from": self.phase, "to": to}
        if detail:
            entry["detail"] = detail
        self.history.append(entry)
        del self.history[:-HISTORY_LIMIT]
        self.phase = to
        self.phase_entered_at = iso(now)
        self.deadline = None
        self.wait_until = None
        if to in TERMINAL:
            self.finished_at = iso(now)

    def note(self, now: datetime, detail: str) -> None:
        """A history entry without a phase change (endpoint creation requested, traffic re-applied, …)."""
        self.history.append({"at": iso(now), "from": self.phase, "to": self.phase, "detail": detail})
        del self.history[:-HISTORY_LIMIT]

    @property
    def outcome(self) -> str:
        """The phase, except ``rolled_back`` for a failed rollout whose deployment had taken traffic away."""
        return "rolled_back" if self.phase == FAILED and self.rolled_back else self.phase

    def approved(self, label: str) -> bool:
        return any(a.get("label") == label for a in self.approvals)

    def record_gate(self, judgement: dict[str, Any]) -> None:
        self.gate = judgement
        self.gates.append(judgement)
        del self.gates[:-GATE_LIMIT]

    def summary(self, outcome: str | None = None) -> dict[str, Any]:
        return {
            "rollout_id": self.rollout_id,
            "version": self.version,
            "deployment": self.deployment,
            "outcome": outcome or self.outcome,
            "reason": self.failure_reason,
            "gate": self.gate,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
        }

    def cleanup_item(self, deployment: str) -> CleanupItem | None:
        return next((c for c in self.cleanup if c.deployment == deployment), None)

    def add_cleanup(self, item: CleanupItem) -> None:
        if self.cleanup_item(item.deployment) is None:
            self.cleanup.append(item)
