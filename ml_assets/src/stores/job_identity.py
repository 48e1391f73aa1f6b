"""Who a step is inside an Azure ML job: the workspace it runs in and the compute's managed identity."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

# Azure ML sets these in every job; a user-assigned compute identity is named by DEFAULT_IDENTITY_CLIENT_ID.
JOB_ENVIRONMENT = ("AZUREML_ARM_SUBSCRIPTION", "AZUREML_ARM_RESOURCEGROUP", "AZUREML_ARM_WORKSPACE_NAME")


def in_azure_ml_job(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return all(env.get(name) for name in JOB_ENVIRONMENT)


def workspace_resource_id(env: Mapping[str, str]) -> str:
    return (
        f"/subscriptions/{env['AZUREML_ARM_SUBSCRIPTION']}/resourceGroups/{env['AZUREML_ARM_RESOURCEGROUP']}"
        f"/providers/Microsoft.MachineLearningServices/workspaces/{env['AZUREML_ARM_WORKSPACE_NAME']}"
    )


def job_credential(env: Mapping[str, str] | None = None) -> Any:
    """The compute's managed identity (``DefaultAzureCredential``, the user-assigned identity when named)."""
    env = os.environ if env is None else env
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=env.get("DEFAULT_IDENTITY_CLIENT_ID") or None)
