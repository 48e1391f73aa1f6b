"""The common alert schema model: realistic metric / log search / resolved payloads, and each kind of bad one.

The payload builders here follow the documented samples ("Sample alert payloads", Azure Monitor docs) with
values of this app's drift alerts; the handler tests import them.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.payloads import PayloadError
from shared.payloads.alerts import (
    MAX_PAYLOAD_BYTES,
    PayloadTooLargeError,
    parse_common_alert,
    peek_alert_identity,
)

SUB = "5f1c6c4e-8a53-4b36-9a4c-0a5b7d1e2f30"
WORKSPACE = f"/subscriptions/{SUB}/resourceGroups/rg-mlops/providers/Microsoft.OperationalInsights/workspaces/law-mlops"
APP_INSIGHTS = f"/subscriptions/{SUB}/resourceGroups/rg-mlops/providers/microsoft.insights/components/appi-mlops"


def alert_id(suffix: str = "9d3c1f6e-2b7a-4e0f-8c5d-1a2b3c4d5e6f") -> str:
    return f"/subscriptions/{SUB}/providers/Microsoft.AlertsManagement/alerts/{suffix}"


def metric_alert(
    *,
    alert_guid: str = "9d3c1f6e-2b7a-4e0f-8c5d-1a2b3c4d5e6f",
    rule: str = "credit-default-drift-share",
    condition: str = "Fired",
    severity: str = "Sev2",
) -> dict[str, Any]:
    """A static-threshold metric alert on the drift component's custom metric in Application Insights."""
    essentials: dict[str, Any] = {
        "alertId": alert_id(alert_guid),
        "alertRule": rule,
        "alertRuleID": f"/subscriptions/{SUB}/resourceGroups/rg-mlops/providers/microsoft.insights/metricAlerts/{rule}",
        "severity": severity,
        "signalType": "Metric",
        "monitorCondition": condition,
        "monitoringService": "Platform",
        "alertTargetIDs": [APP_INSIGHTS],
        "configurationItems": ["appi-mlops"],
        "originAlertId": f"{SUB}_rg-mlops_microsoft.insights_metricAlerts_{rule}_-1178122",
        "firedDateTime": "2026-03-22T13:58:24.3713213Z",
        "description": "Share of drifted features of credit-default above 0.5",
        "essentialsVersion": "1.0",
        "alertContextVersion": "1.0",
    }
    if condition == "Resolved":
        essentials["resolvedDateTime"] = "2026-03-22T15:03:16.2246313Z"
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": essentials,
            "alertContext": {
                "properties": None,
                "conditionType": "SingleResourceMultipleMetricCriteria",
                "condition": {
                    "windowSize": "PT1H",
                    "allOf": [
                        {
                            "metricName": "drift_share",
                            "metricNamespace": "azure.applicationinsights",
                            "operator": "GreaterThan",
                            "threshold": "0.5",
                            "timeAggregation": "Maximum",
                            "dimensions": [{"name": "model_name", "value": "credit-default"}],
                            "metricValue": 0.6521739,
                        }
                    ],
                    "windowStartTime": "2026-03-22T12:55:03.064Z",
                    "windowEndTime": "2026-03-22T13:55:03.064Z",
                },
            },
            "customProperties": None,
        },
    }


def log_search_alert(
    *,
    alert_guid: str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    rule: str = "credit-default-dataset-drift",
    condition: str = "Fired",
) -> dict[str, Any]:
    """A Log Alerts V2 (scheduled query rule) alert on the drift traces in Application Insights."""
    query = (
        'traces | where message has "OverallDriftMetrics" | extend m = parse_json(message) '
        '| where tostring(m.model_name) == "credit-default" | where tobool(m.data.dataset_drift) '
        "| summarize AggregatedValue = count() by bin(timestamp, 1h)"
    )
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": {
                "alertId": alert_id(alert_guid),
                "alertRule": rule,
                "severity": "Sev3",
                "signalType": "Log",
                "monitorCondition": condition,
                "monitoringService": "Log Alerts V2",
                "alertTargetIDs": [WORKSPACE],
                "configurationItems": [WORKSPACE],
                "originAlertId": "4f1b0a2e-9c3d-4e5f-a6b7-c8d9e0f1a2b3",
                "firedDateTime": "2026-03-22T02:45:11.0231Z",
                "description": "Evidently reports dataset drift for credit-default",
                "essentialsVersion": "1.0",
                "alertContextVersion": "1.0",
            },
            "alertContext": {
                "properties": {"model": "credit-default"},
                "conditionType": "LogQueryCriteria",
                "condition": {
                    "windowSize": "PT1H",
                    "allOf": [
                        {
                            "searchQuery": query,
                            "metricMeasureColumn": None,
                            "targetResourceTypes": "['microsoft.insights/components']",
                            "operator": "GreaterThan",
                            "threshold": "0",
                            "timeAggregation": "Count",
                            "dimensions": [],
                            "metricValue": 1.0,
                            "failingPeriods": {"numberOfEvaluationPeriods": 1, "minFailingPeriodsToAlert": 1},
                            "linkToSearchResultsUI": "https://portal.azure.com#@tenant/blade/Microsoft_Azure_Monitoring_Logs/LogsBlade",
                            "linkToFilteredSearchResultsUI": "https://portal.azure.com#@tenant/blade/Microsoft_Azure_Monitoring_Logs/LogsBlade",
                            "linkToSearchResultsAPI": "https://api.loganalytics.io/v1/workspaces/ws/query?query=traces",
                            "linkToFilteredSearchResultsAPI": "https://api.loganalytics.io/v1/workspaces/ws/query?query=traces",
                        }
                    ],
                    "windowStartTime": "2026-03-22T01:45:09Z",
                    "windowEndTime": "2026-03-22T02:45:09Z",
                },
            },
            "customProperties": {"team": "mlops"},
        },
    }


