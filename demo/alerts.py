"""Local Azure Monitor: an alert rule (data drift or model performance) evaluated over the local telemetry file,
notifications posted to ``retrain_on_alert`` as an action group would post them.

The rules are the ones operators create in Azure (docs/contracts.md; ``ml_assets/src/contracts/alert_rules.py``:
the latest ``OverallDriftMetrics`` trace of a model version within the rule's window has
``share_drifted_features >= threshold``; the latest ``ModelPerformanceMetrics`` trace has ROC AUC below the floor
or below the training AUC by the margin), evaluated by the same code (``evaluate_records``) over the JSON Lines
file the monitoring components write in local mode (``drift_telemetry.local_telemetry_path``).

Like a *stateful* log search alert (``autoMitigate``), a breach fires once: the first evaluation that finds a
breach for a model version creates an alert (a new ``alertId``) and sends ``monitorCondition: Fired``; later
evaluations that still find it send nothing; once the condition clears, ``Resolved`` is sent with the same
id. The alert state lives in ``<LOCAL_STATE_DIR>/alerts/<rule>.json``.

Notifications use the common alert schema of a Log Alerts V2 rule (``LogQueryCriteria`` with the rule's KQL).
Delivery follows the action group's webhook rules: 408/429/503/504 (and a connection failure) are retried,
anything else is final; what each attempt got is kept in the result.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from ml_assets.src.contracts.alert_rules import Breach, PerformanceBreach, parse_timestamp
from ml_assets.src.contracts.drift_telemetry import read_local
from ml_assets.src.stores.atomic_files import utc_stamp, write_json_atomic

LOCAL_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
LOCAL_APP_INSIGHTS = (
    f"/subscriptions/{LOCAL_SUBSCRIPTION}/resourceGroups/local/providers/microsoft.insights/components/local"
)
RETRIED_STATUSES = frozenset({408, 429, 503, 504})


class AlertRule(Protocol):
    """What the evaluator needs of a rule (``DriftAlertRule``, ``PerformanceAlertRule``)."""

    name: str
    window: timedelta
    severity: int
    description: str

    def kql(self, model_name: str | None = None) -> str: ...

    def evaluate_records(self, records: Any, now: datetime) -> list[Any]: ...


def common_alert_payload(
    rule: AlertRule,
    *,
    alert_guid: str,
    condition: str,
    breach: Breach | PerformanceBreach,
    fired_at: datetime,
    resolved_at: datetime | None = None,
    window_start: datetime,
    window_end: datetime,
) -> dict[str, Any]:
    """A Log Alerts V2 notification in the common alert schema for ``breach`` of ``rule``."""
    rule_id = (
        f"/subscriptions/{LOCAL_SUBSCRIPTION}/resourceGroups/local/providers/microsoft.insights/"
        f"scheduledqueryrules/{rule.name}"
    )
    essentials: dict[str, Any] = {
        "alertId": f"/subscriptions/{LOCAL_SUBSCRIPTION}/providers/Microsoft.AlertsManagement/alerts/{alert_guid}",
        "alertRule": rule.name,
        "alertRuleID": rule_id,
        "severity": f"Sev{rule.severity}",
        "signalType": "Log",
        "monitorCondition": condition,
        "monitoringService": "Log Alerts V2",
        "alertTargetIDs": [LOCAL_APP_INSIGHTS],
        "configurationItems": [LOCAL_APP_INSIGHTS],
        "originAlertId": alert_guid,
        "firedDateTime": utc_stamp(fired_at),
        "description": rule.description,
        "essentialsVersion": "1.0",
        "alertContextVersion": "1.0",
    }
    if resolved_at is not None:
        essentials["resolvedDateTime"] = utc_stamp(resolved_at)
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": essentials,
            "alertContext": {
                "properties": {"model_name": breach.model_name, "model_version": breach.model_version},
                "conditionType": "LogQueryCriteria",
                "condition": {
                    "windowSize": _duration(rule.window.total_seconds()),
                    "allOf": [
                        {
                            "searchQuery": rule.kql(breach.model_name),
                            "metricMeasureColumn": None,
                            "targetResourceTypes": "['microsoft.insights/components']",
                            "operator": "GreaterThan",
                            "threshold": "0",
                            "timeAggregation": "Count",
                            "dimensions": [
                                {"name": "model_name", "value": breach.model_name},
                                {"name": "model_version", "value": breach.model_version},
                            ],
                            "metricValue": 1.0,
                            "failingPeriods": {"numberOfEvaluationPeriods": 1, "minFailingPeriodsToAlert": 1},
                        }
                    ],
                    "windowStartTime": utc_stamp(window_start),
                    "windowEndTime": utc_stamp(window_end),
                },
            },
            "customProperties": breach.properties(),
        },
    }


def _duration(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{secs}S" if secs else "")


@dataclass(frozen=True)
class Notification:
    """One notification sent (or attempted): the alert, and every delivery attempt's status."""

    alert_id: str
    condition: str  # Fired or Resolved
    model_name: str
    model_version: str
    figures: Mapping[str, str]  # the breach's figures (the notification's customProperties)
    statuses: tuple[int, ...]
    response: Mapping[str, Any] = field(default_factory=dict)
    payload: Mapping[str, Any] = field(default_factory=dict)  # what was posted (the common alert schema)

    @property
    def share_drifted_features(self) -> float:
        return float(self.figures.get("share_drifted_features", "nan"))

    @property
    def accepted(self) -> bool:
        """The webhook's final answer was a 2xx (a 4xx/5xx other than the retried ones is final too)."""
        return bool(self.statuses) and 200 <= self.statuses[-1] < 300


