"""What the demo's monitoring stages do through the local host, each step checked: run a drift job over a window
and read its result (feature and prediction drift, data quality), fire the drift alert (a warning), write the
traffic's labels as the bank would deliver them, run a performance job over a window and read its figures, fire
the performance alert and redeliver it (one retraining job). A step that does not reach its expected outcome raises
:class:`~demo.stage_checks.DemoError`; what each step established goes into the recorder's facts, for
``run.json``."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from demo.host import LocalHost
from demo.recorder import Recorder
from demo.stage_checks import DemoError, parse_stamp, wait_job


class MonitoringActions:
    """The monitoring stages' steps; each waits ``timeout`` at most."""

    def __init__(self, host: LocalHost, rec: Recorder, *, timeout: float) -> None:
        self.host = host
        self.rec = rec
        self.timeout = timeout

    def submit_drift(self, start: datetime, end: datetime | None, label: str) -> tuple[str, str, datetime]:
        """POST /api/drift/jobs for ``[start, end)`` (whole seconds; ``end`` None: the export watermark)."""
        if end is None:
            end = self.host.export_watermark()
            if end is None:
                raise DemoError("no export watermark: nothing was exported")
        body = {
            "window_start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "window_end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        status, answer = self.host.post_drift_job(body)
        if status != 202 or not answer.get("job_name"):
            raise DemoError(f"drift job for the {label} window not submitted: {status} {answer}")
        return (
            str(answer["job_name"]),
            f"job {answer['job_name']} for [{body['window_start']}, {body['window_end']})",
            end,
        )

    def drift_result(self, job: str, label: str, window: tuple[datetime, datetime]) -> dict[str, Any]:
        info = wait_job(self.host, self.rec, job, self.timeout)
        metrics_dir = next((Path(p) for k, p in info.outputs.items() if k.endswith(".metrics")), None)
        if metrics_dir is None or not (metrics_dir / "metrics.json").is_file():
            raise DemoError(f"drift job {job} has no metrics.json among its outputs {dict(info.outputs)}")
        metrics = json.loads((metrics_dir / "metrics.json").read_text())
        if metrics.get("status") == "skipped":
            raise DemoError(f"drift job {job} skipped: {metrics.get('reason')}")
        ran = [info.started_at, info.ended_at]
        point = {
            "t": self.rec.now(),
            "window": [self.rec.since_start(window[0]), self.rec.since_start(window[1])],
            "job_run": [self.rec.since_start(t) for t in ran] if all(ran) else None,
            "label": label,
            "job": job,
            "share_drifted_features": float(metrics["share_drifted_features"]),
            "drifted_features": list(metrics.get("drifted_features", [])),
            "dataset_drift": bool(metrics.get("dataset_drift")),
            "prediction_drift": metrics.get("prediction_drift"),
            "prediction_note": metrics.get("prediction_note"),
            "data_quality": _quality_headline(metrics.get("data_quality") or {}),
        }
        self.rec.drift.append(point)
        return point

    @staticmethod
    def monitoring_text(point: dict[str, Any]) -> str:
        """Prediction drift and data quality of a drift result, in a few words for the summary."""
        prediction = point.get("prediction_drift")
        if prediction:
            verdict = "drifted" if prediction["drift_detected"] else "not drifted"
            said = f"prediction drift {prediction['drift_score']:.3f} ({verdict})"
        else:
            said = f"prediction drift {point.get('prediction_note') or 'not computed'}"
        quality = point.get("data_quality") or {}
        outside = quality.get("max_outside_range_share")
        unknown = quality.get("max_unknown_category_share")
        return (
            f"{said}; data quality: outside the training range {_percent(outside)}"
            f"{' (' + quality['outside_range_feature'] + ')' if quality.get('outside_range_feature') else ''}, "
            f"unknown categories {_percent(unknown)}, missing {_percent(quality.get('max_missing_share'))}, "
            f"quarantined lines {quality.get('quarantined_lines', 0)}"
        )

    def copy_report(self, job: str, target: Path) -> None:
        info = self.host.jobs.get_job(job)
        report_dir = next((Path(p) for k, p in info.outputs.items() if k.endswith(".report")), None)
        reports = sorted(report_dir.glob("*.html")) if report_dir else []
        if not reports:
            raise DemoError(f"drift job {job} wrote no HTML report")
        shutil.copyfile(reports[0], target)

    def evaluate_alerts(self, fact: str) -> list[Any]:
        """One evaluation of the drift alert rule (local Azure Monitor); its notifications go to ``facts[fact]``."""
        notifications = self.host.evaluate_alerts()
        self._mark_alerts(notifications)
        self.rec.facts[fact] = [
            {
                "alert_id": n.alert_id,
                "condition": n.condition,
                "model": f"{n.model_name}:{n.model_version}",
                "share_drifted_features": n.share_drifted_features,
                "statuses": list(n.statuses),
                "response": dict(n.response),
            }
            for n in notifications
        ]
        return notifications

    def _mark_alerts(self, notifications: list[Any]) -> None:
        """Each notification on the timeline, at the time the alert fired or resolved."""
        threshold = self.host.settings.drift_share
        for n in notifications:
            essentials = (n.payload.get("data") or {}).get("essentials", {})
            if n.condition == "Fired":
                label = f"alert fired: share {n.share_drifted_features:.2f} ≥ {threshold:g}"
                self.rec.mark("alert", label, parse_stamp(essentials.get("firedDateTime")))
            else:
                self.rec.mark("alert", f"alert {n.condition.lower()}", parse_stamp(essentials.get("resolvedDateTime")))

    def drift_alert_warns(self) -> str:
        """The drift alert fires and reaches the webhook, which records it and retrains nothing: drift warns
        (RETRAIN_ALERT_RULES names only the performance rule)."""
        notifications = self.evaluate_alerts("drift_alerts")
        fired = [n for n in notifications if n.condition == "Fired"]
        if len(fired) != 1 or not fired[0].accepted:
            raise DemoError(f"expected one accepted Fired drift alert, got {self.rec.facts['drift_alerts']}")
        answer = fired[0].response
        if answer.get("decision") != "ignored" or answer.get("job_name"):
            raise DemoError(f"the drift alert was expected to warn only, retrain_on_alert answered {answer}")
        return f"drift alert {answer.get('alert_rule')!r} fired; retrain_on_alert: {answer.get('decision')}"

    def write_labels(self, name: str, truth: Mapping[str, int], *, known: datetime, repeat_share: float) -> int:
        """One batch of labels (``labels/<name>.csv`` in the labels container) as the bank would deliver them;
        a share of them repeated in a second file (duplicates: the join must count each record once)."""
        from ml_assets.src.contracts.labels import ID, LABEL, LABEL_TIME

        store = self.host.context.labels_store()
        prefix = self.host.settings.labels_prefix.strip("/")
        stamp = known.strftime("%Y-%m-%dT%H:%M:%SZ")
        items = sorted(truth.items())
        lines = [f"{ID},{LABEL},{LABEL_TIME}", *(f"{key},{label},{stamp}" for key, label in items)]
        store.write(f"{prefix}/{name}.csv", ("\n".join(lines) + "\n").encode(), content_type="text/csv")
        repeated = items[: int(len(items) * repeat_share)]
        if repeated:
            again = [f"{ID},{LABEL},{LABEL_TIME}", *(f"{key},{label},{stamp}" for key, label in repeated)]
            store.write(f"{prefix}/{name}-resent.csv", ("\n".join(again) + "\n").encode(), content_type="text/csv")
        return len(items)

    def submit_performance(self, start: datetime, end: datetime, label: str) -> str:
        """POST /api/performance/jobs for ``[start, end)``; the job's name."""
        body = {"window_start": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "window_end": end.strftime("%Y-%m-%dT%H:%M:%SZ")}
        status, answer = self.host.post_performance_job(body)
        if status != 202 or not answer.get("job_name"):
            raise DemoError(f"performance job for the {label} window not submitted: {status} {answer}")
        return str(answer["job_name"])

    def performance_result(self, job: str, label: str) -> dict[str, Any]:
        info = wait_job(self.host, self.rec, job, self.timeout)
        metrics_dir = next((Path(p) for k, p in info.outputs.items() if k.endswith(".metrics")), None)
        if metrics_dir is None or not (metrics_dir / "metrics.json").is_file():
            raise DemoError(f"performance job {job} has no metrics.json among its outputs {dict(info.outputs)}")
        metrics = json.loads((metrics_dir / "metrics.json").read_text())
        if metrics.get("status") != "completed":
            raise DemoError(f"performance job {job} {metrics.get('status')}: {metrics.get('reason') or metrics}")
        figures = dict(metrics["performance"])
        self.rec.facts.setdefault("performance", {})[label] = {
            "job": job,
            **figures,
            "labels": metrics.get("labels"),
        }
        return figures

    def performance_alert_and_retrain(self) -> str:
        """The performance-drop alert fires; retrain_on_alert submits the one training job (a redelivery none)."""
        notifications = self.host.evaluate_performance_alerts()
        self._record_alerts("alerts", notifications)
        fired = [n for n in notifications if n.condition == "Fired"]
        if len(fired) != 1 or not fired[0].accepted:
            raise DemoError(f"expected one accepted Fired performance alert, got {self.rec.facts['alerts']}")
        return self._retraining_job(fired[0])

    def quiet_performance(self, fact: str) -> None:
        notifications = self.host.evaluate_performance_alerts()
        self._record_alerts(fact, notifications)
        if notifications:
            raise DemoError(f"the performance rule fired on the normal window: {self.rec.facts[fact]}")

    def _record_alerts(self, fact: str, notifications: list[Any]) -> None:
        for n in notifications:
            essentials = (n.payload.get("data") or {}).get("essentials", {})
            if n.condition == "Fired":
                auc = n.figures.get("roc_auc", "?")
                self.rec.mark(
                    "alert", f"performance alert: auc {float(auc):.2f}", parse_stamp(essentials.get("firedDateTime"))
                )
        self.rec.facts[fact] = [
            {
                "alert_id": n.alert_id,
                "alert_rule": (n.payload.get("data") or {}).get("essentials", {}).get("alertRule"),
                "condition": n.condition,
                "model": f"{n.model_name}:{n.model_version}",
                **dict(n.figures),
                "statuses": list(n.statuses),
                "response": dict(n.response),
            }
            for n in notifications
        ]

    def _retraining_job(self, fired: Any) -> str:
        job = fired.response.get("job_name")
        if not job:
            raise DemoError(f"retrain_on_alert submitted no job: {fired.response}")
        # The action group delivers at least once: a redelivery must not start a second training job.
        status, redelivered = self.host.post_alert(fired.payload)
        if redelivered.get("job_name") != job:
            raise DemoError(f"a redelivered alert got {status} {redelivered}, expected the first job {job}")
        self.rec.facts["alert_redelivery"] = {"status": status, "job_name": redelivered.get("job_name")}
        return str(job)


def _quality_headline(quality: dict[str, Any]) -> dict[str, Any]:
    """The data-quality figures a reader of the run looks at first (metrics.json has them all)."""
    features = quality.get("features") or []
    worst = max(features, key=lambda f: f.get("outside_range_share") or 0.0, default=None)
    return {
        "max_missing_share": quality.get("max_missing_share"),
        "max_outside_range_share": quality.get("max_outside_range_share"),
        "outside_range_feature": worst["feature_name"] if worst and worst.get("outside_range_share") else None,
        "max_unknown_category_share": quality.get("max_unknown_category_share"),
        "quarantined_lines": quality.get("quarantined_lines", 0),
    }


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.1%}"
