"""The alert rules (data drift, model performance): their parameters, KQL and evaluation over the job traces, and
the registry of every rule the deployment creates (:data:`ALERT_RULES`). Standard library only.

One definition for the Azure Monitor log search alert that the deployment creates (``infra/``, from
:data:`ALERT_RULES`; docs/contracts.md shows the equivalent ``az`` command) and for the local-mode evaluator
(which reads the local telemetry file written by the drift component), so both fire on the same condition:

    the latest ``OverallDriftMetrics`` trace of a model version within the last :attr:`window` has
    ``share_drifted_features >= threshold``

evaluated every :attr:`frequency`. In Azure: a *stateful* log search alert (``autoMitigate``) on the App
Insights resource, with the query of :meth:`DriftAlertRule.kql`, "number of results > 0"; stateful means
it fires once (``monitorCondition: Fired``) and resolves when the condition clears, so one drift episode is
one alert (the retraining webhook also de-duplicates on the alert id).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from .drift_telemetry import METRIC_SHARE, OVERALL, DriftMessage, OverallDrift, drift_messages
from .performance_telemetry import METRIC_ROC_AUC, PERFORMANCE, ModelPerformance, performance_messages

RULE_NAME: Final = "data-drift"
PERFORMANCE_RULE_NAME: Final = "model-performance"


@dataclass(frozen=True)
class DriftAlertRule:
    name: str = RULE_NAME
    threshold: float = 0.5  # share of drifted features; keep equal to DRIFT_SHARE
    window: timedelta = timedelta(days=1)  # look-back of each evaluation (≥ the drift schedule's period)
    frequency: timedelta = timedelta(hours=1)  # how often Azure Monitor evaluates the rule
    severity: int = 2  # Warning
    description: str = "Share of drifted features at or above the threshold in the latest drift run"

    def kql(self, model_name: str | None = None) -> str:
        """The log search query: one row per model version whose latest run breaches the threshold."""
        model_filter = f'\n| where model_name == "{model_name}"' if model_name else ""
        return (
            "traces\n"
            f'| where message has "{OVERALL}"\n'
            "| extend m = parse_json(message)\n"
            f'| where tostring(m.type) == "{OVERALL}"\n'
            "| extend model_name = tostring(m.model_name), model_version = tostring(m.model_version),\n"
            "         share_drifted_features = todouble(m.data.share_drifted_features)"
            f"{model_filter}\n"
            "| summarize arg_max(timestamp, share_drifted_features) by model_name, model_version\n"
            f"| where share_drifted_features >= {self.threshold:g}"
        )

    def metric_kql(self, model_name: str | None = None) -> str:
        """The same condition on the custom metric (an alternative for a log search alert on customMetrics)."""
        model_filter = f'\n| where tostring(customDimensions.model_name) == "{model_name}"' if model_name else ""
        return (
            "customMetrics\n"
            f'| where name == "{METRIC_SHARE}"'
            f"{model_filter}\n"
            "| extend model_name = tostring(customDimensions.model_name),"
            " model_version = tostring(customDimensions.model_version)\n"
            "| summarize arg_max(timestamp, valueMax) by model_name, model_version\n"
            f"| where valueMax >= {self.threshold:g}"
        )

    def breaches(self, overall: OverallDrift) -> bool:
        return overall.share_drifted_features >= self.threshold

    def evaluate(self, messages: Iterable[tuple[datetime, DriftMessage]], now: datetime) -> list[Breach]:
        """What the rule returns at ``now``: the model versions whose latest run in the window breaches.

        ``messages``: ``(timestamp, message)`` pairs (e.g. from ``drift_telemetry.drift_messages``, with the
        timestamps parsed); non-Overall messages are ignored. Same semantics as :meth:`kql`.
        """
        start = now - self.window
        latest: dict[tuple[str, str], tuple[datetime, OverallDrift]] = {}
        for timestamp, message in messages:
            if message.type != OVERALL or not isinstance(message.data, OverallDrift):
                continue
            ts = timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)
            if not (start <= ts <= now):
                continue
            key = (message.model_name, message.model_version)
            if key not in latest or ts >= latest[key][0]:
                latest[key] = (ts, message.data)
        return [
            Breach(model_name=k[0], model_version=k[1], timestamp=ts, share_drifted_features=o.share_drifted_features)
            for k, (ts, o) in sorted(latest.items())
            if self.breaches(o)
        ]

    def evaluate_records(self, records: Iterable[Mapping[str, Any]], now: datetime) -> list[Breach]:
        """:meth:`evaluate` over local telemetry records (``drift_telemetry.read_local``)."""
        return self.evaluate([(parse_timestamp(ts), m) for ts, m in drift_messages(records)], now)


@dataclass(frozen=True)
class Breach:
    model_name: str
    model_version: str
    timestamp: datetime
    share_drifted_features: float

    def properties(self) -> dict[str, str]:
        """What the notification's ``customProperties`` carry."""
        return {"share_drifted_features": f"{self.share_drifted_features:.6f}"}


