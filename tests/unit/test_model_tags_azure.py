"""The champion tag on Azure ML model versions, through the real ``MLClient`` with canned HTTP at the transport:
listing a model's versions with their tags, and changing one version's tags (GET it, PUT it back with the same
model URI and every other tag kept)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from ml_assets.src.contracts.champion import CHAMPION_TAG
from shared.azure.models import AzureModelRegistry
from shared.ports import NotFoundError, TransientError
from tests.fakes.azure_http import SUBSCRIPTION, WORKSPACE, InMemoryTransport, JsonResponse, ml_client_on

MODEL = "credit-default"
MODEL_PATH = f"{WORKSPACE}/models/{MODEL}"
DATASTORE = (
    f"azureml://subscriptions/{SUBSCRIPTION}/resourcegroups/rg-mlops/workspaces/mlw/datastores/workspaceblobstore"
)


def version_body(number: str, tags: dict[str, str]) -> dict[str, Any]:
    return {
        "id": f"{MODEL_PATH}/versions/{number}",
        "name": number,
        "type": "Microsoft.MachineLearningServices/workspaces/models/versions",
        "properties": {
            "flavors": {"python_function": {"data": {"loader_module": "mlflow.sklearn"}}},
            "modelType": "mlflow_model",
            "modelUri": f"{DATASTORE}/paths/models/{number}/",
            "tags": tags,
            "properties": {},
            "isArchived": False,
        },
    }


class ModelVersionsResource(InMemoryTransport):
    """The workspace's ``models/<name>/versions``: list, get and put of versions held in ``versions``."""

    def __init__(self, versions: dict[str, dict[str, str]], *, put_status: int = 200) -> None:
        self.versions = versions
        self.put_status = put_status
        self.puts: list[dict[str, Any]] = []

    def send(self, request: Any, **kwargs: Any) -> JsonResponse:
        path = urlsplit(request.url).path
        if not path.startswith(MODEL_PATH):
            return JsonResponse(request, 404, {"error": {"code": "NotFound", "message": "no such model"}})
        number = path.rsplit("/", 1)[1] if "/versions/" in path else None
        if request.method == "PUT":
            if self.put_status != 200:
                return JsonResponse(request, self.put_status, {"error": {"code": "ServiceError", "message": "busy"}})
            body = json.loads(request.content)
            self.puts.append({"version": number, **body})
            self.versions[str(number)] = body["properties"].get("tags") or {}
            return JsonResponse(request, 200, version_body(str(number), self.versions[str(number)]))
        if number is None:
            return JsonResponse(request, 200, {"value": [version_body(n, t) for n, t in self.versions.items()]})
        if number not in self.versions:
            return JsonResponse(request, 404, {"error": {"code": "NotFound", "message": f"version {number}"}})
        return JsonResponse(request, 200, version_body(number, self.versions[number]))


def test_versions_are_listed_with_their_tags() -> None:
    service = ModelVersionsResource({"1": {CHAMPION_TAG: "2026-11-24T12:00:00.000000Z"}, "2": {}})
    found = AzureModelRegistry(ml_client_on(service)).list_models(MODEL)
    assert [(m.version, dict(m.tags)) for m in found] == [
        ("1", {CHAMPION_TAG: "2026-11-24T12:00:00.000000Z"}),
        ("2", {}),
    ]


def test_setting_and_removing_the_champion_tag_keeps_the_model_and_its_other_tags() -> None:
    service = ModelVersionsResource(
        {"1": {CHAMPION_TAG: "t1", "metric_roc_auc": "0.77"}, "2": {"metric_roc_auc": "0.78"}}
    )
    registry = AzureModelRegistry(ml_client_on(service))

    registry.update_tags(MODEL, "2", set_tags={CHAMPION_TAG: "t2"})
    registry.update_tags(MODEL, "1", set_tags={}, remove=(CHAMPION_TAG,))

    assert service.versions == {"1": {"metric_roc_auc": "0.77"}, "2": {"metric_roc_auc": "0.78", CHAMPION_TAG: "t2"}}
    put = service.puts[0]["properties"]
    assert put["modelUri"] == f"{DATASTORE}/paths/models/2/"  # the files are untouched
    assert put["modelType"] == "mlflow_model"


def test_a_tag_already_as_asked_is_not_written_again() -> None:
    service = ModelVersionsResource({"2": {CHAMPION_TAG: "t2"}})
    AzureModelRegistry(ml_client_on(service)).update_tags(MODEL, "2", set_tags={CHAMPION_TAG: "t2"})
    assert service.puts == []


def test_errors_are_classified() -> None:
    with pytest.raises(NotFoundError):
        AzureModelRegistry(ml_client_on(ModelVersionsResource({}))).update_tags(MODEL, "9", set_tags={"a": "b"})
    busy = ModelVersionsResource({"2": {}}, put_status=503)
    with pytest.raises(TransientError):
        AzureModelRegistry(ml_client_on(busy)).update_tags(MODEL, "2", set_tags={CHAMPION_TAG: "t"})
    assert AzureModelRegistry(ml_client_on(ModelVersionsResource({}))).list_models("other") == []