# The documented sample (common alert schema page), verbatim apart from the subscription placeholder.
DOCUMENTED_SAMPLE = """{
  "schemaId": "azureMonitorCommonAlertSchema",
  "data": {
    "essentials": {
      "alertId": "/subscriptions/<subscription ID>/providers/Microsoft.AlertsManagement/alerts/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e",
      "alertRule": "WCUS-R2-Gen2",
      "alertRuleId": "/subscriptions/<subscription ID>/resourceGroups/<resource-group>/providers/microsoft.insights/metricAlerts/WCUS-R2-Gen2",
      "severity": "Sev3",
      "signalType": "Metric",
      "monitorCondition": "Resolved",
      "monitoringService": "Platform",
      "alertTargetIDs": ["/subscriptions/<subscription ID>/resourcegroups/pipelinealertrg/providers/microsoft.compute/virtualmachines/wcus-r2-gen2"],
      "configurationItems": ["wcus-r2-gen2"],
      "originAlertId": "3f2d4487-b0fc-4125-8bd5-7ad17384221e_PipeLineAlertRG_microsoft.insights_metricAlerts_WCUS-R2-Gen2_-117781227",
      "firedDateTime": "2019-03-22T13:58:24.3713213Z",
      "resolvedDateTime": "2019-03-22T14:03:16.2246313Z",
      "description": "",
      "essentialsVersion": "1.0",
      "alertContextVersion": "1.0"
    },
    "alertContext": {
      "properties": null,
      "conditionType": "SingleResourceMultipleMetricCriteria",
      "condition": {
        "windowSize": "PT5M",
        "allOf": [
          {
            "metricName": "Percentage CPU",
            "metricNamespace": "Microsoft.Compute/virtualMachines",
            "operator": "GreaterThan",
            "threshold": "25",
            "timeAggregation": "Average",
            "dimensions": [{"name": "ResourceId", "value": "a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1"}],
            "metricValue": 7.727
          }
        ]
      }
    },
    "customProperties": {"Key1": "Value1", "Key2": "Value2"}
  }
}"""  # noqa: E501


