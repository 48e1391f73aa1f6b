"""Safe rollout: `deploy_registered_model` (Event Grid, ModelRegistered) and `reconcile_rollouts` (timer).

The Event Grid handler only records the rollout (milliseconds, no ML platform call); the timer
advances it. What escapes the Event Grid handler, and so makes Event Grid redeliver (with back-off, for
at most its retry policy, 24 h by default, then dead-lettering): a state-store failure and a
configuration error, both of which a later delivery can succeed after. Everything about the event
itself (other type, other model, skip tag, malformed data or envelope, duplicates, stale versions) is
logged and acknowledged, because redelivering the same event cannot change the outcome. Both delivery
schemas, Event Grid and CloudEvents 1.0, are read. An unreadable rollout document (not a JSON object) is
logged naming it and raised: Event Grid redelivers, then dead-letters the event, so the event is kept until
an operator fixes or deletes the document. The reconciler logs such a document, reconciles the others and
then raises, so the tick shows as failed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import azure.functions as func

from shared.context import AppContext, get_context
from shared.payloads import PayloadError
from shared.ports import CorruptDocumentError, PlatformError, TransientError
from shared.settings_parsing import SettingsError

if TYPE_CHECKING:
    from shared.services.rollout_reconciler import RolloutReconciler

# The event model and the rollout service are imported inside the functions: function start-up
# (every cold start indexes all functions) does not pay for them.

bp = func.Blueprint()
log = logging.getLogger(__name__)

SAMPLE_REQUEST = Path(__file__).resolve().parents[2] / "ml_assets" / "endpoints" / "sample-request.json"


@bp.function_name("deploy_registered_model")
@bp.event_grid_trigger(arg_name="event")
def deploy_registered_model(event: func.EventGridEvent) -> None:
    # The worker needs one class as the annotation; for a CloudEvents 1.0 subscription it passes a
    # func.CloudEvent all the same (see shared.payloads.events), which read_envelope reads too.
    from shared.payloads.events import is_model_registered, parse_envelope, read_envelope
    from shared.services.rollout_intake import RolloutConfig, record_model_registered

    envelope = read_envelope(event)
    event_id = envelope.label()
    if not is_model_registered(envelope.type):
        log.info("deploy_registered_model: event %s of type %s ignored", event_id, envelope.type_label())
        return
    try:
        parsed = parse_envelope(envelope)
    except PayloadError as exc:
        log.warning(
            "deploy_registered_model: malformed event %s (%s, subject %s) ignored: %s",
            event_id,
            envelope.schema,
            envelope.subject_label(),
            exc,
        )
        return

    event_id = parsed.event_id
    try:
        context = get_context()
        config = RolloutConfig.from_settings(context.settings)
        result = record_model_registered(context.state_store(), parsed, config)
    except SettingsError as exc:
        log.error("deploy_registered_model: event %s not recorded, configuration error: %s", event_id, exc)
        raise
    except TransientError as exc:
        log.warning("deploy_registered_model: event %s not recorded yet (Event Grid redelivers): %s", event_id, exc)
        raise
    except CorruptDocumentError as exc:
        log.error("deploy_registered_model: event %s not recorded (Event Grid redelivers): %s", event_id, exc)
        raise
    except PlatformError as exc:
        log.error("deploy_registered_model: event %s not recorded, state store error: %s", event_id, exc)
        raise

    log.info(
        "deploy_registered_model: event %s model %s version %s: %s (%s)",
        event_id,
        result.model,
        result.version,
        result.decision.value,
        result.detail,
    )


def _read_sample_request() -> bytes:
    return SAMPLE_REQUEST.read_bytes()


def build_reconciler(context: AppContext) -> RolloutReconciler:
    """The one reconciler of the app (the timer and the operator controls run the same state machine)."""
    from shared.services.rollout_intake import RolloutConfig
    from shared.services.rollout_reconciler import RolloutReconciler

    config = RolloutConfig.from_settings(context.settings)
    return RolloutReconciler(
        context.state_store(),
        context.endpoint_platform,  # built on first use: an idle tick needs no Azure ML client
        config,
        _read_sample_request,
        registry=context.model_registry if config.registry else None,
        metrics=context.deployment_metrics if config.gate is not None else None,
    )


@bp.function_name("reconcile_rollouts")
@bp.timer_trigger(arg_name="timer", schedule="%ROLLOUT_RECONCILE_SCHEDULE%", run_on_startup=False, use_monitor=True)
def reconcile_rollouts(timer: func.TimerRequest) -> None:
    if timer.past_due:
        log.info("reconcile_rollouts: running late (past due)")
    from shared.triggers.rollout_followups import follow_up, pick_up_candidates

    try:
        context = get_context()
        pick_up_candidates(context)
        tick = build_reconciler(context).run()
        if tick.acted:
            follow_up(context)
    except SettingsError as exc:
        log.error("reconcile_rollouts: configuration error: %s", exc)
        raise
    except TransientError as exc:
        log.warning("reconcile_rollouts: state store unavailable, the next tick retries: %s", exc)
        return
    except CorruptDocumentError as exc:
        log.error("reconcile_rollouts: %s", exc)
        raise
    except PlatformError as exc:
        log.error("reconcile_rollouts: %s", exc)
        raise
    if tick.acted:
        log.info("reconcile_rollouts: %s", tick.rollouts or "no rollout")