Poster = Callable[[bytes], tuple[int, bytes]]  # body → (HTTP status, response body); 0 = connection failure


class LocalAlertEvaluator:
    """Evaluates ``rule`` over the local telemetry file and posts notifications with ``post``."""

    def __init__(
        self,
        state_dir: str | Path,
        rule: AlertRule,
        post: Poster,
        *,
        telemetry_file: Path | None = None,
        max_attempts: int = 3,
        retry_delay: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rule = rule
        self.post = post
        self.state_path = Path(state_dir) / "alerts" / f"{rule.name}.json"
        self.telemetry_file = telemetry_file or Path(state_dir) / "telemetry" / "drift.jsonl"
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.sleep = sleep

    def breaches(self, now: datetime) -> list[Breach | PerformanceBreach]:
        return self.rule.evaluate_records(read_local(self.telemetry_file), now)

    def evaluate(self, now: datetime | None = None) -> list[Notification]:
        """One evaluation at ``now``: Fired for new breaches, Resolved for cleared ones."""
        now = now or datetime.now(UTC)
        state = self._load()
        active: dict[str, Any] = state.setdefault("active", {})
        current = {f"{b.model_name}:{b.model_version}": b for b in self.breaches(now)}
        sent = []
        for key, breach in current.items():
            if key in active:
                continue
            guid = str(uuid.uuid4())
            payload = common_alert_payload(
                self.rule,
                alert_guid=guid,
                condition="Fired",
                breach=breach,
                fired_at=now,
                window_start=now - self.rule.window,
                window_end=now,
            )
            active[key] = {"alert_guid": guid, "fired_at": utc_stamp(now), "breach": _breach_json(breach)}
            sent.append(self._send(payload, breach, "Fired"))
        for key in [k for k in active if k not in current]:
            entry = active.pop(key)
            breach = _breach_from_json(entry["breach"])
            payload = common_alert_payload(
                self.rule,
                alert_guid=entry["alert_guid"],
                condition="Resolved",
                breach=breach,
                fired_at=parse_timestamp(entry["fired_at"]),
                resolved_at=now,
                window_start=now - self.rule.window,
                window_end=now,
            )
            sent.append(self._send(payload, breach, "Resolved"))
        state["evaluated_at"] = utc_stamp(now)
        state.setdefault("history", []).extend(
            {"at": utc_stamp(now), "alert_id": n.alert_id, "condition": n.condition, "statuses": list(n.statuses)}
            for n in sent
        )
        self._save(state)
        return sent

    def _send(self, payload: Mapping[str, Any], breach: Breach | PerformanceBreach, condition: str) -> Notification:
        body = json.dumps(payload).encode()
        statuses: list[int] = []
        response: Mapping[str, Any] = {}
        for attempt in range(self.max_attempts):
            status, raw = self.post(body)
            statuses.append(status)
            try:
                response = json.loads(raw) if raw else {}
            except ValueError:
                response = {"body": raw.decode(errors="replace")[:500]}
            if status not in RETRIED_STATUSES and status != 0:
                break
            if attempt + 1 < self.max_attempts:
                self.sleep(self.retry_delay * 2**attempt)
        return Notification(
            alert_id=str(payload["data"]["essentials"]["alertId"]),
            condition=condition,
            model_name=breach.model_name,
            model_version=breach.model_version,
            figures=breach.properties(),
            statuses=tuple(statuses),
            response=response,
            payload=payload,
        )

    def _load(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return doc if isinstance(doc, dict) else {}

    def _save(self, state: Mapping[str, Any]) -> None:
        write_json_atomic(self.state_path, state, fsync=False)


def _breach_json(breach: Breach | PerformanceBreach) -> dict[str, Any]:
    figures = (
        {"share_drifted_features": breach.share_drifted_features}
        if isinstance(breach, Breach)
        else {"roc_auc": breach.roc_auc, "training_roc_auc": breach.training_roc_auc}
    )
    return {
        "model_name": breach.model_name,
        "model_version": breach.model_version,
        "timestamp": utc_stamp(breach.timestamp),
        **figures,
    }


def _breach_from_json(doc: Mapping[str, Any]) -> Breach | PerformanceBreach:
    identity = (str(doc["model_name"]), str(doc["model_version"]), parse_timestamp(str(doc["timestamp"])))
    if "roc_auc" in doc:
        training = doc.get("training_roc_auc")
        return PerformanceBreach(*identity, float(doc["roc_auc"]), None if training is None else float(training))
    return Breach(*identity, share_drifted_features=float(doc["share_drifted_features"]))


def handler_poster(handler: Callable[[Any], Any], url: str = "http://localhost/api/alerts/retrain") -> Poster:
    """A :data:`Poster` that calls the ``retrain_on_alert`` user function with a real ``func.HttpRequest``."""
    import azure.functions as func

    def post(body: bytes) -> tuple[int, bytes]:
        request = func.HttpRequest(
            method="POST", url=url, headers={"Content-Type": "application/json"}, body=body, params={}
        )
        response = handler(request)
        return int(response.status_code), response.get_body() or b""

    return post
