"""Telemetry set-up for the function app: Azure Monitor OpenTelemetry, once per process."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)
_configured = False

# The Functions host authenticates its own telemetry with this setting; the worker's exporter needs the credential
# passed, so the resource can refuse ingestion by key.
AUTHENTICATION_STRING_ENV = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"


def entra_credential(authentication_string: str) -> object | None:
    """The managed identity ``Authorization=AAD[;ClientId=<id>]`` names, or None (ingestion by key)."""
    parts = dict(
        part.split("=", 1) for part in authentication_string.split(";") if "=" in part and part.split("=", 1)[0]
    )
    options = {key.strip().lower(): value.strip() for key, value in parts.items()}
    if options.get("authorization", "").upper() != "AAD":
        return None
    from azure.identity import ManagedIdentityCredential

    client_id = options.get("clientid") or None
    return ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()


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

        credential = entra_credential(os.environ.get(AUTHENTICATION_STRING_ENV, ""))
        configure_azure_monitor(logger_name="shared", **({"credential": credential} if credential else {}))
    except Exception:
        log.exception("telemetry: configure_azure_monitor failed; continuing without telemetry")
        return False
    _configured = True
    return True
