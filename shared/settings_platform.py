"""The settings of the platform the app runs on: where the ML platform lives (Azure ML or the local mode), which
workspace, model and endpoint, the storage for the app's state, and telemetry. Groups of
:class:`shared.settings.Settings` (which composes them in the order of ``docs/settings.md``); not used alone."""

from __future__ import annotations

from shared.settings_parsing import (
    Setting,
    account_url,
    app_insights_resource_id,
    azure_name,
    connection_string,
    container_name,
    endpoint_name,
    guid,
    mode,
    model_name,
    resource_group_name,
    text,
)


class PlatformSettings:
    """Mode and platform: where the ML platform lives, its workspace, the model and its endpoint."""

    mode = Setting(
        "MLOPS_MODE",
        "Where the ML platform lives: `azure` (Azure ML, Log Analytics) or `local` (the local mode).",
        mode,
        "azure or local",
        default="azure",
    )
    subscription_id = Setting(
        "AZURE_SUBSCRIPTION_ID", "Subscription of the Azure ML workspace.", guid, "a subscription GUID"
    )
    resource_group = Setting(
        "AZURE_RESOURCE_GROUP",
        "Resource group of the Azure ML workspace.",
        resource_group_name,
        "a resource group name",
    )
    workspace_name = Setting("AML_WORKSPACE_NAME", "Azure ML workspace name.", azure_name, "a workspace name")
    model_name = Setting(
        "MODEL_NAME",
        "Registered model that the loop trains, deploys and monitors.",
        model_name,
        "a model name",
        default="credit-default",
    )
    endpoint_name = Setting(
        "ENDPOINT_NAME",
        "Managed online endpoint that serves the model.",
        endpoint_name,
        "an endpoint name (3-32 chars: letters, digits, -)",
        default="credit-default",
    )
    local_state_dir = Setting(
        "LOCAL_STATE_DIR",
        "Local mode only: folder for jobs, the model registry, deployments' console logs and telemetry.",
        text,
        "a folder path",
        default=".local",
    )


class StorageSettings:
    """Storage: the app's state store (exported data has its own container, ExportSettings)."""

    storage_connection_string = Setting(
        "STORAGE_CONNECTION_STRING",
        "Storage connection string for local development (Azurite: `UseDevelopmentStorage=true`). "
        "Leave empty in Azure and set STORAGE_ACCOUNT_URL (managed identity).",
        connection_string,
        "a storage connection string",
        optional=True,
    )
    storage_account_url = Setting(
        "STORAGE_ACCOUNT_URL",
        "Blob endpoint of the storage account, used with DefaultAzureCredential (managed identity) "
        "when STORAGE_CONNECTION_STRING is empty.",
        account_url,
        "https://<account>.blob.core.windows.net",
        optional=True,
    )
    state_container = Setting(
        "STATE_CONTAINER",
        "Blob container for the app's state: export watermark, rollouts, idempotency claims, locks.",
        container_name,
        "a blob container name",
        default="mlops-state",
    )


class TelemetrySettings:
    """Telemetry: where the app's traces, logs and metrics are exported."""

    appinsights_connection_string = Setting(
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "Application Insights connection string; when empty, no telemetry is exported.",
        text,
        "an Application Insights connection string",
        optional=True,
    )
    job_telemetry_resource_id = Setting(
        "JOB_TELEMETRY_RESOURCE_ID",
        "Resource ID of the Application Insights the drift and performance jobs send their metrics to (the one the "
        "alert rules watch); when empty, each job sends to its Azure ML workspace's own.",
        app_insights_resource_id,
        "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Insights/components/<name>",
        optional=True,
    )
