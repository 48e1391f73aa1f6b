"""`shared/azure/ml_jobs.py`: the pipeline job built offline from the repo's YAML, and error translation.

Azure ML has no emulator: the job the app would send is built with the real ``azure-ai-ml`` types and
checked offline; submission is exercised against fake ``MLClient.jobs`` operations that raise the real
azure-core / azure-identity exceptions.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from shared.azure.ml_jobs import AzureMLJobPlatform, build_pipeline_job, translate_ml_error
from shared.context import AppContext
from shared.payloads.alerts import parse_common_alert
from shared.ports import AssetInput, NotFoundError, PipelineJobRequest, PlatformError, TransientError
from shared.services.retraining import TRAINING_PIPELINE_YAML, RetrainConfig, RetrainingService
from shared.settings import Settings
from shared.settings_parsing import SettingsError
from tests.conftest import PROJECT_ROOT
from tests.unit.test_alert_payload import alert_id, metric_alert

CONFIG = RetrainConfig("credit-default", "credit-default-training@latest", "cpu-cluster", timedelta(hours=6))


def training_request(previous_version: str | None = "11", **config: Any) -> PipelineJobRequest:
    config = {**CONFIG.__dict__, **config}
    service = RetrainingService(lambda: None, RetrainConfig(**config), lambda: None, lambda: None)  # type: ignore[arg-type,return-value]
    return service.training_request(parse_common_alert(json.dumps(metric_alert()).encode()), previous_version)


# --- the training pipeline, built from the repo's YAML -------------------------------------------


@pytest.fixture(scope="module")
def training_pipeline_yaml() -> Path:
    path = PROJECT_ROOT / TRAINING_PIPELINE_YAML
    if not path.exists():
        pytest.fail(f"{TRAINING_PIPELINE_YAML} is missing: the retraining function submits it")
    return path


def test_the_retraining_job_built_from_the_yaml_carries_the_alert_tags_inputs_and_compute(
    training_pipeline_yaml: Path,
) -> None:
    from azure.ai.ml.entities import PipelineJob

    job = build_pipeline_job(training_request(training_data_asset="credit-default-training:12", training_compute="gpu"))

    assert isinstance(job, PipelineJob)
    assert job.tags["trigger"] == "alert"
    assert job.tags["alert_id"] == alert_id()
    assert job.tags["alert_rule"] == "credit-default-drift-share"
    assert job.tags["alert_severity"] == "Sev2"
    assert job.tags["alert_fired_at"] == "2026-03-22T13:58:24.371321+00:00"
    assert job.tags["alert_monitor_condition"] == "Fired"
    assert job.experiment_name == "credit-default-training"
    assert job.display_name == "retrain credit-default on alert credit-default-drift-share"
    assert job.settings.default_compute == "gpu"
    data = job.inputs["training_data"]._data
    assert (data.type, data.path) == ("uri_folder", "azureml:credit-default-training:12")
    previous = job.inputs["previous_training_data"]._data
    assert (previous.type, previous.path) == ("uri_folder", "azureml:credit-default-training:11")
    assert job.inputs["model_name"]._data == "credit-default"
    assert job.inputs["training_data_asset"]._data == "credit-default-training:12"
    # what create_or_update would send: client-side validation passes and the REST body carries it all
    validation = job._validate()
    assert validation.passed, validation.error_messages
    rest = job._to_rest_object().properties
    assert rest.inputs["training_data"] == {"jobInputType": "uri_folder", "uri": "azureml:credit-default-training:12"}
    assert rest.inputs["previous_training_data"] == {
        "jobInputType": "uri_folder",
        "uri": "azureml:credit-default-training:11",
    }
    assert rest.inputs["model_name"] == {"jobInputType": "literal", "value": "credit-default"}
    assert rest.tags["alert_id"] == alert_id()
    assert rest.settings["default_compute"] == "gpu"
    assert rest.experiment_name == "credit-default-training"


def test_the_sweep_budget_setting_becomes_the_jobs_max_total_trials(training_pipeline_yaml: Path) -> None:
    assert "max_total_trials" not in training_request().inputs  # unset: the pipeline's own budget
    config = RetrainConfig.from_settings(Settings({**SETTINGS_FOR_CONFIG, "TRAINING_MAX_TRIALS": "3"}))
    assert config.max_trials == 3

    job = build_pipeline_job(training_request(max_trials=config.max_trials))

    assert job._validate().passed
    assert job._to_rest_object().properties.inputs["max_total_trials"] == {"jobInputType": "literal", "value": "3"}
    with pytest.raises(SettingsError, match="TRAINING_MAX_TRIALS"):
        RetrainConfig.from_settings(Settings({**SETTINGS_FOR_CONFIG, "TRAINING_MAX_TRIALS": "0"}))


SETTINGS_FOR_CONFIG = {"MODEL_NAME": "credit-default", "TRAINING_DATA_ASSET": "credit-default-training@latest"}


def test_every_input_the_service_sets_is_declared_by_the_training_pipeline(training_pipeline_yaml: Path) -> None:
    from azure.ai.ml import load_job

    declared = set(load_job(source=training_pipeline_yaml).inputs)

    assert set(training_request().inputs) <= declared
    assert set(training_request(max_trials=2).inputs) <= declared


# --- the builder on a small pipeline of its own --------------------------------------------------

PIPELINE = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
experiment_name: yaml-experiment
tags: {owner: mlops}
settings:
  default_compute: azureml:cpu-cluster
inputs:
  reference_data:
    type: uri_folder
    path: azureml:reference@latest
  current_data:
    type: uri_folder
    path: azureml://datastores/workspaceblobstore/paths/inference/
  model_name: credit-default
  threshold: 0.5
  min_rows: 100
  enabled: true
jobs:
  step:
    type: command
    inputs:
      reference_data: ${{parent.inputs.reference_data}}
      current_data: ${{parent.inputs.current_data}}
      model_name: ${{parent.inputs.model_name}}
      threshold: ${{parent.inputs.threshold}}
      min_rows: ${{parent.inputs.min_rows}}
      enabled: ${{parent.inputs.enabled}}
    environment: azureml:AzureML-sklearn-1.5@latest
    command: >-
      echo ${{inputs.reference_data}} ${{inputs.current_data}} ${{inputs.model_name}}
      ${{inputs.threshold}} ${{inputs.min_rows}} ${{inputs.enabled}}
"""


