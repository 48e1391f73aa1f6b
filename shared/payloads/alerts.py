"""Azure Monitor alert notifications in the common alert schema, as an action group's webhook sends them.

``{"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {…}, "alertContext": {…},
"customProperties": {…}}}``. Accepted alert types (``data.alertContext.conditionType``):

- metric alerts: ``SingleResourceMultipleMetricCriteria``, ``MultipleResourceMultipleMetricCriteria``
  (static thresholds), ``DynamicThresholdCriteria`` and ``WebtestLocationAvailabilityCriteria``; each
  ``condition.allOf`` item names a ``metricName``;
- log search alerts (``monitoringService`` ``Log Alerts V2``, scheduled query rules from API 2021-08-01):
  ``LogQueryCriteria``; each ``condition.allOf`` item holds the ``searchQuery``.

Anything else (not JSON or JSON that :mod:`shared.payloads.json_values` refuses, another schema, activity-log
or legacy log alerts, a missing ``alertId``, a ``monitorCondition`` other than ``Fired``/``Resolved``, a time
that UTC cannot represent, …) raises :class:`shared.payloads.PayloadError`
whose ``field`` is the dotted path of what is wrong. Bodies above 256 KB (the service's own limit for
common-schema alerts) raise :class:`PayloadTooLargeError`.

Plain Python: no Azure SDK import.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from shared.payloads import PayloadError
from shared.payloads.json_values import load_json, to_utc

SCHEMA_ID = "azureMonitorCommonAlertSchema"
MAX_PAYLOAD_BYTES = 256 * 1024

METRIC_CONDITION_TYPES = (
    "SingleResourceMultipleMetricCriteria",
    "MultipleResourceMultipleMetricCriteria",
    "DynamicThresholdCriteria",
    "WebtestLocationAvailabilityCriteria",
)
LOG_CONDITION_TYPES = ("LogQueryCriteria",)
MONITOR_CONDITIONS = ("Fired", "Resolved")
SEVERITIES = ("Sev0", "Sev1", "Sev2", "Sev3", "Sev4")

_MAX_ID_CHARS = 1024  # alert ids and rule ids are ARM ids (~150 chars); anything this long is not one
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


class PayloadTooLargeError(PayloadError):
    """The body exceeds :data:`MAX_PAYLOAD_BYTES` (HTTP 413)."""


@dataclass(frozen=True)
class AlertCriterion:
    """One item of ``alertContext.condition.allOf``: a metric criterion or a log query criterion."""

    metric_name: str | None = None
    metric_namespace: str | None = None
    search_query: str | None = None
    operator: str | None = None
    threshold: str | None = None
    time_aggregation: str | None = None
    metric_value: float | None = None
    dimensions: tuple[tuple[str, str], ...] = ()

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "metric_name": self.metric_name,
            "search_query": self.search_query[:500] if self.search_query else None,
            "operator": self.operator,
            "threshold": self.threshold,
            "metric_value": self.metric_value,
            "dimensions": dict(self.dimensions),
        }
        return {k: v for k, v in out.items() if v not in (None, {})}


@dataclass(frozen=True)
class CommonAlert:
    """A validated alert notification (metric or log search alert)."""

    alert_id: str
    alert_rule: str
    severity: str
    monitor_condition: Literal["Fired", "Resolved"]
    fired_at: datetime
    condition_type: str
    kind: Literal["metric", "log"]
    criteria: tuple[AlertCriterion, ...]
    alert_rule_id: str | None = None
    signal_type: str | None = None
    monitoring_service: str | None = None
    resolved_at: datetime | None = None
    description: str | None = None
    target_ids: tuple[str, ...] = ()
    window_start: datetime | None = None
    window_end: datetime | None = None
    custom_properties: Mapping[str, str] = field(default_factory=dict)

    @property
    def fired(self) -> bool:
        return self.monitor_condition == "Fired"

    def summary(self) -> dict[str, Any]:
        """What a decision record keeps of the alert (JSON-ready)."""
        return {
            "alert_id": self.alert_id,
            "alert_rule": self.alert_rule,
            "alert_rule_id": self.alert_rule_id,
            "severity": self.severity,
            "monitor_condition": self.monitor_condition,
            "fired_at": self.fired_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "signal_type": self.signal_type,
            "monitoring_service": self.monitoring_service,
            "condition_type": self.condition_type,
            "criteria": [c.summary() for c in self.criteria],
        }


def parse_common_alert(body: bytes) -> CommonAlert:
    """Validate an action group webhook body. Raises PayloadTooLargeError or PayloadError."""
    if len(body) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLargeError(
            None, f"the body has {len(body)} bytes; common alert schema payloads are at most {MAX_PAYLOAD_BYTES}"
        )
    doc = _load_json(body)
    schema_id = doc.get("schemaId")
    if schema_id != SCHEMA_ID:
        got = "missing" if schema_id is None else f"got {_show(schema_id)}"
        raise PayloadError(
            "schemaId",
            f"expected {SCHEMA_ID!r} ({got}); enable the common alert schema on the action group's webhook action",
        )
    data = _object(doc.get("data"), "data")
    essentials = _object(data.get("essentials"), "data.essentials")
    context = _object(data.get("alertContext"), "data.alertContext")

    e = "data.essentials"
    alert_id = _required_text(essentials.get("alertId"), f"{e}.alertId")
    alert_rule = _required_text(essentials.get("alertRule"), f"{e}.alertRule")
    severity = _required_text(essentials.get("severity"), f"{e}.severity")
    if severity not in SEVERITIES:
        raise PayloadError(f"{e}.severity", f"expected one of {', '.join(SEVERITIES)}, got {_show(severity)}")
    condition = _required_text(essentials.get("monitorCondition"), f"{e}.monitorCondition")
    if condition not in MONITOR_CONDITIONS:
        raise PayloadError(f"{e}.monitorCondition", f"expected Fired or Resolved, got {_show(condition)}")
    fired_at = _required_datetime(essentials.get("firedDateTime"), f"{e}.firedDateTime")
    rule_id_key = "alertRuleID" if "alertRuleID" in essentials else "alertRuleId"

    condition_type, kind, criteria, window_start, window_end = _alert_context(context)
    return CommonAlert(
        alert_id=alert_id,
        alert_rule=alert_rule,
        severity=severity,
        monitor_condition=condition,  # type: ignore[arg-type]
        fired_at=fired_at,
        condition_type=condition_type,
        kind=kind,
        criteria=criteria,
        alert_rule_id=_optional_text(essentials.get(rule_id_key), f"{e}.{rule_id_key}", limit=_MAX_ID_CHARS),
        signal_type=_optional_text(essentials.get("signalType"), f"{e}.signalType"),
        monitoring_service=_optional_text(essentials.get("monitoringService"), f"{e}.monitoringService"),
        resolved_at=_datetime(essentials.get("resolvedDateTime"), f"{e}.resolvedDateTime", required=False),
        description=_optional_text(essentials.get("description"), f"{e}.description", limit=None),
        target_ids=_text_list(essentials.get("alertTargetIDs"), f"{e}.alertTargetIDs"),
        window_start=window_start,
        window_end=window_end,
        custom_properties=_custom_properties(data.get("customProperties")),
    )


def peek_alert_identity(body: bytes) -> tuple[str | None, str | None]:
    """Best-effort ``(alertId, alertRule)`` of a body that failed validation, for logs. Never raises."""
    try:
        if len(body) > MAX_PAYLOAD_BYTES:
            return None, None
        essentials = json.loads(body)["data"]["essentials"]
        alert_id, rule = essentials.get("alertId"), essentials.get("alertRule")
        return (
            alert_id[:_MAX_ID_CHARS] if isinstance(alert_id, str) else None,
            rule[:_MAX_ID_CHARS] if isinstance(rule, str) else None,
        )
    except Exception:  # noqa: BLE001 - anything malformed simply has no identity
        return None, None


# --- alert context -------------------------------------------------------------------------------


def _alert_context(
    context: Mapping[str, Any],
) -> tuple[str, Literal["metric", "log"], tuple[AlertCriterion, ...], datetime | None, datetime | None]:
    a = "data.alertContext"
    supported = (
        f"metric alerts ({', '.join(METRIC_CONDITION_TYPES)}) and log search alerts ({', '.join(LOG_CONDITION_TYPES)})"
    )
    condition_type = context.get("conditionType")
    if condition_type is None:
        raise PayloadError(
            f"{a}.conditionType",
            f"missing: this is not a metric or log search (Log Alerts V2) alert; this endpoint accepts {supported}",
        )
    if not isinstance(condition_type, str):
        raise PayloadError(f"{a}.conditionType", f"expected a string, got {_json_type(condition_type)}")
    kind: Literal["metric", "log"]
    if condition_type in METRIC_CONDITION_TYPES:
        kind = "metric"
    elif condition_type in LOG_CONDITION_TYPES:
        kind = "log"
    else:
        raise PayloadError(
            f"{a}.conditionType", f"unsupported alert type {_show(condition_type)}; accepted: {supported}"
        )

    condition = _object(context.get("condition"), f"{a}.condition")
    all_of = condition.get("allOf")
    if not isinstance(all_of, list) or not all_of:
        raise PayloadError(f"{a}.condition.allOf", "expected a non-empty list of criteria")
    criteria = tuple(_criterion(item, f"{a}.condition.allOf[{i}]", kind) for i, item in enumerate(all_of))
    window_start = _datetime(condition.get("windowStartTime"), f"{a}.condition.windowStartTime", required=False)
    window_end = _datetime(condition.get("windowEndTime"), f"{a}.condition.windowEndTime", required=False)
    return condition_type, kind, criteria, window_start, window_end


def _criterion(item: Any, path: str, kind: str) -> AlertCriterion:
    obj = _object(item, path)
    if kind == "metric":
        metric_name: str | None = _required_text(obj.get("metricName"), f"{path}.metricName")
        search_query = None
    else:
        metric_name = None
        search_query = _required_text(obj.get("searchQuery"), f"{path}.searchQuery", limit=None)
    return AlertCriterion(
        metric_name=metric_name,
        metric_namespace=_optional_text(obj.get("metricNamespace"), f"{path}.metricNamespace"),
        search_query=search_query,
        operator=_optional_text(obj.get("operator"), f"{path}.operator"),
        threshold=_scalar_text(obj.get("threshold"), f"{path}.threshold"),
        time_aggregation=_optional_text(obj.get("timeAggregation"), f"{path}.timeAggregation"),
        metric_value=_number(obj.get("metricValue"), f"{path}.metricValue"),
        dimensions=_dimensions(obj.get("dimensions"), f"{path}.dimensions"),
    )


def _dimensions(value: Any, path: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise PayloadError(path, f"expected a list of {{name, value}} objects, got {_json_type(value)}")
    out = []
    for i, item in enumerate(value):
        obj = _object(item, f"{path}[{i}]")
        name = _required_text(obj.get("name"), f"{path}[{i}].name")
        out.append((name, _scalar_text(obj.get("value"), f"{path}[{i}].value") or ""))
    return tuple(out)


def _custom_properties(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError("data.customProperties", f"expected an object or null, got {_json_type(value)}")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


# --- primitives ----------------------------------------------------------------------------------


def _load_json(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise PayloadError("body", "empty; expected a JSON object in the common alert schema")
    doc = load_json(body)
    if not isinstance(doc, dict):
        raise PayloadError("body", f"expected a JSON object, got {_json_type(doc)}")
    return doc


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _object(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        raise PayloadError(path, "missing; expected an object")
    if not isinstance(value, dict):
        raise PayloadError(path, f"expected an object, got {_json_type(value)}")
    return value


def _required_text(value: Any, path: str, *, limit: int | None = _MAX_ID_CHARS) -> str:
    if value is None:
        raise PayloadError(path, "missing")
    if not isinstance(value, str):
        raise PayloadError(path, f"expected a string, got {_json_type(value)}")
    if not value.strip():
        raise PayloadError(path, "empty")
    if limit is not None and len(value) > limit:
        raise PayloadError(path, f"{len(value)} characters; at most {limit} expected")
    return value


def _optional_text(value: Any, path: str, *, limit: int | None = _MAX_ID_CHARS) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(path, f"expected a string or null, got {_json_type(value)}")
    if limit is not None and len(value) > limit:
        raise PayloadError(path, f"{len(value)} characters; at most {limit} expected")
    return value


def _scalar_text(value: Any, path: str) -> str | None:
    """A value the service sends as a string or a number (``"threshold": "25"`` or ``10000.0``)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PayloadError(path, f"expected a string or a number, got {_json_type(value)}")
    return str(value)


