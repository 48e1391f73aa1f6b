"""`export_inference_data`: timer (``%EXPORT_SCHEDULE%``) exporting endpoint console logs to Parquet.

Thin: builds the export's configuration and ports from the context, runs :func:`run_export`, logs. The
service logs the run's one summary line. A run that finds the export lock taken returns quietly; any
failure is logged and re-raised so the invocation shows as failed (the next run resumes from the
watermark, which never covers a partly written window). An unreadable watermark document is logged naming
it and raised, run after run, until an operator fixes or deletes it: it is never replaced by a fresh one,
which would export again what it had covered.
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared.context import get_context
from shared.ports import CorruptDocumentError, PlatformError, TransientError
from shared.services.export import ExportConfig, ExportPorts, run_export
from shared.settings_parsing import SettingsError

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("export_inference_data")
@bp.timer_trigger(arg_name="timer", schedule="%EXPORT_SCHEDULE%", run_on_startup=False, use_monitor=True)
def export_inference_data(timer: func.TimerRequest) -> None:
    context = get_context()
    try:
        config = ExportConfig.from_settings(context.settings)
        ports = ExportPorts(
            source=context.log_source(),
            writer=context.export_writer(),
            store=context.state_store(),
            assets=context.data_assets() if config.data_asset else None,
        )
        run_export(config, ports, past_due=bool(timer.past_due))
    except SettingsError as exc:
        log.error("export_inference_data: configuration error: %s", exc)
        raise
    except TransientError as exc:
        log.warning("export_inference_data: a service is unavailable, the next run retries: %s", exc)
        raise
    except CorruptDocumentError as exc:
        log.error("export_inference_data: nothing exported: %s", exc)
        raise
    except PlatformError as exc:
        log.error("export_inference_data: failed: %s", exc)
        raise
