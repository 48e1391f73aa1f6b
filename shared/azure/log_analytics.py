"""The export's log source on Log Analytics: ``AmlOnlineEndpointConsoleLog`` through ``LogsQueryClient``.

The queries filter and project only; parsing happens in Python with the console-log contract. The table
has no endpoint column: the endpoint is the last segment of ``_ResourceId``
(``…/workspaces/<ws>/onlineendpoints/<endpoint>``), so the filter is ``_ResourceId endswith
"/onlineendpoints/<endpoint>"`` (case-insensitive, as Azure resource ids are). Rows query::

    AmlOnlineEndpointConsoleLog
    | where TimeGenerated >= datetime(<start>) and TimeGenerated < datetime(<end>)
    | where _ResourceId endswith "/onlineendpoints/<endpoint>"
    | where Message has "MLOPS_INFERENCE_V1" and Message contains_cs "online/<model>/"
    | project TimeGenerated, Message, DeploymentName
    | order by TimeGenerated asc

The volume query has the same filters and ends with
``| summarize Rows = count(), Bytes = sum(estimate_data_size(Message))``.

Windows are half-open: the explicit ``TimeGenerated`` filters decide; the ``timespan`` parameter (which the
service applies too) is one second wider on each side so its millisecond serialisation can never cut rows.

Results: ``LogsQueryResult`` → complete; ``LogsQueryPartialResult`` (the service stopped at 500,000 rows,
~64 MB or a resource limit) → ``complete=False`` with the service's reason, never passed off as complete;
an HTTP error → :class:`shared.ports.TransientError` (throttling, 5xx, timeouts, token failures) or
:class:`shared.ports.PlatformError` (bad query, forbidden, unknown workspace).

``azure.monitor.query`` is imported here: import this module only inside the code path that needs it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import AzureError
from azure.monitor.query import LogsQueryClient, LogsQueryPartialResult, LogsQueryResult

from ml_assets.src.contracts.console_log import MARKER, SERVICE_PREFIX
from shared.azure.storage import translate_azure_error
from shared.ports import LogQueryResult, LogRow, LogVolume, PlatformError
from shared.settings import Settings

log = logging.getLogger(__name__)

TABLE = "AmlOnlineEndpointConsoleLog"
# The service's own ceiling is 10 minutes; a volume query is far quicker, a big window may need it.
SERVER_TIMEOUT_SECONDS = 600
_TIMESPAN_PAD = timedelta(seconds=1)


def kql_string(value: str) -> str:
    """A KQL string literal for ``value`` (double-quoted, backslashes and quotes escaped)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def kql_datetime(moment: datetime) -> str:
    return f"datetime({moment.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')})"


def filters(start: datetime, end: datetime, *, endpoint: str, model: str) -> str:
    """The shared ``where`` clauses of both queries."""
    return (
        f"{TABLE}\n"
        f"| where TimeGenerated >= {kql_datetime(start)} and TimeGenerated < {kql_datetime(end)}\n"
        f"| where _ResourceId endswith {kql_string('/onlineendpoints/' + endpoint)}\n"
        f"| where Message has {kql_string(MARKER)} and Message contains_cs {kql_string(SERVICE_PREFIX + model + '/')}\n"
    )


def rows_query(start: datetime, end: datetime, *, endpoint: str, model: str) -> str:
    return (
        filters(start, end, endpoint=endpoint, model=model)
        + "| project TimeGenerated, Message, DeploymentName\n| order by TimeGenerated asc"
    )


def volume_query(start: datetime, end: datetime, *, endpoint: str, model: str) -> str:
    return (
        filters(start, end, endpoint=endpoint, model=model)
        + "| summarize Rows = count(), Bytes = sum(estimate_data_size(Message))"
    )


class LogAnalyticsSource:
    """:class:`shared.ports.LogSource` on one Log Analytics workspace, one endpoint and one model."""

    def __init__(self, client: LogsQueryClient, *, workspace_id: str, endpoint: str, model: str) -> None:
        self._client = client
        self.workspace_id = workspace_id
        self.endpoint = endpoint
        self.model = model

    @classmethod
    def from_settings(cls, settings: Settings) -> LogAnalyticsSource:
        from azure.identity import DefaultAzureCredential

        # Two quick retries on throttling/5xx, then the run fails and the next timer run resumes.
        client = LogsQueryClient(DefaultAzureCredential(), retry_total=2, retry_backoff_factor=2)
        return cls(
            client,
            workspace_id=settings.log_analytics_workspace_id,
            endpoint=settings.endpoint_name,
            model=settings.model_name,
        )

    def count(self, start: datetime, end: datetime) -> int:
        return self.volume(start, end).rows

    def volume(self, start: datetime, end: datetime) -> LogVolume:
        query = volume_query(start, end, endpoint=self.endpoint, model=self.model)
        response = self._run(query, start, end, what="volume")
        if isinstance(response, LogsQueryPartialResult):
            raise PlatformError(f"volume query for {start}..{end} came back partial: {_reason(response)}")
        if not response.tables or not response.tables[0].rows:
            return LogVolume(rows=0, bytes=0)
        row = response.tables[0].rows[0]
        return LogVolume(rows=int(row["Rows"] or 0), bytes=int(row["Bytes"] or 0))

    def query(self, start: datetime, end: datetime) -> LogQueryResult:
        query = rows_query(start, end, endpoint=self.endpoint, model=self.model)
        response = self._run(query, start, end, what="rows")
        if isinstance(response, LogsQueryPartialResult):
            tables = response.partial_data or []
            rows = [_log_row(r) for r in tables[0].rows] if tables else []
            return LogQueryResult(rows=rows, complete=False, detail=_reason(response))
        rows = [_log_row(r) for r in response.tables[0].rows] if response.tables else []
        return LogQueryResult(rows=rows, complete=True)

    def _run(self, query: str, start: datetime, end: datetime, *, what: str) -> Any:
        try:
            response = self._client.query_workspace(
                self.workspace_id,
                query,
                timespan=(start - _TIMESPAN_PAD, end + _TIMESPAN_PAD),
                server_timeout=SERVER_TIMEOUT_SECONDS,
            )
        except AzureError as exc:
            raise translate_azure_error(exc, f"Log Analytics {what} query {start}..{end}") from exc
        if not isinstance(response, LogsQueryResult | LogsQueryPartialResult):  # pragma: no cover - SDK contract
            raise PlatformError(f"Log Analytics {what} query: unexpected response {type(response).__name__}")
        return response


def _log_row(row: Any) -> LogRow:
    moment = row["TimeGenerated"]
    if isinstance(moment, str):  # the SDK returns the raw text when it cannot parse it
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return LogRow(time=moment.astimezone(UTC), message=row["Message"] or "", deployment=row["DeploymentName"] or "")


def _reason(response: LogsQueryPartialResult) -> str:
    error = response.partial_error
    if error is None:
        return "partial result"
    parts = [str(getattr(error, "code", "") or ""), str(getattr(error, "message", "") or "")]
    for detail in getattr(error, "details", None) or []:
        inner = detail.get("innererror") or {}
        parts.append(str(inner.get("message") or detail.get("message") or ""))
    return "; ".join(p for p in parts if p)
