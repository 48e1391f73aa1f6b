"""`submit_drift_job` (timer, %DRIFT_SCHEDULE%) and `submit_drift_job_http` (POST /api/drift/jobs).

Both call :class:`shared.services.drift.DriftService`. HTTP status codes:

| outcome | status |
| --- | --- |
| job submitted | 202 with the job name |
| same model version and window again: the first job's name / first request still submitting | 200 / 202 |
| no exported data in the window, or no new data since the last job (nothing submitted) | 200 with the reason |
| not JSON, unknown field, bad date, end not after start or in the future, unknown version | 400 naming the field |
| no registered model | 404 |
| the model has no training-data tag | 422 |
| Azure ML (or the state store) throttling or unavailable | 503 with Retry-After |
| the platform refused the job | 502 |
| a setting missing or malformed | 500 naming the setting |
| a state document it reads is unreadable (not a JSON object) | 500 naming the document |

A 503 after the job may have been created (the platform's answer was lost) is safe to retry: the retry submits
again under the same job name and answers with that job (``shared/services/submission_claim.py``).

The timer logs one line per run with the decision. A transient failure is raised so the host retries the
run (retry policy below) instead of skipping a day. An unreadable state document is logged naming it and
raised, so the invocation shows as failed until an operator fixes or deletes the document.
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared.context import AppContext, get_context
from shared.payloads.drift import DriftJobRequest, parse_drift_request
from shared.ports import PlatformError
from shared.services.drift import DriftDecision, DriftOutcome, DriftService
from shared.services.drift_job import DriftConfig
from shared.triggers.window_job_submission import submit_on_request, submit_on_timer

bp = func.Blueprint()
log = logging.getLogger(__name__)


def drift_service(context: AppContext) -> DriftService:
    export = context.export_writer()
    url = getattr(export, "url", None)
    if not url:
        raise PlatformError("the export writer has no container URL to pass to the drift pipeline")
    return DriftService(
        context.state_store(),
        registry=context.model_registry,
        platform=context.job_platform,
        export=export,
        export_url=str(url),
        config=DriftConfig.from_settings(context.settings),
    )


@bp.function_name("submit_drift_job")
@bp.timer_trigger(arg_name="timer", schedule="%DRIFT_SCHEDULE%", run_on_startup=False, use_monitor=True)
@bp.retry(strategy="exponential_backoff", max_retry_count="3", minimum_interval="00:01:00", maximum_interval="00:10:00")
def submit_drift_job(timer: func.TimerRequest) -> None:
    if timer.past_due:
        log.info("submit_drift_job: the timer is past due; submitting for the current window")
    submit_on_timer(
        "submit_drift_job",
        "drift",
        lambda: drift_service(get_context()).submit(DriftJobRequest(), trigger="timer"),
        log,
    )


@bp.function_name("submit_drift_job_http")
@bp.route(route="drift/jobs", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def submit_drift_job_http(req: func.HttpRequest) -> func.HttpResponse:
    return submit_on_request(
        "submit_drift_job_http",
        "drift",
        lambda: drift_service(get_context()).submit(parse_drift_request(req.get_body()), trigger="http"),
        _status,
        log,
    )


def _status(outcome: DriftOutcome) -> int:
    if outcome.decision == DriftDecision.SUBMITTED or (
        outcome.decision == DriftDecision.DUPLICATE and outcome.in_progress
    ):
        return 202
    if outcome.decision == DriftDecision.NO_MODEL:
        return 404
    if outcome.decision == DriftDecision.NO_REFERENCE:
        return 422
    return 200
