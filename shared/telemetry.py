"""Telemetry set-up for the function app: Azure Monitor OpenTelemetry, once per process."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)
_configured = False


def configure_telemetry() -> bool:
    """Configure azure-monitor-opentelemetry when APPLICATIONINSIGHTS_CONNECTION_STRING is set.

    Returns True when telemetry is (already) configured. A failure is logged, never raised: the host
    must still index the functions.
    """
    global _configured
    if _configured:
        return True
    if not os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip():
        return False
    try:
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure_azure_monitor(logger_name="shared")
    except Exception:
        log.exception("telemetry: configure_azure_monitor failed; continuing without telemetry")
        return False
    _configured = True
    return True
