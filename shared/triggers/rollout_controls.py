"""Operator controls of the safe rollout (HTTP, function key): read, abort, approve, start.

- ``GET /api/rollouts/{model}``: the rollout's state, history and last gate figures (200; 404 without one).
- ``POST /api/rollouts/{model}/abort``: records the abort and runs one reconciler tick, so the rollback starts.
  202 recorded; 200 already aborted or rolling back; 409 finished, or retiring (too late: roll out the older
  version instead); 404.
- ``POST /api/rollouts/{model}/approve``: records the approval and runs one reconciler tick, so the step goes
  on. 202 recorded; 200 already approved; 409 nothing waits for it, or finished; 404.
- ``POST /api/rollouts``: records a rollout of the given version as ModelRegistered does (older versions and
  redeploys allowed). 202 started; 200 duplicate; 404 no such model version; 422 another model.

Every route: 400 naming the field for a bad body or model name, 503 with Retry-After when the state store (or
Azure ML) is unavailable, 500 naming the setting or the unreadable document. The controls only record intent;
the reconciler's state machine acts on it (:mod:`shared.services.rollout_controls`). The tick run after an abort
or approval is the timer's own; when another tick holds the lock, that one (or the next) acts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import azure.functions as func

from shared.context import get_context
from shared.payloads import PayloadError
from shared.ports import CorruptDocumentError, NotFoundError, PlatformError, StateStore, TransientError
from shared.settings_parsing import SettingsError
from shared.triggers.http import error_response, json_response

if TYPE_CHECKING:
    from shared.services.rollout_controls import ControlOutcome

bp = func.Blueprint()
log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
_STATUS = {"recorded": 202, "already": 200, "not_found": 404, "finished": 409, "not_waiting": 409, "too_late": 409}


def _guarded(name: str, handle: Callable[[], func.HttpResponse]) -> func.HttpResponse:
    """Map what may escape a control to a response: never a 500 for bad input."""
    try:
        return handle()
    except PayloadError as exc:
        return error_response(400, str(exc), field=exc.field)
    except SettingsError as exc:
        log.error("%s: configuration error: %s", name, exc)
        return error_response(500, str(exc), setting=exc.name)
    except TransientError as exc:
        body = {"error": f"temporarily unavailable; retry later (a retry is safe): {exc}"}
        return json_response(503, body, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    except CorruptDocumentError as exc:
        log.error("%s: %s", name, exc)
        return error_response(500, str(exc), document=exc.key)
    except NotFoundError as exc:
        return error_response(404, str(exc))
    except PlatformError as exc:
        log.error("%s: %s", name, exc)
        return error_response(502, str(exc))
    except Exception:  # a bug: answer with JSON and keep the stack trace in the log
        log.exception("%s: unexpected error", name)
        return error_response(500, "internal error; see the function's log")


def _act_now(name: str) -> None:
    """One reconciler tick, so the recorded intent takes effect within the request; its failure is only logged
    (the intent is stored: the timer's next tick acts on it)."""
    from shared.triggers.rollout import build_reconciler

    try:
        build_reconciler(get_context()).run()
    except Exception as exc:  # noqa: BLE001 - the answer is the recorded intent, whatever the tick did
        log.warning("%s: recorded; the reconcile tick run at once failed (the timer retries): %s", name, exc)


@bp.function_name("get_rollout")
@bp.route(route="rollouts/{model}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_rollout(req: func.HttpRequest) -> func.HttpResponse:
    def handle() -> func.HttpResponse:
        from shared.payloads.rollout_requests import route_model
        from shared.services.rollout_controls import read_rollout

        model = route_model(req.route_params.get("model"))
        view = read_rollout(get_context().state_store(), model)
        if view is None:
            return error_response(404, f"no rollout of model {model}")
        return json_response(200, view)

    return _guarded("get_rollout", handle)


def _recorded_intent(function: str, store: StateStore, model: str, outcome: ControlOutcome) -> func.HttpResponse:
    """The answer to an abort or an approval: logged, acted on at once when newly recorded (one reconcile tick),
    with the rollout as it is then."""
    from shared.services.rollout_controls import read_rollout

    log.info("%s: %s %s: %s", function, model, outcome.decision.value, outcome.detail)
    rollout = outcome.rollout
    if outcome.decision == "recorded":
        _act_now(function)
        rollout = read_rollout(store, model) or rollout
    answer = {"decision": outcome.decision.value, "detail": outcome.detail, "rollout": rollout}
    return json_response(_STATUS[outcome.decision.value], answer)


@bp.function_name("abort_rollout")
@bp.route(route="rollouts/{model}/abort", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def abort_rollout(req: func.HttpRequest) -> func.HttpResponse:
    def handle() -> func.HttpResponse:
        from shared.payloads.rollout_requests import parse_abort, route_model
        from shared.services.rollout_controls import request_abort

        model = route_model(req.route_params.get("model"))
        body = parse_abort(req.get_body())
        store = get_context().state_store()
        outcome = request_abort(store, model, by=body.by, reason=body.reason)
        return _recorded_intent("abort_rollout", store, model, outcome)

    return _guarded("abort_rollout", handle)


@bp.function_name("approve_rollout")
@bp.route(route="rollouts/{model}/approve", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def approve_rollout(req: func.HttpRequest) -> func.HttpResponse:
    def handle() -> func.HttpResponse:
        from shared.payloads.rollout_requests import parse_approve, route_model
        from shared.services.rollout_controls import approve

        model = route_model(req.route_params.get("model"))
        body = parse_approve(req.get_body())
        store = get_context().state_store()
        outcome = approve(store, model, by=body.by, step=body.step)
        return _recorded_intent("approve_rollout", store, model, outcome)

    return _guarded("approve_rollout", handle)


@bp.function_name("start_rollout")
@bp.route(route="rollouts", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def start_rollout(req: func.HttpRequest) -> func.HttpResponse:
    def handle() -> func.HttpResponse:
        from shared.payloads.events import ModelRegisteredEvent
        from shared.payloads.rollout_requests import parse_start
        from shared.services.rollout_intake import RolloutConfig, RolloutDecision, record_model_registered

        body = parse_start(req.get_body())
        context = get_context()
        config = RolloutConfig.from_settings(context.settings)
        if body.model != config.model_name:
            return error_response(422, f"this app rolls out {config.model_name!r} only", field="model")
        context.model_registry().get_model(body.model, body.version)  # NotFoundError: 404
        key = body.request_id or f"{body.model}:{body.version}"
        event = ModelRegisteredEvent(
            event_id=f"operator:{key}",
            model_name=body.model,
            version=body.version,
            tags={},
            subject=f"models/{body.model}:{body.version}",
        )
        result = record_model_registered(context.state_store(), event, config, requested_by="operator")
        log.info("start_rollout: %s:%s %s (%s)", body.model, body.version, result.decision.value, result.detail)
        status = 202 if result.decision in (RolloutDecision.STARTED, RolloutDecision.SUPERSEDED) else 200
        answer = {
            "decision": result.decision.value,
            "detail": result.detail,
            "model": result.model,
            "version": result.version,
            "rollout_id": result.rollout_id,
        }
        return json_response(status, answer)

    return _guarded("start_rollout", handle)