@pytest.fixture
def pipeline_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "pipelines" / "drift.yml"
    path.parent.mkdir()
    path.write_text(PIPELINE)
    return path


def test_literal_and_data_inputs_are_overridden_and_yaml_tags_kept(pipeline_yaml: Path) -> None:
    request = PipelineJobRequest(
        pipeline_yaml="pipelines/drift.yml",
        inputs={
            "current_data": AssetInput("uri_folder", "azureml://datastores/exports/paths/inference/date=2026-03-22/"),
            "reference_data": AssetInput("uri_file", "azureml:reference:4", mode="download"),
            "model_name": "other-model",
            "threshold": 0.1,
            "min_rows": 7,
            "enabled": False,
        },
        experiment_name="drift",
        tags={"trigger": "timer"},
    )

    job = build_pipeline_job(request, base_dir=pipeline_yaml.parents[1])

    current = job.inputs["current_data"]._data
    assert current.path == "azureml://datastores/exports/paths/inference/date=2026-03-22/"
    reference = job.inputs["reference_data"]._data
    assert (reference.type, reference.path, reference.mode) == ("uri_file", "azureml:reference:4", "download")
    assert [job.inputs[k]._data for k in ("model_name", "threshold", "min_rows", "enabled")] == [
        "other-model",
        0.1,
        7,
        False,
    ]
    assert job.tags == {"owner": "mlops", "trigger": "timer"}
    assert job.experiment_name == "drift"
    assert job.settings.default_compute == "cpu-cluster"  # no compute in the request: the YAML's stays
    assert job._validate().passed