def dumps(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


# --- valid payloads ------------------------------------------------------------------------------


def test_a_fired_metric_alert_is_parsed() -> None:
    alert = parse_common_alert(dumps(metric_alert()))

    assert alert.alert_id == alert_id()
    assert alert.alert_rule == "credit-default-drift-share"
    assert alert.alert_rule_id.endswith("/metricAlerts/credit-default-drift-share")
    assert alert.severity == "Sev2"
    assert alert.fired and alert.monitor_condition == "Fired"
    assert alert.kind == "metric"
    assert alert.fired_at == datetime(2026, 3, 22, 13, 58, 24, 371321, tzinfo=UTC)
    assert alert.resolved_at is None
    assert alert.window_end == datetime(2026, 3, 22, 13, 55, 3, 64000, tzinfo=UTC)
    (criterion,) = alert.criteria
    assert criterion.metric_name == "drift_share"
    assert criterion.threshold == "0.5"
    assert criterion.metric_value == pytest.approx(0.6521739)
    assert criterion.dimensions == (("model_name", "credit-default"),)
    assert alert.target_ids == (APP_INSIGHTS,)


def test_a_fired_log_search_alert_is_parsed() -> None:
    alert = parse_common_alert(dumps(log_search_alert()))

    assert alert.kind == "log"
    assert alert.condition_type == "LogQueryCriteria"
    assert alert.monitoring_service == "Log Alerts V2"
    assert alert.alert_rule_id is None
    assert "OverallDriftMetrics" in (alert.criteria[0].search_query or "")
    assert alert.criteria[0].metric_name is None
    assert alert.custom_properties == {"team": "mlops"}
    assert alert.fired_at == datetime(2026, 3, 22, 2, 45, 11, 23100, tzinfo=UTC)


def test_a_resolved_notification_is_parsed_with_its_resolution_time() -> None:
    alert = parse_common_alert(dumps(metric_alert(condition="Resolved")))

    assert not alert.fired
    assert alert.resolved_at == datetime(2026, 3, 22, 15, 3, 16, 224631, tzinfo=UTC)


def test_the_documented_sample_is_accepted_with_its_alert_rule_id_spelling() -> None:
    alert = parse_common_alert(DOCUMENTED_SAMPLE.encode())

    assert alert.monitor_condition == "Resolved"
    assert alert.alert_rule_id.endswith("/metricAlerts/WCUS-R2-Gen2")
    assert alert.custom_properties == {"Key1": "Value1", "Key2": "Value2"}


@pytest.mark.parametrize("condition_type", ["MultipleResourceMultipleMetricCriteria", "DynamicThresholdCriteria"])
def test_other_metric_condition_types_are_accepted(condition_type: str) -> None:
    payload = metric_alert()
    payload["data"]["alertContext"]["conditionType"] = condition_type

    assert parse_common_alert(dumps(payload)).kind == "metric"


def test_a_payload_of_exactly_256_kb_is_accepted() -> None:
    payload = metric_alert()
    size = len(dumps(payload))
    payload["data"]["essentials"]["description"] += "x" * (MAX_PAYLOAD_BYTES - size)
    body = dumps(payload)
    assert len(body) == MAX_PAYLOAD_BYTES

    assert parse_common_alert(body).alert_id == alert_id()


# --- invalid payloads ----------------------------------------------------------------------------


def _mutated(mutate: Any, base: dict[str, Any] | None = None) -> bytes:
    payload = copy.deepcopy(base or metric_alert())
    mutate(payload)
    return dumps(payload)


def _essentials(**changes: Any) -> bytes:
    def mutate(p: dict[str, Any]) -> None:
        for key, value in changes.items():
            if value is _DROP:
                del p["data"]["essentials"][key]
            else:
                p["data"]["essentials"][key] = value

    return _mutated(mutate)


_DROP = object()

ACTIVITY_LOG_CONTEXT = {
    "authorization": {"action": "Microsoft.Compute/virtualMachines/restart/action", "scope": "/subscriptions/x"},
    "channels": "Operation",
    "eventSource": "Administrative",
    "level": "Informational",
    "operationName": "Microsoft.Compute/virtualMachines/restart/action",
    "status": "Succeeded",
}

BAD_PAYLOADS: list[tuple[str, bytes, str, str]] = [
    ("empty body", b"", "body", "empty"),
    ("not JSON", b"alert fired!", "body", "not valid JSON"),
    ("truncated JSON", dumps(metric_alert())[:-10], "body", "not valid JSON"),
    ("not UTF-8", b'{"schemaId": "\xff\xfe"}', "body", "not valid JSON"),
    ("deeply nested", b"[" * 100_000 + b"]" * 100_000, "body", "nested deeper than"),
    ("a list", b"[1, 2]", "body", "expected a JSON object, got a list"),
    ("a string", b'"azureMonitorCommonAlertSchema"', "body", "expected a JSON object"),
    ("no schemaId", _mutated(lambda p: p.pop("schemaId")), "schemaId", "azureMonitorCommonAlertSchema"),
    (
        "another schema",
        _mutated(lambda p: p.update(schemaId="Microsoft.Insights/activityLogs")),
        "schemaId",
        "Microsoft.Insights/activityLogs",
    ),
    ("no data", _mutated(lambda p: p.pop("data")), "data", "missing"),
    ("data not an object", _mutated(lambda p: p.update(data=[1])), "data", "expected an object, got a list"),
    ("no essentials", _mutated(lambda p: p["data"].pop("essentials")), "data.essentials", "missing"),
    ("no alertId", _essentials(alertId=_DROP), "data.essentials.alertId", "missing"),
    ("empty alertId", _essentials(alertId="  "), "data.essentials.alertId", "empty"),
    ("numeric alertId", _essentials(alertId=42), "data.essentials.alertId", "expected a string, got a number"),
    ("huge alertId", _essentials(alertId="a" * 5000), "data.essentials.alertId", "at most 1024"),
    ("no alertRule", _essentials(alertRule=_DROP), "data.essentials.alertRule", "missing"),
    ("no monitorCondition", _essentials(monitorCondition=_DROP), "data.essentials.monitorCondition", "missing"),
    (
        "unknown monitorCondition",
        _essentials(monitorCondition="Acknowledged"),
        "data.essentials.monitorCondition",
        "expected Fired or Resolved, got 'Acknowledged'",
    ),
    ("lower-case condition", _essentials(monitorCondition="fired"), "data.essentials.monitorCondition", "'fired'"),
    ("unknown severity", _essentials(severity="Critical"), "data.essentials.severity", "Sev0, Sev1"),
    ("no firedDateTime", _essentials(firedDateTime=_DROP), "data.essentials.firedDateTime", "missing"),
    ("bad firedDateTime", _essentials(firedDateTime="yesterday"), "data.essentials.firedDateTime", "ISO-8601"),
    (
        "impossible firedDateTime",
        _essentials(firedDateTime="2026-02-30T10:00:00Z"),
        "data.essentials.firedDateTime",
        "not a valid",
    ),
    ("no alertContext", _mutated(lambda p: p["data"].pop("alertContext")), "data.alertContext", "missing"),
    (
        "activity log alert",
        _mutated(lambda p: p["data"].update(alertContext=ACTIVITY_LOG_CONTEXT)),
        "data.alertContext.conditionType",
        "not a metric or log search",
    ),
    (
        "unknown condition type",
        _mutated(lambda p: p["data"]["alertContext"].update(conditionType="SmartDetection")),
        "data.alertContext.conditionType",
        "unsupported alert type 'SmartDetection'",
    ),
    (
        "no criteria",
        _mutated(lambda p: p["data"]["alertContext"]["condition"].update(allOf=[])),
        "data.alertContext.condition.allOf",
        "non-empty list",
    ),
    (
        "metric criterion without metricName",
        _mutated(lambda p: p["data"]["alertContext"]["condition"]["allOf"][0].pop("metricName")),
        "data.alertContext.condition.allOf[0].metricName",
        "missing",
    ),
    (
        "log criterion without searchQuery",
        _mutated(lambda p: p["data"]["alertContext"]["condition"]["allOf"][0].pop("searchQuery"), log_search_alert()),
        "data.alertContext.condition.allOf[0].searchQuery",
        "missing",
    ),
    (
        "dimension without a name",
        _mutated(lambda p: p["data"]["alertContext"]["condition"]["allOf"][0].update(dimensions=[{"value": "x"}])),
        "data.alertContext.condition.allOf[0].dimensions[0].name",
        "missing",
    ),
    (
        "customProperties a list",
        _mutated(lambda p: p["data"].update(customProperties=["a"])),
        "data.customProperties",
        "expected an object or null",
    ),
]


@pytest.mark.parametrize(("body", "field", "fragment"), [c[1:] for c in BAD_PAYLOADS], ids=[c[0] for c in BAD_PAYLOADS])
def test_an_invalid_payload_names_the_field_and_what_is_wrong(body: bytes, field: str, fragment: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_common_alert(body)

    assert caught.value.field == field
    assert fragment in str(caught.value)
    assert str(caught.value).startswith(f"{field}: ")
    assert not isinstance(caught.value, PayloadTooLargeError)


def test_a_payload_above_256_kb_is_too_large() -> None:
    payload = metric_alert()
    payload["data"]["essentials"]["description"] = "x" * MAX_PAYLOAD_BYTES

    with pytest.raises(PayloadTooLargeError, match="at most 262144"):
        parse_common_alert(dumps(payload))


def test_identity_of_a_rejected_payload_is_peeked_without_raising() -> None:
    assert peek_alert_identity(_essentials(monitorCondition="Acknowledged")) == (
        alert_id(),
        "credit-default-drift-share",
    )
    assert peek_alert_identity(b"\xff not json") == (None, None)
    assert peek_alert_identity(b'{"data": {"essentials": {"alertId": 3}}}') == (None, None)


# --- property-based: whatever the body, a payload error or a valid alert, nothing else ------------

_DELETE = object()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out += _paths(child, (*prefix, index))
    return out


@st.composite
def mutated_alerts(draw: st.DrawFn) -> bytes:
    """A realistic payload with one to three fields deleted or replaced by arbitrary JSON."""
    payload = draw(
        st.sampled_from([metric_alert(), log_search_alert(), metric_alert(condition="Resolved"), log_search_alert()])
    )
    payload = copy.deepcopy(payload)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(payload)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = payload
        for step in path[:-1]:
            parent = parent[step]
        replacement = draw(st.just(_DELETE) | json_values | st.sampled_from(["Fired", "Resolved", "", "Sev1"]))
        if replacement is _DELETE:
            if isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent.pop(path[-1])
        else:
            parent[path[-1]] = replacement
    return dumps(payload)


alert_bodies = st.one_of(
    mutated_alerts(),
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=300, deadline=None)
@given(body=alert_bodies)
def test_any_body_is_either_a_valid_alert_or_a_payload_error(body: bytes) -> None:
    try:
        alert = parse_common_alert(body)
    except PayloadError as exc:
        assert str(exc)
        return
    assert alert.alert_id.strip() and alert.monitor_condition in ("Fired", "Resolved")
    assert alert.fired_at.tzinfo is not None