@dataclass(frozen=True)
class PerformanceAlertRule:
    """The performance-drop rule: the latest ``ModelPerformanceMetrics`` trace of a model version within
    :attr:`window` has ``roc_auc < floor``, or ``roc_auc < training_roc_auc - margin`` (the model's own test AUC,
    when the trace carries it). Stateful like :class:`DriftAlertRule` (one episode, one alert); its action group
    calls the same retraining webhook, and the retraining decision records the rule's name (``alertRule``)."""

    name: str = PERFORMANCE_RULE_NAME
    floor: float = 0.65  # keep equal to PERFORMANCE_AUC_FLOOR
    margin: float = 0.05  # keep equal to PERFORMANCE_AUC_MARGIN
    window: timedelta = timedelta(days=2)  # ≥ the performance schedule's period
    frequency: timedelta = timedelta(hours=1)
    severity: int = 1  # Error: the model is measurably worse, not only looking at other data
    description: str = "ROC AUC against ground truth below the floor, or below the training AUC by the margin"

    def kql(self, model_name: str | None = None) -> str:
        """One row per model version whose latest performance run breaches."""
        model_filter = f'\n| where model_name == "{model_name}"' if model_name else ""
        return (
            "traces\n"
            f'| where message has "{PERFORMANCE}"\n'
            "| extend m = parse_json(message)\n"
            f'| where tostring(m.type) == "{PERFORMANCE}"\n'
            "| extend model_name = tostring(m.model_name), model_version = tostring(m.model_version),\n"
            "         roc_auc = todouble(m.data.roc_auc), training_roc_auc = todouble(m.data.training_roc_auc)"
            f"{model_filter}\n"
            "| summarize arg_max(timestamp, roc_auc, training_roc_auc) by model_name, model_version\n"
            f"| where roc_auc < {self.floor:g} or (isnotnull(training_roc_auc) and "
            f"roc_auc < training_roc_auc - {self.margin:g})"
        )

    def metric_kql(self, model_name: str | None = None) -> str:
        """The floor alone on the custom metric (the training AUC is only in the trace)."""
        model_filter = f'\n| where tostring(customDimensions.model_name) == "{model_name}"' if model_name else ""
        return (
            "customMetrics\n"
            f'| where name == "{METRIC_ROC_AUC}"'
            f"{model_filter}\n"
            "| extend model_name = tostring(customDimensions.model_name),"
            " model_version = tostring(customDimensions.model_version)\n"
            "| summarize arg_max(timestamp, valueMax) by model_name, model_version\n"
            f"| where valueMax < {self.floor:g}"
        )

    def breaches(self, performance: ModelPerformance) -> bool:
        auc = performance.roc_auc
        if math.isnan(auc):  # not computable, nothing to compare
            return False
        if auc < self.floor:
            return True
        reference = performance.training_roc_auc
        return reference is not None and auc < reference - self.margin

    def evaluate_records(self, records: Iterable[Mapping[str, Any]], now: datetime) -> list[PerformanceBreach]:
        """What the rule returns at ``now`` over local telemetry records; same semantics as :meth:`kql`."""
        start = now - self.window
        latest: dict[tuple[str, str], tuple[datetime, ModelPerformance]] = {}
        for text, message in performance_messages(records):
            ts = parse_timestamp(text)
            if not (start <= ts <= now):
                continue
            key = (message.model_name, message.model_version)
            if key not in latest or ts >= latest[key][0]:
                latest[key] = (ts, message.data)
        return [
            PerformanceBreach(k[0], k[1], ts, p.roc_auc, p.training_roc_auc)
            for k, (ts, p) in sorted(latest.items())
            if self.breaches(p)
        ]


