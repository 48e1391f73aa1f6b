"""Promotion, the target side: the reconcile timer finds the candidates the source environment marked in the
registry and hands each, once, to the same rollout intake as a ModelRegistered event.

Registries emit no events to rely on, so the environment that receives (``PROMOTION_SOURCE``) polls: each reconcile
tick lists the model's versions in ``PROMOTION_REGISTRY`` and keeps those tagged a candidate for its
``ENVIRONMENT_NAME`` by that source. ``promotions/<model>/candidates.json`` holds each candidate found and its state:

- ``awaiting_approval`` (with ``PROMOTION_APPROVAL``): nothing happens until :func:`approve_candidate`
  (``POST /api/promotions/{model}/{version}/approve``) or :func:`reject_candidate`;
- ``approved``: the next tick records its rollout through :func:`~shared.services.rollout_intake.
  record_model_registered`, deploying the registry reference, with this environment's own steps and gates;
- ``rollout_recorded``: the intake's decision and the rollout id are kept; the rollout document says the rest;
- ``rejected``; ``ignored`` (not newer than the version deployed here when it was found).

Once: a candidate is recorded in the document before anything else happens to it, the document is written with
ETag conditions, ticks hold the ``promotions`` lock, and the intake itself ignores a version that already has a
rollout. So a timer that runs twice, or two at once, rolls a candidate out once. Plain Python, no Azure SDK.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ml_assets.src.contracts.promotion_tags import PROMOTED_AT_TAG, PROMOTED_ROLLOUT_TAG, is_candidate
from shared.clock import utcnow
from shared.payloads.events import ModelRegisteredEvent, version_key
from shared.ports import ConflictError, LockHeldError, PromotionRegistry, StateStore, TransientError
from shared.services import state_keys
from shared.services.promotion_publish import PromotionConfig
from shared.services.rollout_intake import RolloutConfig, record_model_registered
from shared.services.rollout_state import Rollout, rollout_key
from shared.services.timestamps import iso

log = logging.getLogger(__name__)

AWAITING_APPROVAL = "awaiting_approval"
APPROVED = "approved"
ROLLOUT_RECORDED = "rollout_recorded"
REJECTED = "rejected"
IGNORED = "ignored"

CANDIDATE_LIMIT = 50
_ATTEMPTS = 8


def candidates_key(model: str) -> str:
    return f"{state_keys.PROMOTION_PREFIX}{model}/candidates.json"


@dataclass
class PickupOutcome:
    acted: bool  # False when another tick held the lock
    found: list[str] = field(default_factory=list)  # versions newly found
    recorded: dict[str, str] = field(default_factory=dict)  # version -> the rollout intake's decision


class CandidateError(Exception):
    """An approval or rejection that cannot apply: ``status`` 404 (no such candidate) or 409 (its state)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


