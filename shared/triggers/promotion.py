"""Promotion approval: ``POST /api/promotions/{model}/{version}/approve`` and ``.../reject`` (function key).

A candidate that waits for approval (``PROMOTION_APPROVAL``) is approved or rejected here; the reconcile timer
records the approved candidate's rollout on its next tick (the same intake as a ModelRegistered event). Both are
idempotent: a repeated call answers 200 with the candidate as it is. An optional JSON body ``{"by": "<who>"}`` is
kept with the decision. 404: no such candidate (or another model); 409: the candidate's state does not allow it;
400: a malformed body; 503: the state store is unavailable (retry).
"""

from __future__ import annotations

import json
import logging

import azure.functions as func

from shared.context import get_context
from shared.ports import PlatformError, TransientError
from shared.settings_parsing import SettingsError
from shared.triggers.http import error_response, json_response

bp = func.Blueprint()
log = logging.getLogger(__name__)

_BY_LIMIT = 200


@bp.function_name("approve_promotion")
@bp.route(route="promotions/{model}/{version}/approve", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def approve_promotion(req: func.HttpRequest) -> func.HttpResponse:
    return _decide(req, "approve")


@bp.function_name("reject_promotion")
@bp.route(route="promotions/{model}/{version}/reject", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def reject_promotion(req: func.HttpRequest) -> func.HttpResponse:
    return _decide(req, "reject")


def _decide(req: func.HttpRequest, action: str) -> func.HttpResponse:
    from shared.services.promotion_intake import CandidateError, approve_candidate, reject_candidate
    from shared.services.promotion_publish import PromotionConfig

    model = req.route_params.get("model", "")
    version = req.route_params.get("version", "")
    by, problem = _read_by(req.get_body())
    if problem:
        return error_response(400, problem)
    try:
        context = get_context()
        config = PromotionConfig.from_settings(context.settings)
        if not config.picks_up:
            return error_response(404, "this environment receives no promotions (PROMOTION_SOURCE is unset)")
        if model != config.model_name:
            return error_response(404, f"this app promotes model {config.model_name!r} only")
        decide = approve_candidate if action == "approve" else reject_candidate
        entry = decide(context.state_store(), config, version, by=by)
    except CandidateError as exc:
        return error_response(exc.status, str(exc))
    except SettingsError as exc:
        log.error("%s_promotion: configuration error: %s", action, exc)
        return error_response(500, f"configuration error: {exc}")
    except TransientError as exc:
        log.warning("%s_promotion: state store unavailable: %s", action, exc)
        return error_response(503, "state store unavailable; retry", retry_after_seconds=30)
    except PlatformError as exc:
        log.error("%s_promotion: %s", action, exc)
        return error_response(503, str(exc))
    return json_response(200, {"model": model, "version": version, "candidate": entry})


def _read_by(body: bytes) -> tuple[str, str | None]:
    if not body or not body.strip():
        return "", None
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        return "", f"body is not JSON: {exc}"
    if not isinstance(data, dict):
        return "", "body must be a JSON object"
    by = data.get("by", "")
    if not isinstance(by, str) or len(by) > _BY_LIMIT or any(0xD800 <= ord(c) <= 0xDFFF for c in by):
        return "", f"by: a string of at most {_BY_LIMIT} characters"
    return by.strip(), None
