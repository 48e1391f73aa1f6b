"""The settings of the console-log export (Log Analytics to Parquet in Blob): schedule, source, target and how
windows are cut. A group of :class:`shared.settings.Settings`; not used alone."""

from __future__ import annotations

from shared.settings_parsing import (
    Setting,
    azure_name,
    blob_prefix,
    container_name,
    duration_setting,
    guid,
    positive_int,
    schedule_setting,
)


class ExportSettings:
    """Export: the timer, the Log Analytics source, the Blob target, the windows."""

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
