"""The champion is what serves: the reconcile timer keeps the model's ``champion`` tag on the version that the last
rollout ending well left serving, so the training pipeline's gate compares a challenger with that version.

Which version (:func:`champion_of`): a rollout ``succeeded`` → its version; ``skipped`` → the version it found
serving (``deployed``); ``failed`` (rolled back) or still running → the champion does not change. So a version that
failed is never the champion, and during a rollout the champion is still the version it replaces.

``champions/<model>.json`` records the rollout the tag was last synced for: an idle tick reads two state documents
and calls nothing. After a new outcome one tick lists the model's versions, sets the tag on the champion (value: the
time it became champion), then removes it from every other version. Setting before removing means a tick that dies
half-way leaves two tagged versions, never none; the tag's value tells them apart
(:func:`~ml_assets.src.contracts.champion.pick_champion`), and the next tick finishes the job. The document is
written last. A version that is not in this workspace (deployed from a registry) is recorded as champion and
tagged nowhere. Plain Python, no Azure SDK.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from ml_assets.src.contracts.champion import CHAMPION_TAG
from shared.clock import utcnow
from shared.ports import ConflictError, CorruptDocumentError, ModelRegistry, StateStore
from shared.services import state_keys
from shared.services.rollout_state import SKIPPED, SUCCEEDED, Rollout, rollout_key
from shared.services.timestamps import iso

log = logging.getLogger(__name__)

HISTORY_LIMIT = 20


def champion_key(model: str) -> str:
    return f"{state_keys.CHAMPION_PREFIX}{model}.json"


class ChampionDecision(StrEnum):
    CROWNED = "crowned"  # the tag moved to a new version
    UNCHANGED = "unchanged"  # already synced for the latest outcome, or no outcome that moves it
    NONE_YET = "no_champion"  # no rollout has ended well yet: the first training has nothing to beat
    UNREADABLE = "unreadable"  # the rollout document cannot be read; nothing changed


@dataclass(frozen=True)
class ChampionOutcome:
    model: str
    decision: ChampionDecision
    version: str | None
    detail: str


def champion_of(rollout: Rollout) -> str | None:
    """The version that serves because of ``rollout``'s outcome, or None when the outcome moves nothing."""
    if rollout.phase == SUCCEEDED:
        return rollout.version
    if rollout.phase == SKIPPED and rollout.deployed and rollout.deployed.get("version") is not None:
        return str(rollout.deployed["version"])
    return None


class ChampionKeeper:
    """Keeps the champion tag of ``model`` in line with the rollout's outcome. ``registry`` is a factory: built
    only when the tag must move."""

    def __init__(
        self,
        store: StateStore,
        registry: Callable[[], ModelRegistry],
        model: str,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self._registry = registry
        self.model = model
        self.clock = clock

    def current(self) -> dict[str, Any] | None:
        """The champion document (version, since, rollout id), None before the first rollout ended well."""
        found = self.store.get(champion_key(self.model))
        return dict(found.data) if found else None

    def run(self) -> ChampionOutcome:
        """Sync the tag once for the latest outcome. Lets TransientError / PlatformError through (retried next tick)."""
        try:
            found = self.store.get(rollout_key(self.model))
        except CorruptDocumentError as exc:
            return ChampionOutcome(self.model, ChampionDecision.UNREADABLE, None, str(exc))
        recorded = self.store.get(champion_key(self.model))
        previous = recorded.data if recorded else {}
        if found is None:
            return self._no_change(previous, "no rollout recorded")
        try:
            rollout = Rollout.from_dict(found.data)
        except ValueError as exc:
            return ChampionOutcome(self.model, ChampionDecision.UNREADABLE, None, f"{found.key}: {exc}")
        version = champion_of(rollout)
        if version is None:
            return self._no_change(previous, f"rollout of version {rollout.version} is {rollout.phase}")
        if previous.get("rollout_id") == rollout.rollout_id and previous.get("version") == version:
            return ChampionOutcome(self.model, ChampionDecision.UNCHANGED, version, "tag already synced")

        now = self.clock()
        since = str(previous["since"]) if previous.get("version") == version and previous.get("since") else iso(now)
        tagged, removed = self._move_tag(version, since)
        doc = {
            "model": self.model,
            "version": version,
            "since": since,
            "rollout_id": rollout.rollout_id,
            "outcome": rollout.phase,
            "tagged": tagged,
            "untagged": removed,
            "synced_at": iso(now),
            "history": [
                *previous.get("history", []),
                {"at": iso(now), "version": version, "rollout_id": rollout.rollout_id, "outcome": rollout.phase},
            ][-HISTORY_LIMIT:],
        }
        try:
            if recorded is None:
                self.store.create(champion_key(self.model), doc)
            else:
                self.store.replace(champion_key(self.model), doc, recorded.etag)
        except ConflictError:
            pass  # another tick synced at the same time: the tags are what it set too
        where = "tagged" if tagged else "not in this workspace: recorded only"
        detail = f"version {version} serves ({rollout.phase} rollout {rollout.rollout_id}); {where}"
        if removed:
            detail += f"; tag removed from {', '.join(removed)}"
        log.info("CHAMPION model=%s version=%s: %s", self.model, version, detail)
        return ChampionOutcome(self.model, ChampionDecision.CROWNED, version, detail)

    def _move_tag(self, version: str, since: str) -> tuple[bool, list[str]]:
        registry = self._registry()
        versions = registry.list_models(self.model)
        target = next((m for m in versions if m.version == version), None)
        if target is not None and target.tags.get(CHAMPION_TAG) != since:
            registry.update_tags(self.model, version, set_tags={CHAMPION_TAG: since})
        removed = []
        for other in versions:
            if other.version != version and CHAMPION_TAG in other.tags:
                registry.update_tags(self.model, other.version, set_tags={}, remove=(CHAMPION_TAG,))
                removed.append(other.version)
        return target is not None, removed

    def _no_change(self, previous: dict[str, Any], why: str) -> ChampionOutcome:
        if previous.get("version"):
            return ChampionOutcome(self.model, ChampionDecision.UNCHANGED, str(previous["version"]), why)
        return ChampionOutcome(self.model, ChampionDecision.NONE_YET, None, why)
