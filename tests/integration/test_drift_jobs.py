"""`submit_drift_job` (timer) and `submit_drift_job_http` through their blueprint, against Azurite.

State and exported blobs are the real Blob implementations on Azurite; the ML platform and the model registry
are fakes at the port. The fake platform (idempotent on the job name, like the real ones) builds every
submitted request into the real ``PipelineJob`` with ``build_pipeline_job`` (``load_job`` on
``ml_assets/pipelines/data_drift.yml`` + the overrides) and validates it offline, so a request the SDK would
refuse fails the test.
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
from shared.payloads.drift import DriftJobRequest
from shared.ports import ModelInfo, NotFoundError, PipelineJobRequest, PlatformError, TransientError
from shared.services import drift as service
from shared.services import state_keys
from shared.services.drift_job import floor_hour, reference_path, resolve_window
from shared.services.submission_claim import STALE_AFTER
from shared.settings import Settings
from shared.triggers import drift, status, window_job_submission
from tests.fakes.job_platform import FakeJobPlatform as NamedJobPlatform

MODEL = "credit-default"
TAGS = {"training_data": "credit-default-training:7", "training_data_name": "credit-default-training",
        "training_data_version": "7"}  # fmt: skip


class FakeModelRegistry:
    def __init__(self, versions: dict[str, dict[str, str]] | None = None) -> None:
        self.versions = {"3": TAGS} if versions is None else versions

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
    """Builds and validates each request offline like the Azure implementation would (``jobs``), then records it
    like any platform: idempotent on the job name, able to fail or to lose the answer."""

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


APP_INSIGHTS_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-app"
    "/providers/Microsoft.Insights/components/appi"
)


def hour(delta_hours: int) -> datetime:
    return floor_hour(datetime.now(UTC)) + timedelta(hours=delta_hours)


def export_blob(app_context: AppContext, moment: datetime, version: str = "3", name: str = "part-0") -> str:
    path = f"inference/model={MODEL}/version={version}/date={moment:%Y-%m-%d}/hour={moment:%H}/{name}.parquet"
    app_context.export_writer().write(path, b"PAR1")
    return path


def post(body: dict[str, Any] | bytes | None = None) -> func.HttpResponse:
    raw = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    handler = drift.submit_drift_job_http.build().get_user_function()
    return handler(func.HttpRequest(method="POST", url="http://localhost/api/drift/jobs", body=raw, headers={}))


def run_timer() -> None:
    drift.submit_drift_job.build().get_user_function()(TimerRequest(past_due=False))


def body_of(resp: func.HttpResponse) -> dict[str, Any]:
    return json.loads(resp.get_body())


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --- the job object ------------------------------------------------------------------------------


def test_the_job_is_built_from_the_yaml_with_the_inputs_overridden(app_context, platform, registry):
    # Given exported data of version 3 in the last hours
    export_blob(app_context, hour(-3))
    env = {**app_context.settings._env, "DRIFT_STATTEST": "psi", "DRIFT_COMPUTE": "gpu-a"}
    app_context.settings = Settings({**env, "JOB_TELEMETRY_RESOURCE_ID": APP_INSIGHTS_ID})

    resp = post({"window_start": iso(hour(-5)), "window_end": iso(hour(-1))})

    assert resp.status_code == 202, resp.get_body()
    job = platform.jobs[0]  # the real azure.ai.ml PipelineJob, validated offline
    # What the SDK sends to the service (the REST payload of the job)
    rest = job._to_rest_object().as_dict()["properties"]
    inputs = rest["inputs"]
    assert inputs["reference_data"] == {"uri": "azureml:credit-default-training:7", "jobInputType": "uri_folder"}
    container = app_context.export_writer().url
    assert inputs["target_data"]["uri"] == f"{container}/inference/model={MODEL}/version=3/"
    assert inputs["target_data"]["jobInputType"] == "uri_folder"
    assert inputs["target_data"]["mode"] == "ReadOnlyMount"
    literals = {k: v["value"] for k, v in inputs.items() if v.get("jobInputType") == "literal"}
    assert literals == {
        "model_name": MODEL,
        "model_version": "3",
        "window_start": iso(hour(-5)),
        "window_end": iso(hour(-1)),
        "stattest": "psi",
        "threshold": "0.0",
        "drift_share": "0.5",
        "min_rows": "100",
        "report_sample_rows": "10000",
        "telemetry_resource": APP_INSIGHTS_ID,  # where the alert rules look, not the workspace's own
    }
    assert rest["settings"]["default_compute"] == "gpu-a"
    assert rest["experimentName"] == f"{MODEL}-drift"
    assert rest["displayName"].startswith(f"drift {MODEL}:3 ")
    assert rest["tags"]["model_version"] == "3" and rest["tags"]["trigger"] == "http"
    assert "python -m src.drift.component" in job.jobs["drift"].component.command


def quarantine_blob(app_context: AppContext, moment: datetime, name: str = "part-0") -> str:
    from ml_assets.src.contracts.export_layout import quarantine_path

    path = quarantine_path("quarantine", moment, name)
    app_context.export_writer().write(path, b'{"reason": "malformed line"}\n')
    return path


def test_a_model_with_reference_scores_gets_its_own_folder_as_the_prediction_reference(app_context, platform, registry):
    # Given version 3 registered with reference scores (the register step's tags) and exported data
    registry.versions["3"] = {**TAGS, "prediction_reference": "prediction_reference.json"}
    export_blob(app_context, hour(-3))

    resp = post({"window_start": iso(hour(-5)), "window_end": iso(hour(-1))})

    # Then the job mounts that model version (its folder holds the scores), validated with the real SDK types
    assert resp.status_code == 202, resp.get_body()
    inputs = platform.jobs[0]._to_rest_object().as_dict()["properties"]["inputs"]
    assert inputs["prediction_reference"] == {
        "uri": "azureml:credit-default:3",
        "jobInputType": "mlflow_model",
        "mode": "ReadOnlyMount",
    }
    assert "uri" not in inputs["quarantine_data"]  # no quarantine in the window: the optional input stays unset
    assert app_context.state_store().get("drift/last.json").data["prediction_reference"] == "azureml:credit-default:3"


def test_a_model_without_reference_scores_gets_no_prediction_reference(app_context, platform, registry):
    export_blob(app_context, hour(-3))
    assert post({"window_start": iso(hour(-5)), "window_end": iso(hour(-1))}).status_code == 202
    inputs = platform.jobs[0]._to_rest_object().as_dict()["properties"]["inputs"]
    assert "uri" not in inputs["prediction_reference"]  # unset: the component skips prediction drift, saying why


def test_the_windows_quarantine_is_mounted_and_alone_is_enough_for_a_job(app_context, platform, registry):
    # Given only quarantined lines in the window (every line of the hour was malformed), and some outside it
    quarantine_blob(app_context, hour(-3))
    quarantine_blob(app_context, hour(-30), name="old")

    resp = post({"window_start": iso(hour(-5)), "window_end": iso(hour(-1))})

    # Then a job measures the window's data quality, with the export's quarantine folder mounted
    assert resp.status_code == 202, resp.get_body()
    assert body_of(resp)["blobs"] == 1
    inputs = platform.jobs[0]._to_rest_object().as_dict()["properties"]["inputs"]
    container = app_context.export_writer().url
    assert inputs["quarantine_data"]["uri"] == f"{container}/quarantine/"
    assert inputs["quarantine_data"]["mode"] == "ReadOnlyMount"

    # And the same quarantine again is no new data
    again = post({"window_start": iso(hour(-5)), "window_end": iso(hour(-1))})
    assert body_of(again)["decision"] in ("duplicate", "no_new_data") and len(platform.requests) == 1


def test_the_reference_data_comes_from_the_models_tags():
    def model(**tags: str) -> ModelInfo:
        return ModelInfo(name=MODEL, version="3", tags=tags)

    assert reference_path(model(**TAGS)) == "azureml:credit-default-training:7"
    assert reference_path(model(training_data="train:4")) == "azureml:train:4"
    assert reference_path(model(training_data="train@latest")) == "azureml:train@latest"
    assert reference_path(model(training_data_name="t", training_data_version="latest")) == "azureml:t@latest"
    assert reference_path(model(training_data="/data/train")) == "/data/train"  # local mode
    assert reference_path(model(training_data="azureml://datastores/d/paths/x/")) == ("azureml://datastores/d/paths/x/")
    assert reference_path(model()) is None


# --- timer ---------------------------------------------------------------------------------------


def test_the_timer_submits_one_job_for_the_last_window_and_status_shows_it(app_context, platform, registry):
    inside = [export_blob(app_context, hour(-2)), export_blob(app_context, hour(-24))]
    export_blob(app_context, hour(-25))  # before the window
    export_blob(app_context, hour(-2), version="2")  # another version

    run_timer()

    assert len(platform.requests) == 1
    request = platform.requests[0]
    assert (request.inputs["window_start"], request.inputs["window_end"]) == (iso(hour(-24)), iso(hour(0)))
    store = app_context.state_store()
    last = store.get(state_keys.DRIFT_LAST).data
    assert last["job_name"] == platform.job_names[0] and last["blobs"] == 2 and last["trigger"] == "timer"
    job_doc = store.get(service.job_key(MODEL, "3", hour(-24), hour(0))).data
    assert sorted(job_doc["blobs"]) == sorted(inside)
    shown = body_of(status.status.build().get_user_function()(func.HttpRequest("GET", "http://x/api/status", body=b"")))
    assert shown["drift"]["last"]["job_name"] == platform.job_names[0]

    # A second run for the same window (the host retried, or two instances fired) submits nothing more
    run_timer()
    assert len(platform.requests) == 1


def test_the_timer_submits_nothing_without_exported_data(app_context, platform, registry, caplog):
    with caplog.at_level("INFO"):
        run_timer()
    assert platform.requests == []
    assert "no exported inference data" in caplog.text


def test_the_timer_raises_a_transient_failure_so_the_host_retries(app_context, platform, registry):
    export_blob(app_context, hour(-2))
    platform.failures.append(TransientError("429 throttled"))
    with pytest.raises(TransientError):
        run_timer()
    run_timer()  # the retry: the claim was left unconfirmed, so the same job name
    assert len(platform.requests) == 1


# --- HTTP ----------------------------------------------------------------------------------------


def test_an_empty_body_submits_for_the_scheduled_window_and_answers_202(app_context, platform, registry):
    export_blob(app_context, hour(-1))
    resp = post()
    assert resp.status_code == 202
    body = body_of(resp)
    assert body["decision"] == "submitted" and body["job_name"] == platform.job_names[0]
    assert (body["model_version"], body["window_end"]) == ("3", iso(hour(0)))


def test_a_second_request_for_the_same_window_returns_the_first_jobs_name(app_context, platform, registry):
    export_blob(app_context, hour(-3))
    window = {"window_start": iso(hour(-4)), "window_end": iso(hour(-2)), "model_version": 3}
    first, second = post(window), post(window)
    assert (first.status_code, second.status_code) == (202, 200)
    assert body_of(second)["decision"] == "duplicate"
    assert body_of(first)["job_name"] == body_of(second)["job_name"] == platform.job_names[0]
    assert len(platform.requests) == 1


def test_a_window_whose_job_failed_can_be_run_again(app_context, platform, registry):
    export_blob(app_context, hour(-3))
    window = {"window_start": iso(hour(-4)), "window_end": iso(hour(-2))}
    assert body_of(post(window))["job_name"] == platform.job_names[0]
    platform.status[platform.job_names[0]] = "unavailable"  # cannot tell: the first job stands
    assert body_of(post(window))["job_name"] == platform.job_names[0]
    platform.status[platform.job_names[0]] = "Failed"
    again = post(window)
    assert again.status_code == 202 and body_of(again)["job_name"] == platform.job_names[1]
    assert body_of(post(window))["job_name"] == platform.job_names[1]  # and that one is now the window's job


def test_concurrent_duplicate_requests_submit_one_job(app_context, platform, registry):
    export_blob(app_context, hour(-3))
    window = {"window_start": iso(hour(-4)), "window_end": iso(hour(-2))}
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda _: post(window), range(6)))
    assert len(platform.requests) == 1
    assert sorted(r.status_code for r in responses).count(202) >= 1
    assert {body_of(r)["job_name"] for r in responses if r.status_code == 200} <= set(platform.job_names[:1])
    assert all(body_of(r)["decision"] in ("submitted", "duplicate") for r in responses)


def test_no_new_data_since_the_last_job_submits_nothing(app_context, platform, registry):
    export_blob(app_context, hour(-3))
    assert post({"window_start": iso(hour(-6)), "window_end": iso(hour(-1))}).status_code == 202

    # A narrower window over the same blobs: nothing new since the first job
    resp = post({"window_start": iso(hour(-4)), "window_end": iso(hour(-2))})
    assert resp.status_code == 200
    body = body_of(resp)
    assert body["decision"] == "no_new_data" and body["job_name"] == platform.job_names[0]
    assert "no new exported data" in body["message"]
    assert len(platform.requests) == 1

    # New data arrived: a job again
    export_blob(app_context, hour(-3), name="part-1")
    assert post({"window_start": iso(hour(-4)), "window_end": iso(hour(-2))}).status_code == 202
    assert len(platform.requests) == 2


def test_another_window_over_the_same_files_is_new_data(app_context, platform, registry):
    export_blob(app_context, hour(-3))
    half = hour(-3) + timedelta(minutes=30)
    assert post({"window_start": iso(hour(-3)), "window_end": iso(half)}).status_code == 202
    # the second half of the same hour file: other rows, so a job of its own
    resp = post({"window_start": iso(half), "window_end": iso(hour(-2))})
    assert resp.status_code == 202, body_of(resp)
    assert len(platform.requests) == 2


def test_data_of_a_failed_job_counts_as_new(app_context, platform, registry):
    export_blob(app_context, hour(-3))
    post({"window_start": iso(hour(-6)), "window_end": iso(hour(-1))})
    platform.status[platform.job_names[0]] = "Failed"
    assert post({"window_start": iso(hour(-4)), "window_end": iso(hour(-2))}).status_code == 202


def test_a_window_without_exported_data_answers_200_without_a_job(app_context, platform, registry):
    export_blob(app_context, hour(-30))
    resp = post({"window_start": iso(hour(-5)), "window_end": iso(hour(-1))})
    assert resp.status_code == 200
    assert body_of(resp)["decision"] == "no_data"
    assert platform.requests == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        ({"window_start": "yesterday"}, "window_start"),
        ({"window_end": 20261124}, "window_end"),
        ({"window_start": "2026-11-24T10:00:00Z", "window_end": "2026-11-24T09:00:00Z"}, "window_end"),
        ({"window_start": "2026-11-24T10:00:00Z", "window_end": "2026-11-24T10:00:00Z"}, "window_end"),
        ({"window_end": "2999-01-01T00:00:00Z"}, "window_end"),
        ({"model_version": "99"}, "model_version"),
        ({"model_version": True}, "model_version"),
        ({"model_version": "../x"}, "model_version"),
        ({"windowStart": "2026-11-24T10:00:00Z"}, "windowStart"),
    ],
)
def test_a_bad_body_answers_400_naming_the_field(app_context, platform, registry, body, field):
    resp = post(body)
    assert resp.status_code == 400, resp.get_body()
    assert body_of(resp)["field"] == field
    assert platform.requests == []


def test_azure_ml_throttling_answers_503_and_a_retry_submits(app_context, platform, registry):
    export_blob(app_context, hour(-2))
    platform.failures.append(TransientError("HTTP 429 Too Many Requests"))
    resp = post()
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == str(window_job_submission.RETRY_AFTER_SECONDS)
    retry = post()
    assert retry.status_code == 202 and body_of(retry)["job_name"] == platform.job_names[0]


def test_a_job_created_whose_answer_was_lost_is_the_one_job_the_retry_answers_with(app_context, platform, registry):
    export_blob(app_context, hour(-2))
    platform.lost_answers = 1  # Azure ML creates the job; the read times out before its answer arrives

    lost = post()
    retry = post()
    again = post()

    assert lost.status_code == 503 and "Read timed out" in body_of(lost)["error"]
    (job,) = platform.job_names
    assert platform.submissions == 1 and platform.calls == 2
    assert retry.status_code == 202
    assert (body_of(retry)["decision"], body_of(retry)["job_name"]) == ("submitted", job)
    assert (again.status_code, body_of(again)["decision"], body_of(again)["job_name"]) == (200, "duplicate", job)
    assert app_context.state_store().get(state_keys.DRIFT_LAST).data["job_name"] == job


def test_the_timer_after_a_lost_answer_submits_no_second_job(app_context, platform, registry):
    export_blob(app_context, hour(-2))
    platform.lost_answers = 1

    with pytest.raises(TransientError):
        run_timer()
    run_timer()  # the host's retry

    (job,) = platform.job_names
    claim = app_context.state_store().get(service.job_key(MODEL, "3", hour(-24), hour(0))).data
    assert (claim["status"], claim["job_name"]) == ("submitted", job)


def test_the_service_submits_once_when_the_answer_is_lost(app_context, platform, registry):
    export_blob(app_context, hour(-2))
    platform.lost_answers = 1
    drift_service = drift.drift_service(app_context)

    with pytest.raises(TransientError):
        drift_service.submit(DriftJobRequest(), trigger="http")
    retried = drift_service.submit(DriftJobRequest(), trigger="http")

    assert (retried.decision, retried.job_name) == ("submitted", platform.job_names[0])
    assert platform.submissions == 1


def test_a_refused_job_releases_the_window_and_a_retry_submits_under_a_new_name(app_context, platform, registry):
    export_blob(app_context, hour(-2))
    platform.failures.append(PlatformError("HTTP 400: compute cpu-cluster not found"))

    refused = post()

    assert refused.status_code == 502
    assert app_context.state_store().get(service.job_key(MODEL, "3", hour(-24), hour(0))) is None
    assert post().status_code == 202
    assert platform.submissions == 1


def test_a_model_without_training_data_tags_answers_422(app_context, platform, registry):
    registry.versions = {"3": {"metric_auc": "0.8"}}
    export_blob(app_context, hour(-2))
    resp = post()
    assert resp.status_code == 422
    assert "training_data" in body_of(resp)["message"]
    assert platform.requests == []


def test_no_registered_model_answers_404(app_context, platform, registry):
    registry.versions = {}
    resp = post()
    assert resp.status_code == 404 and body_of(resp)["decision"] == "no_model"


def test_a_stale_claim_of_a_dead_submission_is_taken_over(app_context, platform, registry):
    export_blob(app_context, hour(-2))
    start, end = hour(-24), hour(0)
    stale = (datetime.now(UTC) - STALE_AFTER - timedelta(minutes=1)).isoformat()
    app_context.state_store().create(
        service.job_key(MODEL, "3", start, end), {"status": "submitting", "claimed_at": stale}
    )
    assert post().status_code == 202
    assert len(platform.requests) == 1


def test_a_fresh_claim_answers_in_progress(app_context, platform, registry):
    export_blob(app_context, hour(-2))
    now = datetime.now(UTC).isoformat()
    app_context.state_store().create(
        service.job_key(MODEL, "3", hour(-24), hour(0)), {"status": "submitting", "claimed_at": now}
    )
    resp = post()
    assert resp.status_code == 202 and body_of(resp)["in_progress"] is True
    assert platform.requests == []


def test_the_window_rules():
    now = datetime(2026, 11, 24, 10, 17, tzinfo=UTC)
    day = timedelta(days=1)
    at = datetime(2026, 11, 24, 10, tzinfo=UTC)
    assert resolve_window(DriftJobRequest(), now, day) == (at - day, at)
    assert resolve_window(DriftJobRequest(window_end=at - 2 * day), now, day) == (at - 3 * day, at - 2 * day)
    assert resolve_window(DriftJobRequest(window_start=at - 2 * day), now, day) == (at - 2 * day, at)