def test_an_input_the_pipeline_does_not_declare_is_refused(pipeline_yaml: Path) -> None:
    request = PipelineJobRequest(str(pipeline_yaml), {"modelname": "typo"}, "drift")

    with pytest.raises(PlatformError, match="no input 'modelname'; it declares current_data, enabled"):
        build_pipeline_job(request)


def test_a_value_that_is_neither_literal_nor_asset_is_refused(pipeline_yaml: Path) -> None:
    with pytest.raises(PlatformError, match="neither a literal nor an AssetInput"):
        build_pipeline_job(PipelineJobRequest(str(pipeline_yaml), {"model_name": ["a"]}, "drift"))


def test_a_missing_or_non_pipeline_yaml_is_a_platform_error(tmp_path: Path) -> None:
    with pytest.raises(PlatformError, match="not found"):
        build_pipeline_job(PipelineJobRequest("ml_assets/pipelines/nope.yml", {}, "x"))
    command = tmp_path / "command.yml"
    command.write_text("type: command\ncommand: echo hi\nenvironment: azureml:env@latest\ncompute: azureml:c\n")
    with pytest.raises(PlatformError, match="not a pipeline job"):
        build_pipeline_job(PipelineJobRequest(str(command), {}, "x"))
    broken = tmp_path / "broken.yml"
    broken.write_text("type: pipeline\njobs: [\n")
    with pytest.raises(PlatformError, match="is invalid"):
        build_pipeline_job(PipelineJobRequest(str(broken), {}, "x"))


# --- submission and error translation ------------------------------------------------------------


class FakeResponse:
    """Just enough of an azure-core HTTP response for ``HttpResponseError`` to read its status."""

    def __init__(self, status_code: int, reason: str, body: dict[str, Any] | None = None) -> None:
        self.status_code = status_code
        self.reason = reason
        self.headers = {"Content-Type": "application/json"}
        self.content_type = "application/json"
        self._body = json.dumps(body or {"error": {"code": reason.replace(" ", ""), "message": reason}})

    def text(self, encoding: str | None = None) -> str:
        return self._body

    def body(self) -> bytes:
        return self._body.encode()


class FakeJobs:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.submitted: list[Any] = []

    def create_or_update(self, job: Any, *, experiment_name: str | None = None, **_: Any) -> Any:
        if self.error:
            raise self.error
        self.submitted.append((job, experiment_name))
        return type("Created", (), {"name": "placid_ant_x1y2z3"})()

    def get(self, name: str) -> Any:
        if self.error:
            raise self.error
        return type("Job", (), {"name": name, "status": "Running", "tags": {"trigger": "alert"}, "outputs": {}})()


class FakeMLClient:
    def __init__(self, error: Exception | None = None) -> None:
        self.jobs = FakeJobs(error)


def _request(pipeline_yaml: Path) -> PipelineJobRequest:
    return PipelineJobRequest(str(pipeline_yaml), {"model_name": "m"}, "drift", tags={"alert_id": "a"})


def test_submit_returns_the_job_name_without_waiting(pipeline_yaml: Path) -> None:
    client = FakeMLClient()

    name = AzureMLJobPlatform(client).submit_pipeline(_request(pipeline_yaml))  # type: ignore[arg-type]

    assert name == "placid_ant_x1y2z3"
    ((job, experiment),) = client.jobs.submitted
    assert experiment == "drift"
    assert job.tags["alert_id"] == "a"


