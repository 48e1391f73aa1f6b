"""Typed application settings, read from the environment (Function App app settings).

One object, :class:`Settings`, holds every setting the app reads, declared below as one list. Each attribute is
a :class:`~shared.settings_parsing.Setting` descriptor that parses and validates its environment variable on
first access (the parsers are :mod:`shared.settings_parsing`), so a missing or malformed setting only breaks
the functions that use it (the host still indexes the others) and the error names the variable and says what
is expected.

Nothing here is read at import time: call :func:`get_settings` inside a handler.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from shared.settings_parsing import (
    Setting,
    SettingsError,
    account_url,
    approval_steps,
    azure_name,
    azure_region,
    blob_prefix,
    connection_string,
    container_name,
    data_asset_ref,
    duration_setting,
    endpoint_name,
    flag,
    fraction,
    guid,
    low_traffic_action,
    mirror_percent,
    mode,
    model_name,
    name_list,
    non_negative_number,
    positive_int,
    positive_number,
    probability,
    ratio,
    resource_group_name,
    schedule_setting,
    share,
    stattest,
    tag_condition,
    text,
    traffic_steps,
)

# --- the settings --------------------------------------------------------------------------------


class Settings:
    """Every app setting, parsed lazily from ``env`` (``os.environ`` by default)."""

    # Mode and platform
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

    # Storage (state store and exported data)
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

    # Export
    export_schedule = schedule_setting(
        "EXPORT_SCHEDULE",
        "NCRONTAB schedule of `export_inference_data` (read by the host as %EXPORT_SCHEDULE%).",
        default="0 */15 * * * *",
    )
    log_analytics_workspace_id = Setting(
        "LOG_ANALYTICS_WORKSPACE_ID",
        "Workspace (customer) ID of the Log Analytics workspace that receives AmlOnlineEndpointConsoleLog.",
        guid,
        "a workspace GUID",
    )
    export_container = Setting(
        "EXPORT_CONTAINER",
        "Blob container for exported inference data.",
        container_name,
        "a blob container name",
        default="inference-data",
    )
    export_prefix = Setting(
        "EXPORT_PREFIX",
        "Prefix under which exported Parquet is written (model=/version=/date=/hour= below it).",
        blob_prefix,
        "a blob prefix",
        default="inference",
    )
    quarantine_prefix = Setting(
        "EXPORT_QUARANTINE_PREFIX",
        "Prefix for malformed or incomplete console-log lines, kept with their raw message.",
        blob_prefix,
        "a blob prefix",
        default="quarantine",
    )
    export_ingestion_delay = duration_setting(
        "EXPORT_INGESTION_DELAY",
        "How far behind now a window ends, so late-ingested log lines are not missed.",
        default="PT10M",
        zero_allowed=True,
    )
    export_window = duration_setting(
        "EXPORT_WINDOW",
        "Longest query window; windows are split further when a result would exceed the service limits.",
        default="PT1H",
    )
    export_initial_lookback = duration_setting(
        "EXPORT_INITIAL_LOOKBACK",
        "Where the first export starts when no watermark is stored yet (now minus this).",
        default="P7D",
    )
    export_time_budget = duration_setting(
        "EXPORT_TIME_BUDGET",
        "Time one run may spend catching up before it stops and leaves the rest to the next run.",
        default="PT4M",
    )
    export_max_rows = Setting(
        "EXPORT_MAX_ROWS_PER_QUERY",
        "Row count above which a window is split before querying (the service returns at most 500,000).",
        positive_int,
        "a positive integer up to 500000",
        default="400000",
    )
    export_data_asset = Setting(
        "EXPORT_DATA_ASSET_NAME",
        "If set, a new version of this Azure ML data asset (uri_folder over the export prefix) is created "
        "after a run that wrote data.",
        azure_name,
        "a data asset name",
        optional=True,
    )

    # Drift
    drift_schedule = schedule_setting(
        "DRIFT_SCHEDULE",
        "NCRONTAB schedule of `submit_drift_job` (%DRIFT_SCHEDULE%).",
        default="0 30 2 * * *",
    )
    drift_window = duration_setting(
        "DRIFT_WINDOW",
        "Inference data window that a scheduled drift job compares with the training data.",
        default="P1D",
    )
    drift_compute = Setting(
        "DRIFT_COMPUTE",
        "Azure ML compute cluster for the drift pipeline.",
        azure_name,
        "a compute name",
        default="cpu-cluster",
    )
    drift_min_rows = Setting(
        "DRIFT_MIN_ROWS",
        "Fewer inference rows than this end a drift run with a message and no metrics.",
        positive_int,
        "a positive integer",
        default="100",
    )
    drift_stattest = Setting(
        "DRIFT_STATTEST",
        "Statistical test for every feature (Evidently name); empty: Evidently's default per column type.",
        stattest,
        "an Evidently stattest name such as psi or ks",
        optional=True,
    )
    drift_threshold = Setting(
        "DRIFT_THRESHOLD",
        "Per-feature drift threshold (p-value for tests, distance for PSI/Wasserstein); empty: the test's default.",
        probability,
        "a number in (0, 1)",
        optional=True,
    )
    drift_share = Setting(
        "DRIFT_SHARE",
        "Share of drifted features from which the dataset counts as drifted.",
        fraction,
        "a number in (0, 1]",
        default="0.5",
    )

    # Retraining
    training_data_asset = Setting(
        "TRAINING_DATA_ASSET",
        "Training data for retraining: an Azure ML data asset, `name@latest` or `name:version`.",
        data_asset_ref,
        "name@latest or name:version",
        default="credit-default-training@latest",
    )
    training_compute = Setting(
        "TRAINING_COMPUTE",
        "Azure ML compute cluster for the training pipeline.",
        azure_name,
        "a compute name",
        default="cpu-cluster",
    )
    training_max_trials = Setting(
        "TRAINING_MAX_TRIALS",
        "Trials of the training pipeline's hyperparameter sweep (its max_total_trials input); unset: the pipeline's "
        "default.",
        positive_int,
        "a positive integer",
        optional=True,
    )
    retrain_cooldown = duration_setting(
        "RETRAIN_COOLDOWN",
        "Minimum time between two retrainings of the model; alerts inside it are suppressed.",
        default="PT6H",
        zero_allowed=True,
    )
    retrain_alert_rules = Setting(
        "RETRAIN_ALERT_RULES",
        "Comma-separated alert rule names or ids that may trigger retraining; empty: any rule.",
        name_list,
        "a comma-separated list of alert rule names or ids",
        optional=True,
    )

    # Rollout
    rollout_reconcile_schedule = schedule_setting(
        "ROLLOUT_RECONCILE_SCHEDULE",
        "NCRONTAB schedule of `reconcile_rollouts` (%ROLLOUT_RECONCILE_SCHEDULE%).",
        default="0 */1 * * * *",
    )
    rollout_traffic_steps = Setting(
        "ROLLOUT_TRAFFIC_STEPS",
        "Traffic percentages the new deployment goes through, ending at 100.",
        traffic_steps,
        "increasing percentages ending with 100, such as 10,50,100",
        default="10,50,100",
    )
    rollout_step_dwell = duration_setting(
        "ROLLOUT_STEP_DWELL",
        "Time the rollout stays at each traffic step before the next.",
        default="PT5M",
        zero_allowed=True,
    )
    rollout_provisioning_timeout = duration_setting(
        "ROLLOUT_PROVISIONING_TIMEOUT",
        "How long a new deployment may take to provision before the rollout is rolled back.",
        default="PT30M",
    )
    rollout_mirror_percent = Setting(
        "ROLLOUT_MIRROR_PERCENT",
        "Mirror this share of live traffic to the new deployment before shifting traffic (0: no mirroring).",
        mirror_percent,
        "an integer in 0..50",
        default="0",
    )
    rollout_bake = duration_setting(
        "ROLLOUT_BAKE",
        "After the last traffic step, the new deployment serves 100 % this long, judged by the gate, before the "
        "previous deployments are retired (0: no bake).",
        default="PT10M",
        zero_allowed=True,
    )
    rollout_approval_steps = Setting(
        "ROLLOUT_APPROVAL_STEPS",
        "Traffic steps (percentages) a rollout enters only after `POST /api/rollouts/{model}/approve`, and `retire` "
        "(retiring the previous deployments after the bake); empty: none.",
        approval_steps,
        "a comma-separated list of percentages and retire, such as 100,retire",
        optional=True,
    )
    rollout_gates = Setting(
        "ROLLOUT_GATES",
        "Judge every traffic step, the mirror step and the bake on the new deployment's live traffic (request "
        "count, share of non-2xx answers, latency p90/p99) against the limits below; a failing gate rolls back.",
        flag,
        "true or false",
        default="true",
    )
    rollout_gate_min_requests = Setting(
        "ROLLOUT_GATE_MIN_REQUESTS",
        "Requests the new deployment must have served in a step's window to be judged (the baseline likewise "
        "for the limits relative to it).",
        positive_int,
        "a positive integer",
        default="100",
    )
    rollout_gate_max_error_share = Setting(
        "ROLLOUT_GATE_MAX_ERROR_SHARE",
        "Highest share of non-2xx answers of the new deployment in a step's window.",
        share,
        "a number in [0, 1] (0.01 is 1 %)",
        default="0.01",
    )
    rollout_gate_max_error_share_over_baseline = Setting(
        "ROLLOUT_GATE_MAX_ERROR_SHARE_OVER_BASELINE",
        "Highest share of non-2xx answers above the baseline deployments' share in the same window.",
        share,
        "a number in [0, 1] (0.005 is half a point)",
        default="0.005",
    )
    rollout_gate_max_latency_ratio = Setting(
        "ROLLOUT_GATE_MAX_LATENCY_RATIO",
        "Highest latency p90 (and p99) of the new deployment as a multiple of the baseline's in the same window.",
        ratio,
        "a number of at least 1",
        default="1.5",
    )
    rollout_gate_latency_slack_ms = Setting(
        "ROLLOUT_GATE_LATENCY_SLACK_MS",
        "A latency above the baseline's by less than this many milliseconds never fails the gate.",
        non_negative_number,
        "a number of milliseconds, 0 or more",
        default="25",
    )
    rollout_gate_max_latency_p90_ms = Setting(
        "ROLLOUT_GATE_MAX_LATENCY_P90_MS",
        "Highest latency p90 of the new deployment in milliseconds, whatever the baseline's; empty: no limit.",
        positive_number,
        "a number of milliseconds",
        optional=True,
    )
    rollout_gate_max_latency_p99_ms = Setting(
        "ROLLOUT_GATE_MAX_LATENCY_P99_MS",
        "Highest latency p99 of the new deployment in milliseconds, whatever the baseline's; empty: no limit.",
        positive_number,
        "a number of milliseconds",
        optional=True,
    )
    rollout_gate_low_traffic_wait = duration_setting(
        "ROLLOUT_GATE_LOW_TRAFFIC_WAIT",
        "How much longer than the dwell a step waits for enough requests to judge.",
        default="PT30M",
        zero_allowed=True,
    )
    rollout_gate_low_traffic = Setting(
        "ROLLOUT_GATE_LOW_TRAFFIC",
        "What a step does when it still has too few requests after the wait: `hold` (wait for an operator's "
        "approve or abort) or `proceed` (go on without a verdict, recorded).",
        low_traffic_action,
        "hold or proceed",
        default="hold",
    )
    metrics_region = Setting(
        "AML_WORKSPACE_REGION",
        "Azure region of the workspace (its endpoint's metrics are read from that region's Azure Monitor "
        "metrics endpoint by the rollout gates); needed in azure mode with ROLLOUT_GATES.",
        azure_region,
        "an Azure region name such as westeurope",
        optional=True,
    )
    deploy_skip_tag = Setting(
        "DEPLOY_SKIP_TAG",
        "Model versions carrying this tag (key=value) are not deployed.",
        tag_condition,
        "key=value",
        default="deploy=false",
    )
    registry_name = Setting(
        "AML_REGISTRY_NAME",
        "If set, a model is shared into this Azure ML registry and deployed from there.",
        azure_name,
        "a registry name",
        optional=True,
    )
    deployment_instance_type = Setting(
        "DEPLOYMENT_INSTANCE_TYPE",
        "VM size of new deployments.",
        azure_name,
        "an Azure ML instance type",
        default="Standard_DS3_v2",
    )
    deployment_data_collection = Setting(
        "DEPLOYMENT_DATA_COLLECTION",
        "New deployments collect their model inputs and outputs with Azure ML's data collector (stored in the "
        "workspace's blob store, for Azure ML model monitoring).",
        flag,
        "true or false",
        default="false",
    )

    # Promotion between environments (one app instance per environment)
    environment_name = Setting(
        "ENVIRONMENT_NAME",
        "This environment's name (such as staging or production), as promotion candidates name it.",
        azure_name,
        "an environment name (letters, digits, -, _)",
        optional=True,
    )
    promotion_registry = Setting(
        "PROMOTION_REGISTRY",
        "Azure ML registry that model versions are promoted through from one environment to the next.",
        azure_name,
        "a registry name",
        optional=True,
    )
    promote_to = Setting(
        "PROMOTE_TO",
        "If set, a version whose rollout succeeds here is shared to PROMOTION_REGISTRY and marked a candidate for "
        "this environment (the next one's ENVIRONMENT_NAME).",
        azure_name,
        "an environment name",
        optional=True,
    )
    promotion_source = Setting(
        "PROMOTION_SOURCE",
        "If set, the reconcile timer rolls out the versions that this environment marked in PROMOTION_REGISTRY as "
        "candidates for ENVIRONMENT_NAME.",
        azure_name,
        "an environment name",
        optional=True,
    )
    promotion_approval = Setting(
        "PROMOTION_APPROVAL",
        "A promotion candidate waits for POST /api/promotions/{model}/{version}/approve before its rollout starts.",
        flag,
        "true or false",
        default="false",
    )
    local_promotion_registry_dir = Setting(
        "LOCAL_PROMOTION_REGISTRY_DIR",
        "Local mode only: the folder that plays PROMOTION_REGISTRY, shared by the local environments.",
        text,
        "a folder path",
        optional=True,
    )

    # Telemetry
    appinsights_connection_string = Setting(
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "Application Insights connection string; when empty, no telemetry is exported.",
        text,
        "an Application Insights connection string",
        optional=True,
    )

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env: Mapping[str, str] = dict(os.environ if env is None else env)
        self._cache: dict[str, Any] = {}

    @classmethod
    def all(cls) -> Iterator[tuple[str, Setting[Any]]]:
        for attr, value in vars(cls).items():
            if isinstance(value, Setting):
                yield attr, value

    def validate(self, *attrs: str) -> None:
        """Read the given settings (all when none given); raise the first error."""
        for attr, _ in self.all():
            if not attrs or attr in attrs:
                getattr(self, attr)

    def errors(self) -> list[SettingsError]:
        out: list[SettingsError] = []
        for attr, _ in self.all():
            try:
                getattr(self, attr)
            except SettingsError as exc:
                out.append(exc)
        return out

    def storage_auth(self) -> tuple[str, str]:
        """``("connection_string", value)`` or ``("account_url", value)`` for the Blob client."""
        if self.storage_connection_string:
            return "connection_string", self.storage_connection_string
        if self.storage_account_url:
            return "account_url", self.storage_account_url
        raise SettingsError(
            "STORAGE_ACCOUNT_URL",
            "is missing (and STORAGE_CONNECTION_STRING is empty)",
            "https://<account>.blob.core.windows.net, or STORAGE_CONNECTION_STRING for Azurite",
        )


_settings: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings (read from ``os.environ`` on first use)."""
    global _settings
    if _settings is None:
        _settings = Settings()
    return _settings
