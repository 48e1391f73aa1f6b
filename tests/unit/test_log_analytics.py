"""LogAnalyticsSource with the real LogsQueryClient, fed canned HTTP responses at the azure-core transport."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.monitor.query import LogsQueryClient

from shared.azure.log_analytics import LogAnalyticsSource, kql_string, rows_query, volume_query
from shared.ports import PlatformError, TransientError
from tests.fakes.azure_http import InMemoryTransport, JsonResponse, StaticCredential

START = datetime(2026, 11, 24, 10, tzinfo=UTC)
END = START + timedelta(hours=1)
COLUMNS = [
    {"name": "TimeGenerated", "type": "datetime"},
    {"name": "Message", "type": "string"},
    {"name": "DeploymentName", "type": "string"},
]


class CannedTransport(InMemoryTransport):
    """Answers each request with the next canned (status, JSON body) and records the requests."""

    def __init__(self, *replies: tuple[int, dict[str, Any]]) -> None:
        self.replies = list(replies)
        self.requests: list[Any] = []

    def send(self, request: Any, **kwargs: Any) -> JsonResponse:
        self.requests.append(request)
        status, body = self.replies.pop(0)
        return JsonResponse(request, status, body)


def source(*replies: tuple[int, dict[str, Any]]) -> tuple[LogAnalyticsSource, CannedTransport]:
    transport = CannedTransport(*replies)
    client = LogsQueryClient(StaticCredential(), transport=transport, retry_total=0)
    return LogAnalyticsSource(
        client, workspace_id="ws-guid", endpoint="credit-default", model="credit-default"
    ), transport


def table(rows: list[list[Any]]) -> dict[str, Any]:
    return {"tables": [{"name": "PrimaryResult", "columns": COLUMNS, "rows": rows}]}


PARTIAL_ERROR = {
    "code": "PartialError",
    "message": "There were some errors when processing your query.",
    "details": [
        {
            "code": "EngineError",
            "message": "Something went wrong processing your query on the server.",
            "innererror": {
                "code": "-2133196797",
                "message": (
                    "Query result set has exceeded the internal data size limit 67108864 (E_QUERY_RESULT_SET_TOO_LARGE)"
                ),
            },
        }
    ],
}


def test_rows_are_parsed_by_the_sdk_and_the_query_is_what_we_mean() -> None:
    src, transport = source(
        (
            200,
            table(
                [["2026-11-24T10:00:01.1234567Z", "MLOPS_INFERENCE_V1 {}", "blue"], ["2026-11-24T10:00:02Z", "m2", ""]]
            ),
        )
    )
    result = src.query(START, END)

    assert result.complete
    assert [(r.time, r.message, r.deployment) for r in result.rows] == [
        (datetime(2026, 11, 24, 10, 0, 1, 123456, tzinfo=UTC), "MLOPS_INFERENCE_V1 {}", "blue"),
        (datetime(2026, 11, 24, 10, 0, 2, tzinfo=UTC), "m2", ""),
    ]
    (request,) = transport.requests
    assert request.url == "https://api.loganalytics.io/v1/workspaces/ws-guid/query"
    body = json.loads(request.content)
    query = body["query"]
    assert query.startswith("AmlOnlineEndpointConsoleLog\n")
    assert (
        "TimeGenerated >= datetime(2026-11-24T10:00:00.000000Z) and "
        "TimeGenerated < datetime(2026-11-24T11:00:00.000000Z)" in query
    )
    assert '_ResourceId endswith "/onlineendpoints/credit-default"' in query
    assert 'Message has "MLOPS_INFERENCE_V1"' in query and 'Message contains_cs "online/credit-default/"' in query
    assert "| project TimeGenerated, Message, DeploymentName" in query
    assert body["timespan"] == "2026-11-24T09:59:59.000Z/2026-11-24T11:00:01.000Z"  # padded; the filters decide
    assert "wait=600" in request.headers["Prefer"]


def test_a_partial_result_is_reported_incomplete_with_the_services_reason() -> None:
    src, _ = source((200, {**table([["2026-11-24T10:00:01Z", "m", "blue"]]), "error": PARTIAL_ERROR}))
    result = src.query(START, END)
    assert not result.complete
    assert "E_QUERY_RESULT_SET_TOO_LARGE" in result.detail and "PartialError" in result.detail
    assert len(result.rows) == 1  # whatever came back is handed over, flagged incomplete


def test_volume_reads_rows_and_bytes() -> None:
    body = {
        "tables": [
            {
                "name": "PrimaryResult",
                "columns": [{"name": "Rows", "type": "long"}, {"name": "Bytes", "type": "long"}],
                "rows": [[1234, 5678901]],
            }
        ]
    }
    src, transport = source(
        (200, body),
        (200, {"tables": [{"name": "PrimaryResult", "columns": body["tables"][0]["columns"], "rows": [[0, None]]}]}),
    )
    volume = src.volume(START, END)
    assert (volume.rows, volume.bytes) == (1234, 5678901)
    assert src.count(START, END) == 0
    query = json.loads(transport.requests[0].content)["query"]
    assert query.endswith("| summarize Rows = count(), Bytes = sum(estimate_data_size(Message))")


def test_a_partial_volume_is_an_error_not_a_number() -> None:
    body = {
        "tables": [{"name": "PrimaryResult", "columns": [{"name": "Rows", "type": "long"}], "rows": []}],
        "error": PARTIAL_ERROR,
    }
    src, _ = source((200, body))
    with pytest.raises(PlatformError, match="partial"):
        src.volume(START, END)


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "BadArgumentError", PlatformError),
        (403, "InsufficientAccessError", PlatformError),
        (429, "TooManyRequests", TransientError),
        (503, "ServiceUnavailable", TransientError),
    ],
)
def test_http_errors_are_translated(status: int, code: str, error: type[Exception]) -> None:
    src, _ = source((status, {"error": {"code": code, "message": f"{code} happened"}}))
    with pytest.raises(error) as raised:
        src.query(START, END)
    assert type(raised.value) is error and "Log Analytics rows query" in str(raised.value)


def test_kql_literals_are_escaped() -> None:
    assert kql_string('a"b\\c') == '"a\\"b\\\\c"'
    assert "\n| summarize" in volume_query(START, END, endpoint="e", model="m")
    assert rows_query(START, END, endpoint="e", model="m").endswith("| order by TimeGenerated asc")
