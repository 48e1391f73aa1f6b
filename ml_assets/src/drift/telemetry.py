"""Delivery of a drift run's telemetry: Application Insights (azure-monitor-opentelemetry) or the local file.

What is sent is defined by the contract (:mod:`..contracts.drift_telemetry`); this module only decides where
it goes and makes sure it arrives before the job's process exits. ``azure.monitor.opentelemetry`` is imported
only when the telemetry goes to Application Insights. Inside an Azure ML job it goes to the Application Insights the
submission names (``contracts/telemetry_target.py``) or else the workspace's, found and written with the compute's
identity (:mod:`..stores.workspace_app_insights`), unless a connection string is given.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from ..contracts.drift_telemetry import (
    CONNECTION_STRING_ENV,
    METRIC_NAMESPACE,
    TRACE_LOGGER,
    TelemetryBatch,
    local_telemetry_path,
    write_local,
)


def send_to_azure_monitor(connection_string: str, batch: TelemetryBatch, credential: Any = None) -> None:
    """Send ``batch`` with azure-monitor-opentelemetry and flush before returning.

    Traces: records of the :data:`TRACE_LOGGER` logger (message = the contract's JSON, run context as
    ``customDimensions``). Metrics: one histogram record per point (App Insights ``customMetrics``:
    ``value`` = sum = the figure, ``valueCount`` = 1). Providers are force-flushed, then shut down, so a
    short-lived job loses nothing. With ``credential``, ingestion is authenticated with Entra ID.
    """
    from azure.monitor.opentelemetry import configure_azure_monitor
    from opentelemetry import metrics
    from opentelemetry._logs import get_logger_provider

    configure_azure_monitor(
        connection_string=connection_string,
        **({"credential": credential} if credential is not None else {}),
        logger_name=TRACE_LOGGER,
        enable_live_metrics=False,
        enable_performance_counters=False,
        disable_offline_storage=True,  # a job's node goes away: nothing would ever retry stored files
        instrumentation_options={name: {"enabled": False} for name in _INSTRUMENTATIONS},
    )
    trace_logger = logging.getLogger(TRACE_LOGGER)
    trace_logger.setLevel(logging.INFO)
    trace_logger.propagate = False  # the message goes to App Insights, not twice to the console
    for message in batch.messages:
        trace_logger.info(message.text(), extra=dict(batch.context))

    meter = metrics.get_meter(METRIC_NAMESPACE)
    instruments: dict[str, Any] = {}
    for point in batch.metrics:
        if point.name not in instruments:
            instruments[point.name] = meter.create_histogram(point.name)
        instruments[point.name].record(point.value, attributes=dict(point.dimensions))

    meter_provider = metrics.get_meter_provider()
    logger_provider = get_logger_provider()
    ok = True
    for provider in (logger_provider, meter_provider):
        flush = getattr(provider, "force_flush", None)
        if flush is not None and flush(30_000) is False:
            ok = False
    for provider in (logger_provider, meter_provider):
        shutdown = getattr(provider, "shutdown", None)
        if shutdown is not None:
            shutdown()
    if not ok:
        raise RuntimeError("Application Insights export did not finish within 30 s")


_INSTRUMENTATIONS = (
    "azure_sdk",
    "django",
    "fastapi",
    "flask",
    "psycopg2",
    "requests",
    "urllib",
    "urllib3",
)


def emit(batch: TelemetryBatch, env: Mapping[str, str] | None = None, *, resource_id: str | None = None) -> str:
    """Send ``batch`` to Application Insights: in an Azure ML job, ``resource_id``'s or else the workspace's (or the
    connection string's, when one is set) with the compute's identity; outside one, the connection string's when
    set. Else to the local file.

    Returns where it went (``"azure_monitor"``, ``"azure_monitor <resource id>"`` or the local file path).
    """
    from ..stores.job_identity import in_azure_ml_job, job_credential
    from ..stores.workspace_app_insights import workspace_app_insights

    env = os.environ if env is None else env
    connection_string = (env.get(CONNECTION_STRING_ENV) or "").strip()
    if in_azure_ml_job(env):
        if connection_string:
            send_to_azure_monitor(connection_string, batch, credential=job_credential(env))
            return "azure_monitor"
        target = workspace_app_insights(env, resource_id=resource_id)
        send_to_azure_monitor(target.connection_string, batch, credential=target.credential)
        return f"azure_monitor {target.resource_id}"
    if connection_string:
        send_to_azure_monitor(connection_string, batch)
        return "azure_monitor"
    path = local_telemetry_path(env)
    write_local(path, batch)
    return str(path)
