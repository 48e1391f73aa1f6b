"""What the demo's stages do through the local host, each step checked: register training data, run a training
job, wait for a rollout (the ModelRegistered event delivered, then reconciler ticks), export until the watermark
passes the last request, run a drift job over a window and read its result, fire the drift alert and redeliver it.
A step that does not reach its expected outcome raises :class:`DemoError`; what each step established goes into the
recorder's facts, for ``run.json``."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from demo.host import LocalHost
from demo.recorder import Recorder
from shared.ports import JobInfo, ModelInfo

TRAIN_PIPELINE = "ml_assets/pipelines/train_model.yml"
TRAINING_ASSET = "credit-default-training"


class DemoError(RuntimeError):
    """A stage did not reach its expected outcome."""


def parse_stamp(value: Any) -> datetime | None:
    """A platform's ISO-8601 UTC time stamp (``…Z``) as an aware datetime; None when absent or unreadable."""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def wait_until(what: str, condition: Callable[[], Any], timeout: float, poll: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise DemoError(f"{what}: not done within {timeout:.0f}s")
        time.sleep(poll)


class StageActions:
    """The stages' steps for model ``model_name`` behind endpoint ``endpoint_name``; each waits ``timeout`` at most."""

    def __init__(self, host: LocalHost, rec: Recorder, *, model_name: str, endpoint_name: str, timeout: float) -> None:
        self.host = host
        self.rec = rec
        self.model_name = model_name
        self.endpoint_name = endpoint_name
        self.timeout = timeout

    def register_data(self, frame: Any, description: str) -> str:
        folder = Path(tempfile.mkdtemp(dir=self.host.state_dir, prefix="data-"))
        frame.to_csv(folder / "data.csv", index=False)
        asset = self.host.data_assets.register(TRAINING_ASSET, folder, description=description)
        shutil.rmtree(folder, ignore_errors=True)
        return str(asset.version)

    def submit_training(self, train_inputs: Mapping[str, str]) -> str:
        """The first training job, as an operator would submit it (the alert submits the second)."""
        from shared.ports import AssetInput, PipelineJobRequest

        request = PipelineJobRequest(
            pipeline_yaml=TRAIN_PIPELINE,
            inputs={
                "training_data": AssetInput(type="uri_folder", path=f"azureml:{TRAINING_ASSET}@latest"),
                "training_data_asset": f"{TRAINING_ASSET}@latest",
                "model_name": self.model_name,
                **train_inputs,
            },
            experiment_name=f"{self.model_name}-training",
            display_name="demo: initial training",
            tags={"trigger": "demo"},
        )
        return self.host.jobs.submit_pipeline(request)

    def wait_job(self, name: str) -> JobInfo:
        info = self.host.jobs.wait(name, timeout=self.timeout)
        self.rec.facts.setdefault("jobs", {})[name] = {"status": info.status, "tags": dict(info.tags)}
        if info.status != "Completed":
            record = self.host.jobs.get_job(name)
            raise DemoError(f"job {name} ended {record.status}; see {self.host.state_dir / 'jobs' / name}")
        return info

    def registered_model(self, version: str, job: str, status: str) -> ModelInfo:
        """Model v``version``, which ``job`` (such as "training job <name>", ended ``status``) must have
        registered; marked on the timeline at the time the registry stored it."""
        model = self.host.registry.latest_model(self.model_name)
        if model is None or model.version != version:
            raise DemoError(f"{job} finished {status} but model v{version} is not registered")
        self.rec.mark("registered", f"v{version} registered", parse_stamp(model.properties.get("created")))
        return model

    def _deliver_events(self) -> int:
        deliveries, dead_lettered = self.host.deliver_events()
        if dead_lettered:
            raise DemoError(f"a ModelRegistered event was dead-lettered: {dead_lettered[-1].get('errors')}")
        return len([d for d in deliveries if d.outcome == "delivered"])

    def _tick(self) -> None:
        self.host.reconcile_tick()
        endpoint = self.host.endpoints.get_endpoint(self.endpoint_name)
        if endpoint is not None:
            self.rec.sample_traffic(endpoint.traffic)

    def _rollout_doc(self) -> dict[str, Any] | None:
        from shared.services.rollout_state import rollout_key

        return self.host.state(rollout_key(self.model_name))

    def rollout(self, version: str, *, expect: str = "succeeded") -> str:
        """Deliver v``version``'s ModelRegistered event, then tick the reconciler until its rollout has finished;
        DemoError unless it ended with the outcome ``expect`` (``succeeded`` or ``rolled_back``). Returns the
        traffic it ended with and the phases it went through."""
        from shared.services.rollout_state import ROLLING_BACK

        wait_until(f"ModelRegistered event of v{version} delivered", self._deliver_events, self.timeout, 0.3)

        def finished() -> dict[str, Any] | None:
            self._tick()
            doc = self._rollout_doc()
            if (
                doc
                and doc.get("version") == version
                and doc.get("phase") in ("succeeded", "failed", "skipped")
                and not doc.get("cleanup")
            ):
                return doc
            return None

        doc = wait_until(f"rollout of v{version}", finished, self.timeout, 0.5)
        outcome = doc.get("outcome") or doc["phase"]
        self.rec.say(f"  ModelRegistered → deploy_registered_model → reconcile_rollouts: v{version} {outcome}")
        for entry in doc.get("history", []):
            if entry.get("to") == ROLLING_BACK and entry.get("from") != ROLLING_BACK:
                self.rec.mark("rollback", f"v{version} rolled back", parse_stamp(entry.get("at")))
        self.rec.facts.setdefault("rollouts", {})[version] = {
            "phase": doc["phase"],
            "outcome": outcome,
            "reason": doc.get("failure_reason"),
            "deployment": doc.get("deployment"),
            "gate": doc.get("gate"),
            "gates": doc.get("gates", []),
            "history": [f"{h.get('to')}: {h.get('detail', '')}" for h in doc.get("history", [])],
        }
        if outcome != expect:
            raise DemoError(f"rollout of v{version} ended {outcome}, expected {expect}: {doc.get('history', [])[-1:]}")
        endpoint = self.host.endpoints.get_endpoint(self.endpoint_name)
        assert endpoint is not None
        self.rec.sample_traffic(endpoint.traffic)
        steps = " → ".join(h["to"] for h in doc.get("history", []) if h.get("from") != h.get("to"))
        ended = f"{doc.get('deployment')} serves {dict(endpoint.traffic)}"
        if outcome == "rolled_back":
            serving = ", ".join(f"{name} {share} %" for name, share in sorted(endpoint.traffic.items())) or "nothing"
            ended = f"rolled back ({doc.get('failure_reason')}); {serving} serves"
        return f"{ended} ({steps})"

    def release(self, from_version: str) -> str:
        """A new version registered from v``from_version``'s model files (a release that passes every offline
        check), with its ModelRegistered event queued as the registry's hook would; returns the new version."""
        from shared.local.events import model_registered_event, publish

        source = self.host.registry.get_model(self.model_name, from_version)
        assert source.path is not None
        model = self.host.registry.register(
            self.model_name, source.path, tags={**source.tags, "released_from": from_version}, description="release"
        )
        publish(self.host.state_dir, model_registered_event(model.name, model.version, tags=dict(model.tags)))
        self.rec.mark("registered", f"v{model.version} registered", parse_stamp(model.properties.get("created")))
        return model.version

    def export(self) -> str:
        from shared.services import state_keys

        last_sent = datetime.now(UTC)
        delay = self.host.settings.export_ingestion_delay
        time.sleep(max(0.0, (delay + timedelta(seconds=6)).total_seconds()))  # past the delay and the 5 s margin
        runs = 0
        while True:
            self.host.export_tick()
            runs += 1
            watermark = self.host.export_watermark()
            if watermark is not None and watermark >= last_sent:
                break
            if runs >= 5:
                raise DemoError(f"the export watermark {watermark} did not pass the last request ({last_sent})")
            time.sleep(2.0)
        data = self.host.state(state_keys.EXPORT_LAST_RUN) or {}
        records, files = data.get("records"), data.get("files")
        return (
            f"{'?' if records is None else format(records, ',')} records in {'?' if files is None else files} "
            f"file{'' if files == 1 else 's'}, "
            f"{data.get('quarantined', 0)} quarantined; watermark {watermark:%H:%M:%S}"
        )

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
        info = self.wait_job(job)
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
        info = self.wait_job(job)
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

    def alert_and_retrain(self) -> str:
        notifications = self.evaluate_alerts("alerts")
        fired = [n for n in notifications if n.condition == "Fired"]
        if len(fired) != 1 or not fired[0].accepted:
            raise DemoError(f"expected one accepted Fired alert, got {self.rec.facts['alerts']}")
        return self._retraining_job(fired[0])

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
