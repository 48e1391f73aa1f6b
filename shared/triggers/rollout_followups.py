"""What the reconcile timer does around the rollout reconciler: promotion candidates picked up before it, the
champion tag and the promotion of a succeeded rollout after it.

Each part fails alone: an error, a missing or malformed setting included, is logged (ERROR, or WARNING when
transient) and the part is tried again on the next tick; it never holds back the rollouts, which the reconciler
advances whatever the registry answers.
"""

from __future__ import annotations

import logging

from shared.context import AppContext
from shared.ports import PlatformError, TransientError
from shared.settings_parsing import SettingsError

log = logging.getLogger(__name__)


def pick_up_candidates(context: AppContext) -> None:
    """With PROMOTION_SOURCE: record the rollouts of new (approved) candidates, before the reconciler advances them."""
    from shared.services.promotion_intake import PromotionIntake
    from shared.services.promotion_publish import PromotionConfig
    from shared.services.rollout_intake import RolloutConfig

    try:
        config = PromotionConfig.from_settings(context.settings)
        if not config.picks_up:
            return
        intake = PromotionIntake(
            context.state_store(), context.promotion_registry, config, RolloutConfig.from_settings(context.settings)
        )
        outcome = intake.run()
    except SettingsError as exc:
        log.error("reconcile_rollouts: promotion candidates not polled, configuration error: %s", exc)
        return
    except PlatformError as exc:
        level = logging.WARNING if isinstance(exc, TransientError) else logging.ERROR
        log.log(level, "reconcile_rollouts: promotion candidates not polled, the next tick retries: %s", exc)
        return
    if outcome.found or outcome.recorded:
        log.info("reconcile_rollouts: promotion candidates found %s, rollouts %s", outcome.found, outcome.recorded)


def follow_up(context: AppContext) -> None:
    """After the reconciler: the champion tag follows the rollout's outcome; with PROMOTE_TO, a succeeded rollout
    becomes a candidate for the next environment."""
    from shared.services.champion import ChampionKeeper
    from shared.services.promotion_publish import PromotionConfig, PromotionPublisher

    store = context.state_store()
    settings = context.settings
    try:
        ChampionKeeper(store, context.model_registry, settings.model_name).run()
    except SettingsError as exc:
        log.error("reconcile_rollouts: champion tag not synced, configuration error: %s", exc)
    except PlatformError as exc:
        level = logging.WARNING if isinstance(exc, TransientError) else logging.ERROR
        log.log(level, "reconcile_rollouts: champion tag not synced, the next tick retries: %s", exc)
    try:
        config = PromotionConfig.from_settings(settings)
        if not config.publishes:
            return
        PromotionPublisher(store, context.promotion_registry, config).run()
    except SettingsError as exc:
        log.error("reconcile_rollouts: promotion not published, configuration error: %s", exc)
    except PlatformError as exc:
        level = logging.WARNING if isinstance(exc, TransientError) else logging.ERROR
        log.log(level, "reconcile_rollouts: promotion not published, the next tick retries: %s", exc)
