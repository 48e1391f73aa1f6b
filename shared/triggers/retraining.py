"""`retrain_on_alert`: HTTP POST from an Azure Monitor action group (common alert schema) → training job.

Status codes are chosen for the action group, which retries 408/429/503/504 only:

| outcome | status |
| --- | --- |
| job submitted | 202 with the job name |
| duplicate delivery: first job's name / first delivery still submitting | 200 / 202 |
| suppressed by the cool-down, resolved, rule not allowed (ignored) | 200 with the reason |
| not JSON, not the common schema, a field missing or invalid | 400 naming the field |
| body above 256 KB | 413 |
| transient platform or state-store failure | 503 with Retry-After (the action group retries) |
| the platform refused the job (missing compute, forbidden, …) | 502 |
| a setting missing or malformed | 500 naming the setting |
| a state document it reads is unreadable (not a JSON object) | 500 naming the document |

A 503 after the job may have been created (the platform's answer was lost) is safe to retry: the retry submits
again under the same job name and answers with that job (``shared/services/submission_claim.py``). An
unreadable state document is not retried into success by anyone but an operator (fix or delete it), hence 500,
which the action group does not retry; the alert stays in its decision log line.
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared.context import get_context
from shared.payloads import PayloadError
from shared.payloads.alerts import parse_common_alert
from shared.ports import CorruptDocumentError, PlatformError, TransientError
from shared.services.retraining import RetrainConfig, RetrainingService
from shared.services.retraining_decisions import RetrainDecision, RetrainOutcome, reject_payload
from shared.settings_parsing import SettingsError
from shared.triggers.http import error_response, json_response

bp = func.Blueprint()
log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 60


@bp.function_name("retrain_on_alert")
@bp.route(route="alerts/retrain", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def retrain_on_alert(req: func.HttpRequest) -> func.HttpResponse:
    body = req.get_body() or b""
    try:
        alert = parse_common_alert(body)
    except PayloadError as exc:
        outcome = reject_payload(exc, body, lambda: get_context().state_store())
        return error_response(outcome.http_status or 400, str(exc), field=exc.field, decision=outcome.decision)

    try:
        context = get_context()
        service = RetrainingService(
            context.state_store,
            RetrainConfig.from_settings(context.settings),
            context.job_platform,
            context.data_asset_versions,
        )
        outcome = service.handle(alert)
    except SettingsError as exc:
        log.error("retrain_on_alert: configuration error: %s", exc)
        return error_response(500, str(exc), setting=exc.name, alert_id=alert.alert_id)
    except TransientError as exc:
        body = {
            "error": f"temporarily unavailable; retry later (a retry never submits a second job): {exc}",
            "alert_id": alert.alert_id,
        }
        return json_response(503, body, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    except CorruptDocumentError as exc:
        log.error("retrain_on_alert: alert %s not handled: %s", alert.alert_id, exc)
        return error_response(500, str(exc), document=exc.key, alert_id=alert.alert_id)
    except PlatformError as exc:
        return error_response(502, f"the ML platform refused the training job: {exc}", alert_id=alert.alert_id)
    except Exception:  # a bug: answer with JSON and keep the stack trace in the log
        log.exception("retrain_on_alert: unexpected error for alert %s", alert.alert_id)
        return error_response(500, "internal error; see the function's log", alert_id=alert.alert_id)
    return json_response(_status(outcome), _body(outcome))


def _status(outcome: RetrainOutcome) -> int:
    if outcome.decision == RetrainDecision.SUBMITTED or (
        outcome.decision == RetrainDecision.DUPLICATE and outcome.in_progress
    ):
        return 202
    return 200


def _body(outcome: RetrainOutcome) -> dict[str, object]:
    body = outcome.log_fields()
    body.pop("event", None)
    body["job_name"] = body.pop("job", None)
    return body
