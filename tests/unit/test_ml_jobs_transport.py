"""`AzureMLJobPlatform` on the real ``MLClient``, with canned HTTP answers at the azure-core transport.

Submission is idempotent on the requested job name: the job is looked up first, so a retry after a lost answer
finds the job instead of creating a second one (the service answers a PUT of an existing pipeline job name with
400 "A job with this name already exists", not with the job). The transport plays the workspace's ``jobs``
resource: a GET answers with the stored job or 404, a PUT stores the job (or refuses an existing name), and it
can drop the answer of a PUT after storing the job, as a read timeout does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ServiceResponseError

from shared.azure.ml_jobs import AzureMLJobPlatform
from shared.ports import PipelineJobRequest, PlatformError, TransientError
from tests.fakes.azure_http import WORKSPACE, InMemoryTransport, JsonResponse, ml_client_on

NAME = "credit-default-drift-0f3c9a7e5b2d4c61a8e9f7b6c5d4e3f2"

# A pipeline that needs no asset lookups: a datastore URI, literals, an environment by its ARM id.
PIPELINE = f"""\
type: pipeline
settings:
  default_compute: azureml:cpu-cluster
inputs:
  target_data:
    type: uri_folder
    path: azureml://datastores/workspaceblobstore/paths/inference/
  model_name: credit-default
jobs:
  drift:
    type: command
    inputs:
      target_data: ${{{{parent.inputs.target_data}}}}
      model_name: ${{{{parent.inputs.model_name}}}}
    environment: azureml:{WORKSPACE}/environments/drift/versions/1
    command: echo ${{{{inputs.target_data}}}} ${{{{inputs.model_name}}}}
"""


class JobsResource(InMemoryTransport):
    """The workspace's ``jobs`` as the service keeps them; every other call (the workspace, the anonymous
    component of the inline step) answered as the SDK needs."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.lose_put_answers = 0  # store the job, then fail the read, this many times
        self.get_failures: list[int] = []  # statuses the next GETs of a job answer with
        self.created_meanwhile = False  # another attempt creates the job between this one's GET and PUT

    def send(self, request: Any, **kwargs: Any) -> JsonResponse:
        path = request.url.split("?")[0].split("management.azure.com", 1)[1]
        self.requests.append((request.method, path.removeprefix(WORKSPACE)))
        if "/jobs/" in path:
            return self._job(request, path)
        if request.method == "PUT":  # the inline step's anonymous component: echoed like the service
            return JsonResponse(
                request, 201, {**json.loads(request.content), "id": path, "name": path.rsplit("/", 1)[1]}
            )
        return JsonResponse(request, 404, {"error": {"code": "NotFound", "message": "not in this test"}})

    def _job(self, request: Any, path: str) -> JsonResponse:
        name = path.rsplit("/", 1)[1]
        if request.method == "GET":
            if self.get_failures:
                return JsonResponse(
                    request, self.get_failures.pop(0), {"error": {"code": "ServiceError", "message": "x"}}
                )
            if name not in self.jobs:
                return JsonResponse(request, 404, {"error": {"code": "UserError", "message": f"job {name} not found"}})
            return JsonResponse(request, 200, self.jobs[name])
        if self.created_meanwhile:
            self.created_meanwhile = False
            self._store(path, name, json.loads(request.content))
        if name in self.jobs:
            message = (
                "A job with this name already exists. If you are trying to create a new job, use a different name."
            )
            return JsonResponse(request, 400, {"error": {"code": "UserError", "message": message}})
        job = self._store(path, name, json.loads(request.content))
        if self.lose_put_answers:
            self.lose_put_answers -= 1
            raise ServiceResponseError("Read timed out. (read timeout=60)")
        return JsonResponse(request, 201, job)

    def _store(self, path: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        body.update(id=path, name=name)
        body["properties"]["status"] = "NotStarted"
        self.jobs[name] = body
        return body

    def job_puts(self) -> list[str]:
        return [path for method, path in self.requests if method == "PUT" and path.startswith("/jobs/")]


@pytest.fixture
def service() -> JobsResource:
    return JobsResource()


@pytest.fixture
def platform(service: JobsResource, tmp_path: Path) -> AzureMLJobPlatform:
    (tmp_path / "drift.yml").write_text(PIPELINE)
    return AzureMLJobPlatform(ml_client_on(service), base_dir=tmp_path)


def request(name: str | None = NAME) -> PipelineJobRequest:
    return PipelineJobRequest("drift.yml", {"model_name": "m"}, "credit-default-drift", tags={"w": "1"}, name=name)


def test_a_new_name_is_looked_up_then_created_under_that_name(service: JobsResource, platform: AzureMLJobPlatform):
    assert platform.submit_pipeline(request()) == NAME

    assert service.requests[0] == ("GET", f"/jobs/{NAME}")
    assert service.job_puts() == [f"/jobs/{NAME}"]
    sent = service.jobs[NAME]["properties"]
    assert (sent["jobType"], sent["experimentName"], sent["tags"]["w"]) == ("Pipeline", "credit-default-drift", "1")


def test_an_existing_job_of_that_name_is_returned_and_nothing_is_created(
    service: JobsResource, platform: AzureMLJobPlatform
):
    platform.submit_pipeline(request())
    before = len(service.requests)

    assert platform.submit_pipeline(request()) == NAME

    assert service.requests[before:] == [("GET", f"/jobs/{NAME}")]  # one lookup, no component, no PUT
    assert service.job_puts() == [f"/jobs/{NAME}"]


def test_after_a_lost_answer_the_retry_finds_the_job_instead_of_creating_a_second(
    service: JobsResource, platform: AzureMLJobPlatform
):
    service.lose_put_answers = 1

    with pytest.raises(TransientError, match="Read timed out"):
        platform.submit_pipeline(request())
    assert platform.submit_pipeline(request()) == NAME

    assert list(service.jobs) == [NAME]
    assert service.job_puts() == [f"/jobs/{NAME}"]


def test_a_job_created_by_a_concurrent_attempt_between_lookup_and_create_is_returned(
    service: JobsResource, platform: AzureMLJobPlatform
):
    service.created_meanwhile = True

    assert platform.submit_pipeline(request()) == NAME

    assert [m for m, p in service.requests if p == f"/jobs/{NAME}"] == ["GET", "PUT", "GET"]
    assert list(service.jobs) == [NAME]


def test_a_lookup_that_fails_transiently_creates_nothing(service: JobsResource, platform: AzureMLJobPlatform):
    service.get_failures = [503]

    with pytest.raises(TransientError, match="503"):
        platform.submit_pipeline(request())

    assert service.job_puts() == []


def test_without_a_name_nothing_is_looked_up(service: JobsResource, platform: AzureMLJobPlatform):
    name = platform.submit_pipeline(request(name=None))

    assert name and name in service.jobs
    assert not [path for method, path in service.requests if method == "GET" and path.startswith("/jobs/")]


def test_an_invalid_name_is_refused_before_any_call(service: JobsResource, platform: AzureMLJobPlatform):
    with pytest.raises(PlatformError, match="invalid job name"):
        platform.submit_pipeline(request(name="9-starts-with-a-digit"))

    assert service.requests == []


def test_get_job_reports_the_status_in_the_services_words(service: JobsResource, platform: AzureMLJobPlatform):
    platform.submit_pipeline(request())

    info = platform.get_job(NAME)

    assert (info.name, info.status, info.finished) == (NAME, "NotStarted", False)
