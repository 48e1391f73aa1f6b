"""The Application Insights resource of the Azure ML workspace a job runs in, for the job's telemetry.

A job that sends metrics needs no connection string from whoever submits it: the workspace names its Application
Insights resource (the workspace's ``applicationInsights`` property), whose ``ConnectionString`` property is read
from Azure Resource Manager with the compute's identity (a role with ``Microsoft.Insights/components/read``, such as
Monitoring Reader, and workspace read), and the telemetry is sent with the same identity (Monitoring Metrics
Publisher), so the resource can refuse ingestion by key (``DisableLocalAuth``). A submission that names a resource
(``contracts/telemetry_target.py``) gets that one instead, and the workspace is not read. Plain ARM reads through
azure-core: the drift environment has no azure-ai-ml.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..contracts.telemetry_target import parse_resource_id
from .job_identity import job_credential, workspace_resource_id

ARM_ENDPOINT = "https://management.azure.com"
ARM_SCOPE = "https://management.azure.com/.default"
WORKSPACES_API_VERSION = "2024-04-01"
COMPONENTS_API_VERSION = "2020-02-02"


class WorkspaceTelemetryError(RuntimeError):
    """The workspace's Application Insights cannot be found or read."""


@dataclass(frozen=True)
class TelemetryTarget:
    resource_id: str
    connection_string: str
    credential: Any


def workspace_app_insights(
    env: Mapping[str, str] | None = None,
    *,
    resource_id: str | None = None,
    credential: Any = None,
    transport: Any = None,
) -> TelemetryTarget:
    """The Application Insights to send to: ``resource_id`` when given, else the workspace's; its resource ID,
    connection string and the credential to send with. ``credential`` and ``transport`` replace the job's own (tests
    drive them with canned answers). Raises :class:`WorkspaceTelemetryError`, or azure-core's ``HttpResponseError``
    for a refused read."""
    env = os.environ if env is None else env
    credential = job_credential(env) if credential is None else credential
    if resource_id is None:
        workspace_id = workspace_resource_id(env)
        named = _arm_properties(workspace_id, WORKSPACES_API_VERSION, credential, transport).get("applicationInsights")
        try:
            resource_id = parse_resource_id(str(named or ""))
        except ValueError:
            resource_id = None
        if resource_id is None:
            raise WorkspaceTelemetryError(f"workspace {workspace_id} names no Application Insights resource")
    properties = _arm_properties(resource_id, COMPONENTS_API_VERSION, credential, transport)
    connection_string = str(properties.get("ConnectionString") or "").strip()
    if "InstrumentationKey=" not in connection_string:
        raise WorkspaceTelemetryError(f"{resource_id} has no connection string")
    return TelemetryTarget(resource_id, connection_string, credential)


def _arm_properties(resource_id: str, api_version: str, credential: Any, transport: Any) -> dict[str, Any]:
    from azure.core import PipelineClient
    from azure.core.exceptions import HttpResponseError, map_error
    from azure.core.pipeline.policies import BearerTokenCredentialPolicy, RetryPolicy
    from azure.core.rest import HttpRequest

    policies = [RetryPolicy(), BearerTokenCredentialPolicy(credential, ARM_SCOPE)]
    options = {"transport": transport} if transport is not None else {}
    with PipelineClient(ARM_ENDPOINT, policies=policies, **options) as client:
        request = HttpRequest("GET", f"{ARM_ENDPOINT}{resource_id}", params={"api-version": api_version})
        response = client.send_request(request)
        if response.status_code != 200:
            map_error(response.status_code, response, {})
            raise HttpResponseError(response=response)
        body = response.json()
    properties = body.get("properties") if isinstance(body, dict) else None
    if not isinstance(properties, dict):
        raise WorkspaceTelemetryError(f"{resource_id}: the answer has no properties")
    return properties
