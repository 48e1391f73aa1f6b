"""`submit_performance_job` (timer) and `submit_performance_job_http` through their blueprint, against Azurite.

State, exported blobs and label files are the real Blob implementations on Azurite; the ML platform and the model
registry are fakes at the port. Every submitted request is built into the real ``PipelineJob``
(``build_pipeline_job``: ``load_job`` on ``ml_assets/pipelines/model_performance.yml`` + the overrides) and
validated offline, so a request the SDK would refuse fails the test.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from shared.context import AppContext
from shared.ports import ModelInfo, NotFoundError, PipelineJobRequest, PlatformError, TransientError
from shared.services import performance as service
from shared.services import state_keys
from shared.services.drift_job import floor_hour
from shared.settings import Settings
from shared.triggers import performance, status, window_job_submission
from tests.fakes.job_platform import FakeJobPlatform as NamedJobPlatform

MODEL = "credit-default"
TAGS = {"metric_roc_auc": "0.781200", "training_data": "credit-default-training:7"}


class FakeModelRegistry:
    def __init__(self) -> None:
        self.versions: dict[str, dict[str, str]] = {"3": TAGS}

    def get_model(self, name: str, version: str) -> ModelInfo:
        if name != MODEL or version not in self.versions:
            raise NotFoundError(f"model {name}:{version} not found")
        return ModelInfo(name=name, version=version, tags=self.versions[version], path=f"azureml:{name}:{version}")

    def latest_model(self, name: str) -> ModelInfo | None:
        if name != MODEL or not self.versions:
            return None
        return self.get_model(name, max(self.versions, key=int))

    def share_to_registry(self, name: str, version: str, registry: str) -> str:
        raise NotImplementedError


class FakeJobPlatform(NamedJobPlatform):
    def __init__(self) -> None:
        super().__init__(validate=self._build, default_status="Completed")
        self.jobs: list[Any] = []

    def _build(self, request: PipelineJobRequest) -> None:
        from shared.azure.ml_jobs import build_pipeline_job

        job = build_pipeline_job(request)
        validation = job._validate()
        assert validation.passed, validation.error_messages
        self.jobs.append(job)


@pytest.fixture
def platform(app_context: AppContext) -> FakeJobPlatform:
    fake = FakeJobPlatform()
    app_context.overrides["job_platform"] = fake
    return fake


@pytest.fixture
def registry(app_context: AppContext) -> FakeModelRegistry:
    fake = FakeModelRegistry()
    app_context.overrides["model_registry"] = fake
    return fake


def hour(delta: int) -> datetime:
    return floor_hour(datetime.now(UTC)) + timedelta(hours=delta)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def export_blob(app_context: AppContext, moment: datetime, version: str = "3") -> str:
    path = f"inference/model={MODEL}/version={version}/date={moment:%Y-%m-%d}/hour={moment:%H}/part-0.parquet"
    app_context.export_writer().write(path, b"PAR1")
    return path


def label_file(app_context: AppContext, name: str) -> None:
    app_context.labels_store().write(f"labels/{name}", b"id,label,label_time\nr/0,1,2026-11-30T00:00:00Z\n")


def post(body: dict[str, Any] | bytes | None = None) -> func.HttpResponse:
    raw = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    handler = performance.submit_performance_job_http.build().get_user_function()
    return handler(func.HttpRequest(method="POST", url="http://localhost/api/performance/jobs", body=raw, headers={}))


def run_timer() -> None:
    performance.submit_performance_job.build().get_user_function()(TimerRequest(past_due=False))


def body_of(resp: func.HttpResponse) -> dict[str, Any]:
    return json.loads(resp.get_body())


WINDOW = {"window_start": None, "window_end": None}


def window(start: int = -6, end: int = -1) -> dict[str, Any]:
    return {"window_start": iso(hour(start)), "window_end": iso(hour(end))}


def test_the_job_sends_its_metrics_where_the_setting_says(app_context, platform, registry):
    resource = f"/subscriptions/{'0' * 8}-{'0' * 4}-{'0' * 4}-{'0' * 4}-{'0' * 12}/resourceGroups/rg"
    resource += "/providers/Microsoft.Insights/components/a"
    app_context.settings = Settings({**app_context.settings._env, "JOB_TELEMETRY_RESOURCE_ID": resource})
    export_blob(app_context, hour(-3))
    label_file(app_context, "batch-1.csv")

    assert post(window()).status_code == 202
    inputs = platform.jobs[0]._to_rest_object().as_dict()["properties"]["inputs"]
    assert inputs["telemetry_resource"] == {"jobInputType": "literal", "value": resource}


def test_the_job_is_built_from_the_yaml_with_the_inputs_overridden(app_context, platform, registry):
    export_blob(app_context, hour(-3))
    label_file(app_context, "batch-1.csv")

    resp = post(window())

    assert resp.status_code == 202, resp.get_body()
    rest = platform.jobs[0]._to_rest_object().as_dict()["properties"]
    inputs = rest["inputs"]
    assert inputs["predictions"]["uri"] == f"{app_context.export_writer().url}/inference/model={MODEL}/version=3/"
    assert inputs["predictions"]["mode"] == "ReadOnlyMount"
    assert inputs["labels"]["uri"] == f"{app_context.labels_store().url}/labels/"
    literals = {k: v["value"] for k, v in inputs.items() if v.get("jobInputType") == "literal"}
    assert literals["window_start"] == iso(hour(-6)) and literals["window_end"] == iso(hour(-1))
    assert literals["training_roc_auc"] == "0.7812"
    assert literals["min_coverage"] == "0.2" and literals["min_labelled"] == "100" and literals["threshold"] == "0.5"
    assert literals["labels_as_of"].endswith("Z")
    assert literals["telemetry_resource"] == "none"  # no JOB_TELEMETRY_RESOURCE_ID: the workspace's own
    assert rest["experimentName"] == f"{MODEL}-performance"
    assert "python -m src.performance.component" in platform.jobs[0].jobs["performance"].component.command
    shown = body_of(status.status.build().get_user_function()(
        func.HttpRequest(method="GET", url="http://localhost/api/status", body=b"", headers={})
    ))["performance"]["last"]  # fmt: skip
    assert shown["job_name"] == platform.job_names[0] and shown["label_files"] == 1


def test_no_labels_yet_answers_200_without_a_job(app_context, platform, registry):
    export_blob(app_context, hour(-3))
    resp = post(window())
    assert resp.status_code == 200 and body_of(resp)["decision"] == "no_labels"
    assert platform.requests == []


def test_no_predictions_in_the_window_answers_200_without_a_job(app_context, platform, registry):
    label_file(app_context, "batch-1.csv")
    resp = post(window())
    assert resp.status_code == 200 and body_of(resp)["decision"] == "no_data"
    assert platform.requests == []


def test_a_second_request_for_the_same_window_and_labels_is_the_first_job(app_context, platform, registry):
    export_blob(app_context, hour(-3))
    label_file(app_context, "batch-1.csv")
    first, second = post(window()), post(window())
    assert (first.status_code, second.status_code) == (202, 200)
    assert body_of(second)["decision"] == "duplicate"
    assert body_of(second)["job_name"] == platform.job_names[0] and len(platform.requests) == 1


def test_new_labels_for_a_measured_window_submit_one_more_job(app_context, platform, registry):
    export_blob(app_context, hour(-3))
    label_file(app_context, "batch-1.csv")
    assert post(window()).status_code == 202
    label_file(app_context, "batch-2.parquet")  # late labels of the same window
    again = post(window())
    assert again.status_code == 202 and body_of(again)["job_name"] == platform.job_names[1]
    assert body_of(post(window()))["decision"] == "duplicate"
    assert len(platform.requests) == 2


def test_concurrent_duplicate_requests_submit_one_job(app_context, platform, registry):
    export_blob(app_context, hour(-3))
    label_file(app_context, "batch-1.csv")
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda _: post(window()), range(6)))
    assert len(platform.requests) == 1
    assert all(body_of(r)["decision"] in ("submitted", "duplicate") for r in responses)
    assert {body_of(r)["job_name"] for r in responses if r.status_code == 200} <= set(platform.job_names[:1])


def test_the_timer_submits_once_then_waits_for_new_labels(app_context, platform, registry):
    export_blob(app_context, hour(-3))
    label_file(app_context, "batch-1.csv")
    run_timer()
    assert len(platform.requests) == 1
    run_timer()  # same window (same hour), same labels
    assert len(platform.requests) == 1
    # a later scheduled window with the same labels: no new labels, nothing submitted
    svc = performance.performance_service(app_context)
    later = service.PerformanceService(
        app_context.state_store(),
        registry=app_context.model_registry,
        platform=app_context.job_platform,
        export=app_context.export_writer(),
        export_url=app_context.export_writer().url,
        labels=app_context.labels_store(),
        labels_url=app_context.labels_store().url,
        config=svc._config,
        clock=lambda: datetime.now(UTC) + timedelta(hours=1),
    )
    outcome = later.submit(service.DriftJobRequest(), trigger="timer")
    assert outcome.decision == "no_new_labels" and outcome.job_name == platform.job_names[0]
    label_file(app_context, "batch-2.csv")
    assert later.submit(service.DriftJobRequest(), trigger="timer").decision == "submitted"


def test_a_window_whose_job_failed_can_be_run_again(app_context, platform, registry):
    export_blob(app_context, hour(-3))
    label_file(app_context, "batch-1.csv")
    assert post(window()).status_code == 202
    platform.status[platform.job_names[0]] = "Failed"
    again = post(window())
    assert again.status_code == 202 and body_of(again)["job_name"] == platform.job_names[1]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        (b'{"window_start": "\\ud800"}', "window_start"),
        ({"window_start": "yesterday"}, "window_start"),
        ({"window_end": 20261124}, "window_end"),
        ({"window_start": "2026-11-24T10:00:00Z", "window_end": "2026-11-24T09:00:00Z"}, "window_end"),
        ({"window_end": "2999-01-01T00:00:00Z"}, "window_end"),
        ({"window_start": "0001-01-01T00:00:00+05:00"}, "window_start"),
        ({"model_version": "99"}, "model_version"),
        ({"model_version": [3]}, "model_version"),
        ({"labels": "x"}, "labels"),
    ],
)
def test_a_bad_body_answers_400_naming_the_field(app_context, platform, registry, body, field):
    export_blob(app_context, hour(-3))
    label_file(app_context, "batch-1.csv")
    resp = post(body)
    assert resp.status_code == 400, resp.get_body()
    assert body_of(resp)["field"] == field
    assert platform.requests == []


def test_throttling_answers_503_and_a_retry_submits_the_same_job(app_context, platform, registry):
    export_blob(app_context, hour(-2))
    label_file(app_context, "batch-1.csv")
    platform.lost_answers = 1
    lost, retry = post(), post()
    assert lost.status_code == 503 and lost.headers["Retry-After"] == str(window_job_submission.RETRY_AFTER_SECONDS)
    (job,) = platform.job_names
    assert retry.status_code == 202 and body_of(retry)["job_name"] == job and platform.submissions == 1
    assert app_context.state_store().get(state_keys.PERFORMANCE_LAST).data["job_name"] == job


def test_a_refused_job_answers_502_and_a_retry_submits(app_context, platform, registry):
    export_blob(app_context, hour(-2))
    label_file(app_context, "batch-1.csv")
    platform.failures.append(PlatformError("compute cpu-cluster not found"))
    assert post().status_code == 502
    assert post().status_code == 202


def test_no_registered_model_answers_404(app_context, platform, registry):
    registry.versions.clear()
    resp = post()
    assert resp.status_code == 404 and body_of(resp)["decision"] == "no_model"


def test_the_timer_raises_a_transient_failure_so_the_host_retries(app_context, platform, registry):
    export_blob(app_context, hour(-2))
    label_file(app_context, "batch-1.csv")
    platform.failures.append(TransientError("HTTP 503"))
    with pytest.raises(TransientError):
        run_timer()
    run_timer()
    assert len(platform.job_names) == 1