def _number(value: Any, path: str) -> float | None:
    """A metric value: informational, so one out of any float's range is kept as unknown (None)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(path, f"expected a number or null, got {_json_type(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float: as out of range as 1e400, which parses to inf
        return None
    return number if math.isfinite(number) else None


def _text_list(value: Any, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PayloadError(path, "expected a list of strings")
    return tuple(value)


_EXAMPLE_TIME = "an ISO-8601 UTC time such as 2026-03-22T13:58:24.3713213Z"


def _required_datetime(value: Any, path: str) -> datetime:
    parsed = _datetime(value, path, required=True)
    if parsed is None:  # pragma: no cover - _datetime raises for a missing required value
        raise PayloadError(path, f"missing; expected {_EXAMPLE_TIME}")
    return parsed


def _datetime(value: Any, path: str, *, required: bool) -> datetime | None:
    if value is None:
        if required:
            raise PayloadError(path, f"missing; expected {_EXAMPLE_TIME}")
        return None
    if not isinstance(value, str) or not _ISO_DATETIME.match(value):
        raise PayloadError(path, f"expected {_EXAMPLE_TIME}, got {_show(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError(path, f"not a valid ISO-8601 time: {_show(value)}") from None
    return to_utc(parsed, path)


def _show(value: Any, limit: int = 80) -> str:
    """``repr`` of a value for an error message, cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
