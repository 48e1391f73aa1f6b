"""The promotion registry on Azure ML, through a real registry-bound ``MLClient`` with canned HTTP at the transport:
the registry's discovery, its model versions listed with their tags (each with the reference production deploys),
the candidate tags put back on a version with its model URI and other tags kept, and a version already in the
registry not shared again."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from ml_assets.src.contracts.promotion_tags import CANDIDATE_FOR_TAG, candidate_tags, is_candidate
from shared.azure.models import AzureModelRegistry
from shared.azure.promotion_registry import AzurePromotionRegistry
from tests.fakes.azure_http import SUBSCRIPTION, InMemoryTransport, JsonResponse, StaticCredential, ml_client_on

MODEL = "credit-default"
REGISTRY = "shared-reg"
VERSIONS = (
    f"/mferp/managementfrontend/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-reg/providers/"
    f"Microsoft.MachineLearningServices/registries/{REGISTRY}/models/{MODEL}/versions"
)


def version_body(number: str, tags: dict[str, str]) -> dict[str, Any]:
    return {
        "id": f"azureml://registries/{REGISTRY}/models/{MODEL}/versions/{number}",
        "name": number,
        "type": "Microsoft.MachineLearningServices/registries/models/versions",
        "properties": {
            "flavors": {"python_function": {"data": {"loader_module": "mlflow.sklearn"}}},
            "modelType": "mlflow_model",
            "modelUri": f"https://regstore.blob.core.windows.net/assets/models/{number}/",
            "tags": tags,
            "properties": {},
            "isArchived": False,
        },
    }


class RegistryResource(InMemoryTransport):
    """The registry's discovery and ``models/<name>/versions``. The service answers 409 to the temporary data
    reference of an asset that exists (the SDK asks for one before putting a version back, then skips the upload)."""

    def __init__(self, versions: dict[str, dict[str, str]]) -> None:
        self.versions = versions
        self.requests: list[tuple[str, str]] = []
        self.puts: list[dict[str, Any]] = []

    def send(self, request: Any, **kwargs: Any) -> JsonResponse:
        path = urlsplit(request.url).path
        self.requests.append((request.method, path))
        if path.endswith(f"/registries/{REGISTRY}/discovery"):
            return JsonResponse(
                request,
                200,
                {
                    "registryName": REGISTRY,
                    "primaryRegion": "westeurope",
                    "regions": ["westeurope"],
                    "subscriptionId": SUBSCRIPTION,
                    "resourceGroup": "rg-reg",
                    "primaryRegionResourceProviderUri": "https://cert-westeurope.experiments.azureml.net/",
                },
            )
        if "/tempdatarefs/" in path:
            return JsonResponse(request, 409, {"error": {"code": "UserError", "message": "Asset already exists"}})
        if path == VERSIONS:
            return JsonResponse(request, 200, {"value": [version_body(n, t) for n, t in self.versions.items()]})
        number = path.rsplit("/", 1)[1]
        if path.startswith(VERSIONS + "/") and number in self.versions:
            if request.method == "PUT":
                body = json.loads(request.content)
                self.puts.append(body["properties"])
                self.versions[number] = body["properties"]["tags"]
            return JsonResponse(request, 200, version_body(number, self.versions[number]))
        return JsonResponse(request, 404, {"error": {"code": "NotFound", "message": f"{path} not found"}})


def registry_on(service: RegistryResource) -> AzurePromotionRegistry:
    from azure.ai.ml import MLClient

    def registry_client(name: str) -> MLClient:
        assert name == REGISTRY
        return MLClient(StaticCredential(), registry_name=name, transport=service, retry_total=0, show_progress=False)

    workspace = AzureModelRegistry(ml_client_on(RegistryResource({})), registry_client=registry_client)
    return AzurePromotionRegistry(REGISTRY, workspace)


def test_candidates_are_listed_with_the_reference_to_deploy() -> None:
    tags = candidate_tags("production", "staging", "2026-11-24T12:00:00.000000Z", "r-1")
    registry = registry_on(RegistryResource({"1": {}, "2": tags}))
    found = registry.versions(MODEL)
    assert [m.version for m in found if is_candidate(m.tags, "production", "staging")] == ["2"]
    assert found[1].path == f"azureml://registries/{REGISTRY}/models/{MODEL}/versions/2"


def test_the_candidate_tags_are_put_on_the_registry_version_keeping_the_model_and_its_tags() -> None:
    service = RegistryResource({"3": {"metric_roc_auc": "0.78"}})
    tags = candidate_tags("production", "staging", "2026-11-24T12:00:00.000000Z", "r-3")
    registry_on(service).update_tags(MODEL, "3", tags)
    assert service.versions["3"] == {"metric_roc_auc": "0.78", **tags}
    assert service.puts[0]["modelUri"] == "https://regstore.blob.core.windows.net/assets/models/3/"
    assert service.versions["3"][CANDIDATE_FOR_TAG] == "production"


def test_a_version_already_in_the_registry_is_not_shared_again() -> None:
    service = RegistryResource({"3": {}})
    reference = registry_on(service).share(MODEL, "3")
    assert reference == f"azureml://registries/{REGISTRY}/models/{MODEL}/versions/3"
    assert [m for m, _ in service.requests if m != "GET"] == []
