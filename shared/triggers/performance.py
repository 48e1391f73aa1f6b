"""`submit_performance_job` (timer, %PERFORMANCE_SCHEDULE%) and `submit_performance_job_http`
(POST /api/performance/jobs).

Both call :class:`shared.services.performance.PerformanceService`. HTTP status codes, as for drift:

| outcome | status |
| --- | --- |
| job submitted | 202 with the job name |
| same model version, window and labels again: the first job's name / first request still submitting | 200 / 202 |
| no label files yet, no exported data in the window, no new labels since the last job | 200 with the reason |
| not JSON, unknown field, bad date, end not after start or in the future, unknown version | 400 naming the field |
| no registered model | 404 |
| Azure ML (or the state store) throttling or unavailable | 503 with Retry-After |
| the platform refused the job | 502 |
| a setting missing or malformed | 500 naming the setting |
| a state document it reads is unreadable (not a JSON object) | 500 naming the document |

The timer logs one line per run with the decision; a transient failure is raised so the host retries.
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared.context import AppContext, get_context
from shared.payloads.performance import PerformanceJobRequest, parse_performance_request
from shared.ports import PlatformError
from shared.services.performance import PerformanceDecision, PerformanceOutcome, PerformanceService
from shared.services.performance_job import PerformanceConfig
from shared.triggers.window_job_submission import submit_on_request, submit_on_timer

bp = func.Blueprint()
log = logging.getLogger(__name__)


def performance_service(context: AppContext) -> PerformanceService:
    export, labels = context.export_writer(), context.labels_store()
    export_url, labels_url = getattr(export, "url", None), getattr(labels, "url", None)
    if not export_url or not labels_url:
        raise PlatformError("the export or labels store has no container URL to pass to the performance pipeline")
    return PerformanceService(
        context.state_store(),
        registry=context.model_registry,
        platform=context.job_platform,
        export=export,
        export_url=str(export_url),
        labels=labels,
        labels_url=str(labels_url),
        config=PerformanceConfig.from_settings(context.settings),
        asset_versions=context.data_asset_versions,
    )


@bp.function_name("submit_performance_job")
@bp.timer_trigger(arg_name="timer", schedule="%PERFORMANCE_SCHEDULE%", run_on_startup=False, use_monitor=True)
@bp.retry(strategy="exponential_backoff", max_retry_count="3", minimum_interval="00:01:00", maximum_interval="00:10:00")
def submit_performance_job(timer: func.TimerRequest) -> None:
    submit_on_timer(
        "submit_performance_job",
        "performance",
        lambda: performance_service(get_context()).submit(PerformanceJobRequest(), trigger="timer"),
        log,
    )


@bp.function_name("submit_performance_job_http")
@bp.route(route="performance/jobs", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def submit_performance_job_http(req: func.HttpRequest) -> func.HttpResponse:
    return submit_on_request(
        "submit_performance_job_http",
        "performance",
        lambda: performance_service(get_context()).submit(parse_performance_request(req.get_body()), trigger="http"),
        _status,
        log,
    )


def _status(outcome: PerformanceOutcome) -> int:
    if outcome.decision == PerformanceDecision.SUBMITTED or (
        outcome.decision == PerformanceDecision.DUPLICATE and outcome.in_progress
    ):
        return 202
    if outcome.decision == PerformanceDecision.NO_MODEL:
        return 404
    return 200
