"""The rollout gates' traffic figures from Azure Monitor: the online endpoint's platform metrics per deployment.

:class:`AzureEndpointMetrics` implements :class:`shared.ports.DeploymentMetrics` with the metrics client of
``azure-monitor-querymetrics`` (``MetricsClient``: in ``azure-monitor-query`` 2.x the metrics client moved to that
package), which reads the regional batch endpoint ``https://<region>.metrics.monitor.azure.com``
(``metrics:getBatch``). The metrics, as Azure Monitor documents them:

- live traffic, on the endpoint (``Microsoft.MachineLearningServices/workspaces/onlineEndpoints``):
  ``RequestsPerMinute`` (Count, Average, dimensions ``deployment``, ``statusCode``, ``statusCodeClass``,
  ``modelStatusCode``) split by ``deployment`` and ``statusCodeClass`` (``2xx``, ``4xx``, ``5xx``…), and
  ``RequestLatency_P90`` / ``RequestLatency_P99`` (Milliseconds, Average, dimension ``deployment``);
- mirrored traffic, on each deployment (``…/onlineEndpoints/deployments``), which counts every request the
  deployment answered, mirrored copies included: ``RequestsPerMinute`` split by ``envoy_response_code`` and the
  same latency metrics (no dimension).

All at the one-minute grain: a window's requests are the sum of its minutes' averages (one value per minute), its
percentile the request-weighted mean of its minutes' percentiles (the finest the platform exposes). Azure
Monitor ingests platform metrics with a delay of a few minutes, so the last minutes of a window may not count
yet: a dwell of several minutes keeps that small.

Errors: throttling, 5xx and network errors are TransientError (the reconciler retries on the next tick); any
other refusal PlatformError. Checked offline only, through the real client with canned answers at the
transport (no subscription was reachable when this was written).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import AzureError
from azure.monitor.querymetrics import MetricsClient

from shared.azure.storage import translate_azure_error
from shared.ports import PlatformError, TrafficFigures
from shared.settings import Settings
from shared.settings_parsing import SettingsError

ENDPOINT_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
DEPLOYMENT_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
REQUESTS = "RequestsPerMinute"
LATENCY_P90 = "RequestLatency_P90"
LATENCY_P99 = "RequestLatency_P99"
GRAIN = timedelta(minutes=1)
MAX_SERIES = 1000  # time series per answer (the service defaults to 10 once a filter is given)


def regional_endpoint(region: str) -> str:
    return f"https://{region}.metrics.monitor.azure.com"


class AzureEndpointMetrics:
    """:class:`shared.ports.DeploymentMetrics` for the online endpoints of one workspace."""

    def __init__(self, client: MetricsClient, *, workspace_id: str) -> None:
        self._client = client
        self.workspace_id = workspace_id.rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings) -> AzureEndpointMetrics:
        from azure.identity import DefaultAzureCredential

        region = settings.metrics_region
        if not region:
            raise SettingsError(
                "AML_WORKSPACE_REGION", "is missing (the rollout gates read the endpoint's metrics)", "westeurope"
            )
        workspace_id = (
            f"/subscriptions/{settings.subscription_id}/resourceGroups/{settings.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{settings.workspace_name}"
        )
        client = MetricsClient(regional_endpoint(region), DefaultAzureCredential(), retry_total=2)
        return cls(client, workspace_id=workspace_id)

    def endpoint_id(self, endpoint: str) -> str:
        return f"{self.workspace_id}/onlineEndpoints/{endpoint}"

    def deployment_id(self, endpoint: str, deployment: str) -> str:
        return f"{self.endpoint_id(endpoint)}/deployments/{deployment}"

    def traffic(
        self, endpoint: str, deployments: Sequence[str], start: datetime, end: datetime, *, mirrored: bool = False
    ) -> dict[str, TrafficFigures]:
        if not deployments:
            return {}
        start, end = _minute(start), max(_minute(end), _minute(start) + GRAIN)
        if mirrored:
            return self._per_deployment_resource(endpoint, deployments, start, end)
        counts = self._query(
            [self.endpoint_id(endpoint)],
            ENDPOINT_NAMESPACE,
            [REQUESTS],
            (start, end),
            "deployment eq '*' and statusCodeClass eq '*'",
        )
        latency = self._query(
            [self.endpoint_id(endpoint)],
            ENDPOINT_NAMESPACE,
            [LATENCY_P90, LATENCY_P99],
            (start, end),
            "deployment eq '*'",
        )
        requests: dict[str, dict[datetime, float]] = defaultdict(lambda: defaultdict(float))
        failed: dict[str, float] = defaultdict(float)
        for series, values in _series(counts, REQUESTS):
            name = series.get("deployment") or ""
            code_class = str(series.get("statusCodeClass") or "")
            for moment, value in values:
                requests[name][moment] += value
                if not code_class.startswith("2"):
                    failed[name] += value
        percentiles: dict[str, dict[str, dict[datetime, float]]] = {LATENCY_P90: {}, LATENCY_P99: {}}
        for metric, by_deployment in percentiles.items():
            for series, values in _series(latency, metric):
                by_deployment[series.get("deployment") or ""] = dict(values)
        out: dict[str, TrafficFigures] = {}
        for name in deployments:
            per_minute = requests.get(name, {})
            out[name] = TrafficFigures(
                requests=round(sum(per_minute.values())),
                non_2xx=round(failed.get(name, 0.0)),
                latency_p90_ms=_weighted(percentiles[LATENCY_P90].get(name, {}), per_minute),
                latency_p99_ms=_weighted(percentiles[LATENCY_P99].get(name, {}), per_minute),
            )
        return out

    def _per_deployment_resource(
        self, endpoint: str, deployments: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, TrafficFigures]:
        ids = {self.deployment_id(endpoint, name).lower(): name for name in deployments}
        counts = self._query(list(ids), DEPLOYMENT_NAMESPACE, [REQUESTS], (start, end), "envoy_response_code eq '*'")
        latency = self._query(list(ids), DEPLOYMENT_NAMESPACE, [LATENCY_P90, LATENCY_P99], (start, end), None)
        out: dict[str, TrafficFigures] = {}
        by_name_counts = {ids.get(str(_resource_id(r)).lower()): r for r in counts}
        by_name_latency = {ids.get(str(_resource_id(r)).lower()): r for r in latency}
        for name in deployments:
            per_minute: dict[datetime, float] = defaultdict(float)
            failed = 0.0
            result = by_name_counts.get(name)
            for series, values in _series([result] if result is not None else [], REQUESTS):
                code = str(series.get("envoy_response_code") or "")
                for moment, value in values:
                    per_minute[moment] += value
                    if not code.startswith("2"):
                        failed += value
            lat = by_name_latency.get(name)
            p90 = {m: v for _, vals in _series([lat] if lat is not None else [], LATENCY_P90) for m, v in vals}
            p99 = {m: v for _, vals in _series([lat] if lat is not None else [], LATENCY_P99) for m, v in vals}
            out[name] = TrafficFigures(
                requests=round(sum(per_minute.values())),
                non_2xx=round(failed),
                latency_p90_ms=_weighted(p90, per_minute),
                latency_p99_ms=_weighted(p99, per_minute),
            )
        return out

    def _query(
        self,
        resource_ids: list[str],
        namespace: str,
        metrics: list[str],
        window: tuple[datetime, datetime],
        filter: str | None,
    ) -> list[Any]:
        start, end = window
        try:
            return list(
                self._client.query_resources(
                    resource_ids=resource_ids,
                    metric_namespace=namespace,
                    metric_names=metrics,
                    timespan=(start, end),
                    granularity=GRAIN,
                    aggregations=["Average"],
                    filter=filter,
                    max_results=MAX_SERIES if filter else None,
                )
            )
        except AzureError as exc:
            raise translate_azure_error(exc, f"Azure Monitor metrics {','.join(metrics)} of {namespace}") from exc
        except (TypeError, ValueError, KeyError) as exc:  # an answer the client could not read
            raise PlatformError(f"Azure Monitor metrics {','.join(metrics)}: unreadable answer: {exc}") from exc


def _minute(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(second=0, microsecond=0)


def _resource_id(result: Any) -> str | None:
    for metric in getattr(result, "metrics", None) or []:
        metric_id = str(getattr(metric, "id", "") or "")
        if "/providers/microsoft.insights/" in metric_id.lower():
            return metric_id[: metric_id.lower().index("/providers/microsoft.insights/")]
    return None


def _series(results: Iterable[Any], metric: str) -> Iterable[tuple[dict[str, str], list[tuple[datetime, float]]]]:
    """(dimension values, [(minute, average)]) of every time series of ``metric`` in ``results``."""
    for result in results:
        for m in getattr(result, "metrics", None) or []:
            if str(getattr(m, "name", "")).lower() != metric.lower():
                continue
            for element in m.timeseries or []:
                values = [(v.timestamp, float(v.average)) for v in element.data or [] if v.average is not None]
                yield dict(element.metadata_values or {}), values


def _weighted(percentile: dict[datetime, float], requests: dict[datetime, float]) -> float | None:
    pairs = [(value, requests.get(moment, 0.0)) for moment, value in percentile.items()]
    weight = sum(n for _, n in pairs)
    if weight > 0:
        return sum(v * n for v, n in pairs) / weight
    return None
