"""AzureEndpointMetrics with the real MetricsClient, fed canned metrics:getBatch answers at the azure-core transport.

The answers are shaped as Azure Monitor's batch metrics API answers (values → metrics → timeseries with
metadatavalues and one-minute data points); the requests are checked for what the service needs: the regional
host, the subscription's batch route, the namespace, the metric names, the grain, the aggregation, the filter
that splits by the documented dimensions, and the resource ids in the body.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.monitor.querymetrics import MetricsClient

from shared.azure.endpoint_metrics import (
    DEPLOYMENT_NAMESPACE,
    ENDPOINT_NAMESPACE,
    AzureEndpointMetrics,
    regional_endpoint,
)
from shared.ports import PlatformError, TrafficFigures, TransientError
from tests.fakes.azure_http import SUBSCRIPTION, WORKSPACE, InMemoryTransport, JsonResponse, StaticCredential

ENDPOINT = "credit-default"
ENDPOINT_ID = f"{WORKSPACE}/onlineEndpoints/{ENDPOINT}"
START = datetime(2026, 11, 24, 12, 0, 30, tzinfo=UTC)
END = START + timedelta(minutes=3)
MINUTES = [datetime(2026, 11, 24, 12, m, tzinfo=UTC) for m in range(3)]


def point(moment: datetime, average: float) -> dict[str, Any]:
    return {"timeStamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "average": average}


def series(dims: dict[str, str], values: list[float]) -> dict[str, Any]:
    return {
        "metadatavalues": [{"name": {"value": k, "localizedValue": k}, "value": v} for k, v in dims.items()],
        "data": [point(m, v) for m, v in zip(MINUTES, values, strict=False)],
    }


def metric(resource: str, name: str, unit: str, timeseries: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": f"{resource}/providers/Microsoft.Insights/metrics/{name}",
        "type": "Microsoft.Insights/metrics",
        "name": {"value": name, "localizedValue": name},
        "displayDescription": "",
        "unit": unit,
        "timeseries": timeseries,
        "errorCode": "Success",
    }


def batch(resource: str, namespace: str, metrics: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "starttime": "2026-11-24T12:00:00Z",
        "endtime": "2026-11-24T12:03:00Z",
        "interval": "PT1M",
        "namespace": namespace,
        "resourceregion": "westeurope",
        "resourceid": resource,
        "value": metrics,
    }


class MetricsTransport(InMemoryTransport):
    """Answers metrics:getBatch by the metric names asked for; records every request."""

    def __init__(self, answers: dict[str, tuple[int, dict[str, Any]]]) -> None:
        self.answers = answers
        self.requests: list[Any] = []

    def send(self, request: Any, **kwargs: Any) -> JsonResponse:
        self.requests.append(request)
        names = parse_qs(urlsplit(request.url).query)["metricnames"][0]
        status, body = self.answers[names]
        return JsonResponse(request, status, body)


def live_answers() -> dict[str, tuple[int, dict[str, Any]]]:
    requests = metric(
        ENDPOINT_ID,
        "RequestsPerMinute",
        "Count",
        [
            series({"deployment": "blue", "statusCodeClass": "2xx"}, [300, 310, 290]),
            series({"deployment": "blue", "statusCodeClass": "4xx"}, [1, 0, 1]),
            series({"deployment": "v2-abc123", "statusCodeClass": "2xx"}, [30, 31, 29]),
            series({"deployment": "v2-abc123", "statusCodeClass": "5xx"}, [3, 4, 3]),
        ],
    )
    latency = [
        metric(
            ENDPOINT_ID,
            name,
            "Milliseconds",
            [series({"deployment": "blue"}, [b, b, b]), series({"deployment": "v2-abc123"}, [c1, c2, c3])],
        )
        for name, b, (c1, c2, c3) in (
            ("RequestLatency_P90", 40.0, (100, 130, 120)),
            ("RequestLatency_P99", 80.0, (200, 260, 240)),
        )
    ]
    return {
        "RequestsPerMinute": (200, {"values": [batch(ENDPOINT_ID, ENDPOINT_NAMESPACE, [requests])]}),
        "RequestLatency_P90,RequestLatency_P99": (200, {"values": [batch(ENDPOINT_ID, ENDPOINT_NAMESPACE, latency)]}),
    }


def metrics_on(transport: MetricsTransport) -> AzureEndpointMetrics:
    client = MetricsClient(regional_endpoint("westeurope"), StaticCredential(), transport=transport, retry_total=0)
    return AzureEndpointMetrics(client, workspace_id=WORKSPACE)


def test_live_figures_per_deployment_from_the_endpoints_metrics() -> None:
    transport = MetricsTransport(live_answers())
    figures = metrics_on(transport).traffic(ENDPOINT, ["v2-abc123", "blue", "gone"], START, END)

    blue = figures["blue"]
    assert (blue.requests, blue.non_2xx) == (902, 2)
    assert blue.latency_p90_ms == pytest.approx(40.0) and blue.latency_p99_ms == pytest.approx(80.0)
    new = figures["v2-abc123"]
    assert (new.requests, new.non_2xx) == (100, 10)
    # per-minute percentiles weighted by that minute's requests: (100*33 + 130*35 + 120*32) / 100
    assert new.latency_p90_ms == pytest.approx((100 * 33 + 130 * 35 + 120 * 32) / 100)
    assert figures["gone"] == TrafficFigures(0, 0, None, None)

    counts, latency = transport.requests
    url = urlsplit(counts.url)
    assert url.netloc == "westeurope.metrics.monitor.azure.com"
    assert url.path == f"/subscriptions/{SUBSCRIPTION}/metrics:getBatch"
    query = parse_qs(url.query)
    assert query["metricnamespace"] == [ENDPOINT_NAMESPACE]
    assert query["interval"] == ["PT1M"] and query["aggregation"] == ["Average"]
    assert query["filter"] == ["deployment eq '*' and statusCodeClass eq '*'"]
    assert query["starttime"][0].startswith("2026-11-24T12:00:00") and query["endtime"][0].startswith(
        "2026-11-24T12:03"
    )
    assert int(query["top"][0]) >= 100
    assert json.loads(counts.content)["resourceids"] == [ENDPOINT_ID]
    assert parse_qs(urlsplit(latency.url).query)["filter"] == ["deployment eq '*'"]
    assert counts.headers["Authorization"].startswith("Bearer ")


def test_mirrored_figures_come_from_each_deployments_own_metrics() -> None:
    deployment_id = f"{ENDPOINT_ID}/deployments/v2-abc123"
    requests = metric(
        deployment_id,
        "RequestsPerMinute",
        "Count",
        [series({"envoy_response_code": "200"}, [20, 20, 20]), series({"envoy_response_code": "503"}, [2, 0, 0])],
    )
    latency = [
        metric(deployment_id, "RequestLatency_P90", "Milliseconds", [series({}, [50, 50, 50])]),
        metric(deployment_id, "RequestLatency_P99", "Milliseconds", [series({}, [90, 90, 90])]),
    ]
    transport = MetricsTransport(
        {
            "RequestsPerMinute": (200, {"values": [batch(deployment_id, DEPLOYMENT_NAMESPACE, [requests])]}),
            "RequestLatency_P90,RequestLatency_P99": (
                200,
                {"values": [batch(deployment_id, DEPLOYMENT_NAMESPACE, latency)]},
            ),
        }
    )
    figures = metrics_on(transport).traffic(ENDPOINT, ["v2-abc123"], START, END, mirrored=True)
    assert figures["v2-abc123"] == TrafficFigures(62, 2, pytest.approx(50.0), pytest.approx(90.0))
    query = parse_qs(urlsplit(transport.requests[0].url).query)
    assert query["metricnamespace"] == [DEPLOYMENT_NAMESPACE]
    assert query["filter"] == ["envoy_response_code eq '*'"]
    assert json.loads(transport.requests[0].content)["resourceids"] == [deployment_id.lower()]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_are_transient(status: int) -> None:
    error = {"error": {"code": "TooManyRequests", "message": "slow down"}}
    transport = MetricsTransport({"RequestsPerMinute": (status, error)})
    with pytest.raises(TransientError, match=f"HTTP {status}"):
        metrics_on(transport).traffic(ENDPOINT, ["blue"], START, END)


def test_a_refusal_is_a_platform_error() -> None:
    error = {"error": {"code": "AuthorizationFailed", "message": "no Monitoring Reader role"}}
    transport = MetricsTransport({"RequestsPerMinute": (403, error)})
    with pytest.raises(PlatformError) as caught:
        metrics_on(transport).traffic(ENDPOINT, ["blue"], START, END)
    assert not isinstance(caught.value, TransientError)


def test_no_deployment_asks_nothing() -> None:
    transport = MetricsTransport({})
    assert metrics_on(transport).traffic(ENDPOINT, [], START, END) == {}
    assert transport.requests == []