class PromotionIntake:
    """Picks up candidates for this environment. ``registry`` is a factory (built on the first tick that polls)."""

    def __init__(
        self,
        store: StateStore,
        registry: Callable[[], PromotionRegistry],
        config: PromotionConfig,
        rollout_config: RolloutConfig,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self._registry = registry
        self.config = config
        self.rollout_config = rollout_config
        self.clock = clock

    def run(self) -> PickupOutcome:
        """One poll. Lets platform errors through (the next tick polls again)."""
        if not self.config.source or not self.config.environment:
            return PickupOutcome(acted=False)
        try:
            with self.store.lock(state_keys.PROMOTION_LOCK):
                outcome = PickupOutcome(acted=True)
                outcome.found = self._find()
                for version in self._approved():
                    outcome.recorded[version] = self._record(version)
                return outcome
        except LockHeldError:
            log.info("promotion pickup: another tick holds the lock; this one does nothing")
            return PickupOutcome(acted=False)

    def _find(self) -> list[str]:
        model, env, source = self.config.model_name, str(self.config.environment), str(self.config.source)
        listed = [m for m in self._registry().versions(model) if is_candidate(m.tags, env, source)]
        if not listed:
            return []
        deployed = _deployed_version(self.store, model)
        for _ in range(_ATTEMPTS):
            found, doc = _read(self.store, model, self.config)
            now = iso(self.clock())
            new = []
            for info in sorted(listed, key=lambda m: version_key(m.version)):
                if info.version in doc["candidates"]:
                    continue
                entry: dict[str, Any] = {
                    "version": info.version,
                    "reference": info.path,
                    "promoted_at": info.tags.get(PROMOTED_AT_TAG),
                    "source_rollout_id": info.tags.get(PROMOTED_ROLLOUT_TAG),
                    "tags": dict(info.tags),
                    "found_at": now,
                }
                if deployed is not None and version_key(info.version) <= version_key(deployed):
                    _set_state(entry, IGNORED, now, f"version {deployed} is deployed here")
                elif self.config.approval:
                    _set_state(entry, AWAITING_APPROVAL, now, "PROMOTION_APPROVAL: waits for an approval")
                else:
                    _set_state(entry, APPROVED, now, "no approval required")
                doc["candidates"][info.version] = entry
                new.append(info.version)
            if not new:
                return []
            doc["last_found_at"] = now
            _trim(doc)
            if _write(self.store, model, doc, found):
                for version in new:
                    entry = doc["candidates"][version]
                    log.info(
                        "PROMOTION_FOUND model=%s version=%s source=%s state=%s", model, version, source, entry["state"]
                    )
                return new
        raise TransientError(f"{candidates_key(model)}: changed {_ATTEMPTS} times while recording candidates")

    def _approved(self) -> list[str]:
        _, doc = _read(self.store, self.config.model_name, self.config)
        ready = [v for v, c in doc["candidates"].items() if c.get("state") == APPROVED]
        return sorted(ready, key=version_key)

    def _record(self, version: str) -> str:
        """The candidate's rollout through the rollout intake, then its decision in the candidate document."""
        model = self.config.model_name
        _, doc = _read(self.store, model, self.config)
        entry = doc["candidates"].get(version) or {}
        if entry.get("state") != APPROVED:
            return str((entry.get("rollout") or {}).get("decision", entry.get("state")))
        event = ModelRegisteredEvent(
            event_id=f"promotion:{self.config.source}:{model}:{version}:{entry.get('source_rollout_id') or ''}",
            model_name=model,
            version=version,
            tags={str(k): str(v) for k, v in (entry.get("tags") or {}).items()},
            subject=f"models/{model}:{version}",
        )
        result = record_model_registered(
            self.store, event, self.rollout_config, clock=self.clock, model_ref=str(entry["reference"])
        )
        for _ in range(_ATTEMPTS):
            found, doc = _read(self.store, model, self.config)
            current = doc["candidates"].get(version)
            if current is None or current.get("state") != APPROVED:
                return result.decision.value  # recorded by someone else meanwhile
            now = iso(self.clock())
            current["rollout"] = {
                "decision": result.decision.value,
                "detail": result.detail,
                "rollout_id": result.rollout_id,
                "at": now,
            }
            _set_state(current, ROLLOUT_RECORDED, now, f"rollout intake: {result.decision.value} ({result.detail})")
            if _write(self.store, model, doc, found):
                log.info(
                    "PROMOTION_ROLLOUT model=%s version=%s decision=%s rollout_id=%s: %s",
                    model,
                    version,
                    result.decision.value,
                    result.rollout_id,
                    result.detail,
                )
                return result.decision.value
        raise TransientError(f"{candidates_key(model)}: changed {_ATTEMPTS} times while recording version {version}")


def approve_candidate(
    store: StateStore,
    config: PromotionConfig,
    version: str,
    *,
    by: str = "",
    clock: Callable[[], datetime] = utcnow,
) -> dict[str, Any]:
    """Approve a candidate that awaits approval; its rollout is recorded on the next reconcile tick.

    Idempotent: approving an approved (or already rolled out) candidate returns it unchanged. Raises
    :class:`CandidateError` 404 when there is no such candidate, 409 when it was rejected or ignored.
    """
    return _decide(store, config, version, APPROVED, by=by, clock=clock)


def reject_candidate(
    store: StateStore,
    config: PromotionConfig,
    version: str,
    *,
    by: str = "",
    clock: Callable[[], datetime] = utcnow,
) -> dict[str, Any]:
    """Reject a candidate that awaits approval (idempotent; 409 once it was approved or rolled out)."""
    return _decide(store, config, version, REJECTED, by=by, clock=clock)


def read_candidates(store: StateStore, config: PromotionConfig) -> dict[str, Any]:
    return _read(store, config.model_name, config)[1]


def _decide(
    store: StateStore, config: PromotionConfig, version: str, to: str, *, by: str, clock: Callable[[], datetime]
) -> dict[str, Any]:
    model = config.model_name
    for _ in range(_ATTEMPTS):
        found, doc = _read(store, model, config)
        entry = doc["candidates"].get(version)
        if entry is None:
            raise CandidateError(404, f"model {model} version {version} is not a promotion candidate here")
        state = entry.get("state")
        done = (APPROVED, ROLLOUT_RECORDED) if to == APPROVED else (REJECTED,)
        if state in done:
            return dict(entry)
        if state != AWAITING_APPROVAL:
            raise CandidateError(409, f"model {model} version {version} is {state}: it cannot be {to} now")
        now = iso(clock())
        entry[f"{to}_at"] = now
        entry[f"{to}_by"] = by or None
        _set_state(entry, to, now, f"{to} by {by or 'an operator'}")
        if _write(store, model, doc, found):
            log.info("PROMOTION_%s model=%s version=%s by=%s", to.upper(), model, version, by or "-")
            return dict(entry)
    raise TransientError(f"{candidates_key(model)}: changed {_ATTEMPTS} times; retry")


# --- the document --------------------------------------------------------------------------------


def _read(store: StateStore, model: str, config: PromotionConfig) -> tuple[Any, dict[str, Any]]:
    found = store.get(candidates_key(model))
    if found is not None:
        doc = dict(found.data)
        doc["candidates"] = {str(k): dict(v) for k, v in (doc.get("candidates") or {}).items()}
        return found, doc
    return None, {
        "model": model,
        "environment": config.environment,
        "source": config.source,
        "registry": config.registry,
        "candidates": {},
    }


def _write(store: StateStore, model: str, doc: dict[str, Any], found: Any) -> bool:
    try:
        if found is None:
            store.create(candidates_key(model), doc)
        else:
            store.replace(candidates_key(model), doc, found.etag)
    except ConflictError:
        return False
    return True


def _set_state(entry: dict[str, Any], state: str, at: str, detail: str) -> None:
    entry["state"] = state
    entry.setdefault("history", []).append({"at": at, "state": state, "detail": detail})


def _trim(doc: dict[str, Any]) -> None:
    """Keep the newest candidates; an evicted one is older than the deployed version or than 50 newer ones."""
    versions = sorted(doc["candidates"], key=version_key)
    for old in versions[:-CANDIDATE_LIMIT]:
        if doc["candidates"][old].get("state") not in (AWAITING_APPROVAL, APPROVED):
            del doc["candidates"][old]


def _deployed_version(store: StateStore, model: str) -> str | None:
    found = store.get(rollout_key(model))
    if found is None:
        return None
    try:
        deployed = Rollout.from_dict(found.data).deployed or {}
    except ValueError:
        return None
    return str(deployed["version"]) if deployed.get("version") is not None else None
