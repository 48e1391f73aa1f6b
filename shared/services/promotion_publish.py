"""Promotion, the source side: a version whose rollout succeeded here is shared to the registry and marked a
candidate for the next environment.

One app instance runs per environment. In one configured to promote (``PROMOTE_TO``), the reconcile timer looks
at the rollout document after each tick: when it ended ``succeeded`` (every step and gate passed) and that rollout
has not been published yet, the version is shared into ``PROMOTION_REGISTRY`` (same name and version; an existing
copy is success) and tagged a candidate for ``PROMOTE_TO`` (:mod:`ml_assets.src.contracts.promotion_tags`).
``promotions/<model>/published.json`` records each rollout published, written after the registry calls, so a tick
that dies in between publishes again (both calls are idempotent) and an idle tick calls nothing. A rollout that
failed, or was skipped, publishes nothing. Plain Python, no Azure SDK.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ml_assets.src.contracts.promotion_tags import candidate_tags
from shared.clock import utcnow
from shared.ports import ConflictError, PromotionRegistry, StateStore
from shared.services import state_keys
from shared.services.rollout_state import SUCCEEDED, Rollout, rollout_key
from shared.services.timestamps import iso
from shared.settings_parsing import SettingsError

log = logging.getLogger(__name__)

PUBLISHED_LIMIT = 20
CANDIDATE_PREFIX = "PROMOTION_CANDIDATE"  # the first word of the line a published candidate writes


def published_key(model: str) -> str:
    return f"{state_keys.PROMOTION_PREFIX}{model}/published.json"


@dataclass(frozen=True)
class PromotionConfig:
    """Both sides of promotion, from the settings (read once per invocation)."""

    model_name: str
    environment: str | None = None
    registry: str | None = None
    promote_to: str | None = None
    source: str | None = None
    approval: bool = False

    @classmethod
    def from_settings(cls, settings: Any) -> PromotionConfig:
        config = cls(
            model_name=settings.model_name,
            environment=settings.environment_name,
            registry=settings.promotion_registry,
            promote_to=settings.promote_to,
            source=settings.promotion_source,
            approval=settings.promotion_approval,
        )
        config.check()
        return config

    @property
    def publishes(self) -> bool:
        return bool(self.promote_to)

    @property
    def picks_up(self) -> bool:
        return bool(self.source)

    def check(self) -> None:
        """SettingsError when a promotion side is on without what it needs."""
        side = "PROMOTE_TO" if self.promote_to else "PROMOTION_SOURCE" if self.source else None
        if side is None:
            return
        if not self.environment:
            raise SettingsError("ENVIRONMENT_NAME", f"is missing (needed with {side})", "this environment's name")
        if self.environment.lower() in {e.lower() for e in (self.promote_to, self.source) if e}:
            raise SettingsError(
                side, f"names this environment ({self.environment})", "another environment's ENVIRONMENT_NAME"
            )
        if not self.registry and side:
            raise SettingsError("PROMOTION_REGISTRY", f"is missing (needed with {side})", "an Azure ML registry name")


@dataclass(frozen=True)
class PublishOutcome:
    published: bool
    version: str | None
    detail: str
    reference: str | None = None


class PromotionPublisher:
    """Publishes the model's succeeded rollouts as candidates. ``registry`` is a factory: built only to publish."""

    def __init__(
        self,
        store: StateStore,
        registry: Callable[[], PromotionRegistry],
        config: PromotionConfig,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self._registry = registry
        self.config = config
        self.clock = clock

    def run(self) -> PublishOutcome:
        """Publish the latest rollout if it succeeded and is not published yet. Lets platform errors through
        (the next tick retries)."""
        model, target = self.config.model_name, self.config.promote_to
        if not target or not self.config.environment:
            return PublishOutcome(False, None, "this environment promotes nothing (PROMOTE_TO unset)")
        found = self.store.get(rollout_key(model))
        if found is None:
            return PublishOutcome(False, None, "no rollout recorded")
        try:
            rollout = Rollout.from_dict(found.data)
        except ValueError as exc:
            return PublishOutcome(False, None, f"{found.key}: {exc}")
        if rollout.phase != SUCCEEDED:
            return PublishOutcome(False, rollout.version, f"rollout of version {rollout.version} is {rollout.phase}")
        recorded = self.store.get(published_key(model))
        entries: list[dict[str, Any]] = list((recorded.data if recorded else {}).get("published", []))
        if any(e.get("rollout_id") == rollout.rollout_id for e in entries):
            return PublishOutcome(False, rollout.version, "already published")

        now = self.clock()
        registry = self._registry()
        reference = registry.share(model, rollout.version)
        tags = candidate_tags(target, self.config.environment, iso(now), rollout.rollout_id)
        registry.update_tags(model, rollout.version, tags)
        entry = {
            "version": rollout.version,
            "rollout_id": rollout.rollout_id,
            "reference": reference,
            "registry": self.config.registry,
            "candidate_for": target,
            "at": iso(now),
        }
        doc = {"model": model, "last": entry, "published": [*entries, entry][-PUBLISHED_LIMIT:]}
        try:
            if recorded is None:
                self.store.create(published_key(model), doc)
            else:
                self.store.replace(published_key(model), doc, recorded.etag)
        except ConflictError:
            pass  # a concurrent tick published the same rollout (the registry calls are idempotent)
        log.info(
            "%s model=%s version=%s registry=%s candidate_for=%s reference=%s",
            CANDIDATE_PREFIX,
            model,
            rollout.version,
            self.config.registry,
            target,
            reference,
        )
        return PublishOutcome(True, rollout.version, f"candidate for {target}", reference)