@dataclass(frozen=True)
class PerformanceBreach:
    model_name: str
    model_version: str
    timestamp: datetime
    roc_auc: float
    training_roc_auc: float | None

    def properties(self) -> dict[str, str]:
        out = {"roc_auc": f"{self.roc_auc:.6f}"}
        if self.training_roc_auc is not None:
            out["training_roc_auc"] = f"{self.training_roc_auc:.6f}"
        return out


def parse_timestamp(text: str) -> datetime:
    """An App Insights / local-file timestamp (``...Z`` or with an offset) as an aware datetime."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


DEFAULT_RULE: Final = DriftAlertRule()
DEFAULT_PERFORMANCE_RULE: Final = PerformanceAlertRule()


def rule_for(drift_share: float | None) -> DriftAlertRule:
    """The rule with its threshold at ``drift_share`` (the DRIFT_SHARE setting) when given."""
    return DEFAULT_RULE if drift_share is None else DriftAlertRule(threshold=float(drift_share))


class LogAlertRule(Protocol):
    """What a log search alert rule declares, whatever it watches: the deployment (``infra/``) builds a
    scheduled query rule from each one in :data:`ALERT_RULES` ("number of results > 0")."""

    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def severity(self) -> int: ...
    @property
    def window(self) -> timedelta: ...
    @property
    def frequency(self) -> timedelta: ...
    def kql(self, model_name: str | None = None) -> str: ...


@dataclass(frozen=True)
class DeclaredAlertRule:
    """An alert rule the deployment creates, and whether its alerts may start a retraining (its name goes
    into RETRAIN_ALERT_RULES and its action group calls ``retrain_on_alert``)."""

    rule: LogAlertRule
    retrains: bool


# Every alert rule the deployment creates: add a rule here and `python -m infra.alert_rules_json` writes it
# into the file the Bicep loads.
ALERT_RULES: Final[tuple[DeclaredAlertRule, ...]] = (
    DeclaredAlertRule(DEFAULT_RULE, retrains=True),
    DeclaredAlertRule(DEFAULT_PERFORMANCE_RULE, retrains=True),
)


def performance_rule_for(floor: float | None = None, margin: float | None = None) -> PerformanceAlertRule:
    """The performance rule with the PERFORMANCE_AUC_FLOOR / PERFORMANCE_AUC_MARGIN settings when given."""
    rule = DEFAULT_PERFORMANCE_RULE
    return PerformanceAlertRule(
        floor=rule.floor if floor is None else float(floor), margin=rule.margin if margin is None else float(margin)
    )


__all__: Sequence[str] = (
    "ALERT_RULES",
    "DEFAULT_PERFORMANCE_RULE",
    "DEFAULT_RULE",
    "PERFORMANCE_RULE_NAME",
    "Breach",
    "DeclaredAlertRule",
    "DriftAlertRule",
    "LogAlertRule",
    "PerformanceAlertRule",
    "PerformanceBreach",
    "parse_timestamp",
    "performance_rule_for",
    "rule_for",
)