@pytest.mark.parametrize(
    ("error", "expected", "fragment"),
    [
        (HttpResponseError(response=FakeResponse(429, "Too Many Requests")), TransientError, "429"),
        (HttpResponseError(response=FakeResponse(503, "Service Unavailable")), TransientError, "503"),
        (HttpResponseError(response=FakeResponse(500, "Internal Server Error")), TransientError, "500"),
        (HttpResponseError(response=FakeResponse(408, "Request Timeout")), TransientError, "408"),
        (ServiceRequestError("Connection aborted: connection refused"), TransientError, "connection refused"),
        (ServiceResponseError("Read timed out"), TransientError, "Read timed out"),
        (ClientAuthenticationError("ManagedIdentityCredential: no response from IMDS"), TransientError, "token"),
        (HttpResponseError(response=FakeResponse(400, "Bad Request")), PlatformError, "400"),
        (HttpResponseError(response=FakeResponse(403, "Forbidden")), PlatformError, "403"),
        (ResourceNotFoundError(response=FakeResponse(404, "Not Found")), NotFoundError, "not found"),
    ],
)
def test_submit_translates_azure_errors(
    pipeline_yaml: Path, error: Exception, expected: type[Exception], fragment: str
) -> None:
    platform = AzureMLJobPlatform(FakeMLClient(error))  # type: ignore[arg-type]

    with pytest.raises(PlatformError) as caught:
        platform.submit_pipeline(_request(pipeline_yaml))

    assert type(caught.value) is expected
    assert fragment in str(caught.value)
    assert caught.value.__cause__ is error


def test_an_sdk_wrapper_is_classified_by_the_error_it_wraps() -> None:
    from azure.ai.ml.exceptions import MlException, ValidationException

    throttled = HttpResponseError(response=FakeResponse(429, "Too Many Requests"))
    wrapped = MlException(message="upload failed", no_personal_data_message="upload failed", error=throttled)

    assert isinstance(translate_ml_error(wrapped, "submit"), TransientError)
    invalid = ValidationException(message="compute is required", no_personal_data_message="compute is required")
    translated = translate_ml_error(invalid, "submit")
    assert type(translated) is PlatformError
    assert "compute is required" in str(translated)


def test_get_job_maps_the_entity_and_a_missing_job() -> None:
    info = AzureMLJobPlatform(FakeMLClient()).get_job("placid_ant_x1y2z3")  # type: ignore[arg-type]
    assert (info.name, info.status, dict(info.tags), info.finished) == (
        "placid_ant_x1y2z3",
        "Running",
        {"trigger": "alert"},
        False,
    )

    missing = AzureMLJobPlatform(FakeMLClient(ResourceNotFoundError(response=FakeResponse(404, "Not Found"))))  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        missing.get_job("nope")


# --- construction from settings -------------------------------------------------------------------

WORKSPACE = {
    "AZURE_SUBSCRIPTION_ID": "5f1c6c4e-8a53-4b36-9a4c-0a5b7d1e2f30",
    "AZURE_RESOURCE_GROUP": "rg-mlops",
    "AML_WORKSPACE_NAME": "mlw-mlops",
}


def test_the_context_builds_the_azure_platform_from_settings_without_calling_azure() -> None:
    platform = AppContext(settings=Settings(WORKSPACE)).job_platform()

    assert isinstance(platform, AzureMLJobPlatform)
    client = platform.client  # built lazily, no network call
    assert (client.subscription_id, client.resource_group_name, client.workspace_name) == (
        "5f1c6c4e-8a53-4b36-9a4c-0a5b7d1e2f30",
        "rg-mlops",
        "mlw-mlops",
    )


@pytest.mark.parametrize("missing", sorted(WORKSPACE))
def test_a_missing_workspace_setting_is_named(missing: str) -> None:
    env = {k: v for k, v in WORKSPACE.items() if k != missing}

    with pytest.raises(SettingsError) as caught:
        AppContext(settings=Settings(env)).job_platform()

    assert caught.value.name == missing


def test_local_mode_builds_the_local_job_platform(tmp_path: Path) -> None:
    from shared.local.job_platform import LocalJobPlatform

    env = {**WORKSPACE, "MLOPS_MODE": "local", "LOCAL_STATE_DIR": str(tmp_path)}
    platform = AppContext(settings=Settings(env)).job_platform()

    assert isinstance(platform, LocalJobPlatform) and platform.state_dir == tmp_path.resolve()
    # the register step's registrations queue ModelRegistered events for deploy_registered_model
    assert platform.env["MLOPS_LOCAL_REGISTRY_HOOK"] == "shared.local.events:publish_model_registered"
