"""``make demo`` (``python -m demo``): the whole MLOps loop on this machine, no Azure subscription.

The demo plays Azure (Blob = Azurite, the ML platform = :mod:`shared.local.job_platform` /
:mod:`shared.local.endpoint_platform`, Event Grid = :mod:`shared.local.events` and :mod:`demo.event_delivery`,
Azure Monitor = :mod:`demo.alerts`) and the Functions host (it calls the app's own handlers, with real ``func``
request objects, where the host would: timers, Event Grid and the action group's webhook; :mod:`demo.host`).
Everything else is the app's real code. This module is the scenario's run: the stages with the outcome each must
reach (:mod:`demo.scenario_config` holds its configuration and the app settings it passes, :mod:`demo.scenario_data`
the frames it trains on and sends, :mod:`demo.stage_actions` and :mod:`demo.monitoring_actions` take and check
each step, :mod:`demo.traffic` sends the requests, :mod:`demo.recorder` keeps the record, :mod:`demo.timeline`
draws it).
Stages:

1. training data v1 (the project's synthetic generator) registered as a local data asset;
2. the training pipeline (``ml_assets/pipelines/train_model.yml``) → model v1 → ModelRegistered →
   ``deploy_registered_model`` → ``reconcile_rollouts`` ticks until v1 serves 100 %;
3. normal traffic → ``export_inference_data`` → drift job over that window (no alert);
4. drifted traffic (a covariate shift *and* a new default pattern among older clients) → export → drift job →
   the drift alert fires, and ``retrain_on_alert`` only records it: drift warns (``RETRAIN_ALERT_RULES`` names the
   performance rule alone);
5. the labels of the traffic arrive (the generator knows the true label of every record it sent; about half
   the records carry a ``record_id``, the rest are named by request id and index; a share of each batch is sent
   twice) → ``POST /api/performance/jobs`` for the normal window (ROC AUC near the training AUC, no alert) and
   for the drifted window (the drop) → the performance alert fires → ``retrain_on_alert`` → the one training job
   (on training data v2: the labelled recent window) → model v2 → safe rollout of v2 while traffic flows
   (10 → 50 → 100 %, each step judged by the live-metric gate,
   then a bake at 100 %) → traffic served by v2 → a last export of everything sent: performance decides.

The ``bad-release`` scenario (``--scenario bad-release``) plays a release that passes every offline check but
fails under live traffic: after v1 serves, v2 is registered from v1's very model files, and the local endpoint
platform (only it can) injects errors into v2's routed requests. The smoke test passes (a direct invocation is
never faulted); the gate at the first traffic step sees v2's error share against v1's over the same window and
rolls back; v1 serves 100 % at the end, checked with traffic.

It starts by printing every threshold it uses (the demo's value, or the default) and the settings (and first
training inputs) in which it differs from the app's defaults, all kept in ``run.json``. Each run writes its own
folder ``out/demo/<run id>/`` (:mod:`demo.run_folder`; ``latest`` names the last): ``run.json`` (the record of
the run), ``timeline.png`` (stages, events, traffic split over time, drift), ``drift_report.html`` (Evidently's
report of the drifted window), ``functions.log`` (the app's log lines), ``jobs/`` (each job's record and logs)
and ``telemetry.jsonl`` (the drift and performance telemetry). Every process it starts (Azurite, pipeline jobs,
deployments) is stopped at the end, also on Ctrl-C or a failure.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import uuid
from collections.abc import Mapping
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from demo import scenario_data
from demo.function_logs import function_logs
from demo.host import LocalHost
from demo.monitoring_actions import MonitoringActions
from demo.recorder import Recorder
from demo.run_folder import RunFolder
from demo.scenario_config import DemoConfig, app_settings
from demo.scenario_data import DEFAULT_SHIFT, with_new_default_pattern
from demo.setting_differences import (
    Difference,
    disclosure_lines,
    pipeline_input_differences,
    setting_differences,
    threshold_lines,
    thresholds,
)
from demo.stage_actions import TRAIN_PIPELINE, TRAINING_ASSET, StageActions
from demo.stage_checks import DemoError
from demo.summary import print_summary
from demo.timeline import draw_timeline
from demo.traffic import Sent, Traffic, exported_records, next_whole_second
from ml_assets.src.contracts.record_identity import RECORD_ID_FIELD

# The entry point names what a caller configures a run with (python -m demo, the end-to-end tests).
__all__ = ["DEFAULT_SHIFT", "Demo", "DemoConfig", "run_demo", "with_new_default_pattern"]


class Demo:
    """One run of the loop. :meth:`run` returns the run record (also written to ``<run folder>/run.json``)."""

    def __init__(self, config: DemoConfig, stream: TextIO | None = None) -> None:
        self.config = config
        self.stream = stream or sys.stdout
        self.rec = Recorder(self.stream)
        self.sent = Sent()
        # Own containers when the storage is shared (tests); the demo's own Azurite is fresh each run.
        self._suffix = f"-{uuid.uuid4().hex[:8]}" if config.storage_connection_string else ""

    # --- setup ---------------------------------------------------------------------------------------

    def _settings_env(self, state_dir: Path) -> dict[str, str]:
        return app_settings(self.config, state_dir, self._suffix)

    def differences(self, env: Mapping[str, str]) -> list[Difference]:
        """Where this run's settings ``env`` and first training inputs differ from the app's defaults."""
        project = Path(__file__).resolve().parents[1]
        return setting_differences(env) + pipeline_input_differences(project / TRAIN_PIPELINE, self.config.train_inputs)

    def run(self) -> dict[str, Any]:
        c = self.config
        run = RunFolder.create(Path(c.out))
        status, error = "failed", None
        with ExitStack() as stack:
            stack.enter_context(function_logs(run.function_logs))
            state_dir = Path(c.state_dir) if c.state_dir else Path(tempfile.mkdtemp(prefix="mlops-demo-"))
            state_dir.mkdir(parents=True, exist_ok=True)
            if c.state_dir is None and not c.keep_state:
                stack.callback(shutil.rmtree, state_dir, True)
            # runs before the state folder goes and after every process the host starts has stopped
            stack.callback(self._keep_platform_records, run, state_dir)
            self.state_dir = state_dir
            self.host = LocalHost(state_dir, startup_timeout=c.stage_timeout, processes_dir=c.processes_dir)
            env = self._settings_env(state_dir)
            differences = self.differences(env)
            self._disclose(differences, env)
            try:
                self._start(stack, env)
                self._loop(run)
                status = "succeeded"
            except BaseException as exc:
                error = f"{type(exc).__name__}: {exc}"
                self.rec.say(f"stopped: {error}")
                raise
            finally:
                self.rec.say("stopping every process the demo started …")
                stack.close()
                record = self._write_record(run, status, error, differences)
                latest: str | None = None
                try:
                    latest = f"also {run.point_latest()}"
                except OSError as exc:  # the run's folder is complete; only the pointer to it is missing
                    self.rec.say(f"could not point {run.root}/latest at this run: {exc}")
                print_summary(record, self.stream, latest=latest)
        return record

    def _disclose(self, differences: list[Difference], env: Mapping[str, str]) -> None:
        used = thresholds(env)
        self.rec.facts["thresholds"] = [t.as_record() for t in used]
        self.rec.say("the thresholds this run uses:")
        for line in threshold_lines(used):
            print(f"    {line}", file=self.stream, flush=True)
        self.rec.say("where this run differs from the app's defaults (shared/settings.py, the pipeline YAML):")
        for line in disclosure_lines(differences):
            print(f"    {line}", file=self.stream, flush=True)

    def _keep_platform_records(self, run: RunFolder, state_dir: Path) -> None:
        try:
            run.keep_platform_records(state_dir)
        except OSError as exc:  # a copy problem must not hide the run's outcome
            self.rec.say(f"could not keep the jobs' logs and the telemetry: {exc}")

    def _write_record(
        self, run: RunFolder, status: str, error: str | None, differences: list[Difference]
    ) -> dict[str, Any]:
        """``run.json`` and ``timeline.png`` in the run folder; returns the record."""
        c = self.config
        try:
            draw_timeline(run.timeline, self.rec, self.sent, c.drift_share)
        except Exception as exc:  # noqa: BLE001 - a drawing problem must not hide the run's outcome
            self.rec.say(f"could not draw the timeline: {exc}")
        record = self.rec.run_record(
            status,
            error,
            config=c.as_record(),
            settings=self.host.env,
            differences=differences,
            sent=self.sent,
            artefacts=run.artefacts(),
        )
        run.run_record.write_text(json.dumps(record, indent=2, default=str) + "\n")
        return record

    def _start(self, stack: ExitStack, env: Mapping[str, str]) -> None:
        c = self.config
        with self.rec.stage("start Azurite + local platform") as stage:
            stage.outcome = self.host.start(stack, env)
            self.act = StageActions(
                self.host, self.rec, model_name=c.model_name, endpoint_name=c.endpoint_name, timeout=c.stage_timeout
            )
            self.monitor = MonitoringActions(self.host, self.rec, timeout=c.stage_timeout)
            self.traffic = Traffic(
                score=lambda body, headers: self.host.endpoints.score(c.endpoint_name, body, headers=headers),
                sent=self.sent,
                clock=self.rec.now,
                stream=self.stream,
                records_per_request=c.records_per_request,
                seed=c.seed,
            )
            stage.outcome += f"; state in {self.state_dir}"

    # --- the loop ------------------------------------------------------------------------------------

    def _loop(self, run: RunFolder) -> None:
        if self.config.scenario == "bad-release":
            self._bad_release()
            return
        self._first_model()
        start_normal, start_drifted, drifted = self._normal_then_drifted_traffic()
        drifted_end = self._drift_jobs(start_normal, start_drifted, run.drift_report)
        self._labels_arrive()
        job = self._performance_jobs((start_normal, start_drifted), (start_drifted, drifted_end))
        self._retraining(job)
        with (
            self.rec.stage("safe rollout v2 (live traffic)") as stage,
            self.traffic.in_background(
                drifted.drop(columns=[RECORD_ID_FIELD]), self.config.rollout_requests_per_second
            ),
        ):
            stage.outcome = self.act.rollout("2")
        self._traffic_on_v2()
        self._final_export_check()

    def _first_model(self) -> None:
        c = self.config
        with self.rec.stage("training data v1") as stage:
            frame = scenario_data.first_training_data(c)
            version = self.act.register_data(frame, "synthetic training data")
            stage.outcome = f"{TRAINING_ASSET}:{version} ({len(frame):,} labelled rows)"
        with self.rec.stage("train + register v1") as stage:
            job = self.act.submit_training(c.train_inputs)
            info = self.act.wait_job(job)
            model = self.act.registered_model("1", f"training job {job}", info.status)
            self.rec.facts["v1_training_job"] = job
            stage.outcome = (
                f"job {job} {info.status}; model {c.model_name}:1 (auc {model.tags.get('metric_roc_auc', '?')})"
            )
        with self.rec.stage("rollout v1") as stage:
            stage.outcome = self.act.rollout("1")

    def _bad_release(self) -> None:
        from shared.local.endpoint_router import Fault

        c = self.config
        self._first_model()
        with self.rec.stage("traffic: normal on v1") as stage:
            normal = scenario_data.bad_release_traffic(c)
            stage.outcome = self._phase("normal", normal, c.requests_per_phase)
        with self.rec.stage("release v2 (faulty under live traffic)") as stage:
            version = self.act.release("1")
            # Local platform only: nothing in the app or its settings can switch this on.
            self.host.endpoints.inject_fault(c.endpoint_name, version, Fault(error_share=c.bad_release_error_share))
            self.rec.facts["injected_fault"] = {"version": version, "error_share": c.bad_release_error_share}
            stage.outcome = (
                f"model {c.model_name}:{version} (v1's files); the local platform answers "
                f"{c.bad_release_error_share:.0%} of its routed requests with 500"
            )
        with (
            self.rec.stage(f"safe rollout v{version} (live traffic)") as stage,
            self.traffic.in_background(normal, c.rollout_requests_per_second),
        ):
            stage.outcome = self.act.rollout(version, expect="rolled_back")
        with self.rec.stage("traffic on v1 after the rollback") as stage:
            before = dict(self.sent.by_deployment)
            extra = scenario_data.traffic_after_rollback(c)
            self._phase("after rollback", extra, c.final_requests)
            served = {k: v - before.get(k, 0) for k, v in self.sent.by_deployment.items() if v - before.get(k, 0)}
            v1 = self.rec.facts["rollouts"]["1"]["deployment"]
            endpoint = self.host.endpoints.get_endpoint(c.endpoint_name)
            if set(served) != {v1} or endpoint is None or dict(endpoint.traffic) != {v1: 100}:
                raise DemoError(f"after the rollback, traffic was served by {served}, expected only {v1} at 100 %")
            stage.outcome = f"{sum(served.values())} requests, all served by {v1} (v1 at 100 %)"

    def _normal_then_drifted_traffic(self) -> tuple[datetime, datetime, Any]:
        """Both phases through the endpoint, then an export; returns when each began and the drifted frame."""
        c = self.config
        start_normal = next_whole_second()
        with self.rec.stage("traffic: normal") as stage:
            normal = scenario_data.normal_traffic(c)
            stage.outcome = self._phase("normal", normal, c.requests_per_phase)
        start_drifted = next_whole_second()  # the windows split cleanly between the two phases
        with self.rec.stage("traffic: drifted") as stage:
            drifted = scenario_data.drifted_traffic(c)
            stage.outcome = self._phase("drifted", drifted, c.requests_per_phase)
        with self.rec.stage("export (timer)") as stage:
            stage.outcome = self.act.export()
        return start_normal, start_drifted, drifted

    def _drift_jobs(self, start_normal: datetime, start_drifted: datetime, report: Path) -> datetime:
        # One window after the other, as the daily drift schedule would: the alert rule looks at the latest
        # drift run of a model version, so two runs in parallel would race for "latest".
        with self.rec.stage("drift job: normal window") as stage:
            normal_job, _, _ = self.monitor.submit_drift(start_normal, start_drifted, "normal")
            normal = self.monitor.drift_result(normal_job, "normal", (start_normal, start_drifted))
            quiet = self.monitor.evaluate_alerts("alerts_after_normal_window")
            if quiet:
                raise DemoError(f"the normal window raised an alert: {quiet}")
            stage.outcome = (
                f"share of drifted features {normal['share_drifted_features']:.2f}; no alert; "
                + self.monitor.monitoring_text(normal)
            )
        with self.rec.stage("drift job: drifted window") as stage:
            drifted_job, _, drifted_end = self.monitor.submit_drift(start_drifted, None, "drifted")
            result = self.monitor.drift_result(drifted_job, "drifted", (start_drifted, drifted_end))
            stage.outcome = (
                f"share of drifted features {result['share_drifted_features']:.2f} "
                f"({', '.join(result['drifted_features'])}); " + self.monitor.monitoring_text(result)
            )
            self.monitor.copy_report(drifted_job, report)
        with self.rec.stage("drift alert: a warning") as stage:
            stage.outcome = self.monitor.drift_alert_warns()
        return drifted_end

    def _labels_arrive(self) -> None:
        c = self.config
        with self.rec.stage("labels of the traffic arrive") as stage:
            known = datetime.now(UTC)
            counts = {
                phase: self.monitor.write_labels(f"{phase}-{known:%Y%m%dT%H%M%S}", truth, known=known, repeat_share=0.1)
                for phase, truth in self.sent.truth.items()
            }
            stage.outcome = ", ".join(f"{n:,} labels of the {phase} traffic" for phase, n in counts.items())
        with self.rec.stage("labels arrive: data v2") as stage:
            import pandas as pd

            recent, labelled = scenario_data.labelled_recent_window(c)
            version = self.act.register_data(
                pd.concat([recent, labelled], ignore_index=True),
                "labelled recent window: usual clients and the drifted population",
            )
            stage.outcome = (
                f"{TRAINING_ASSET}:{version} ({len(recent) + len(labelled):,} rows, {len(labelled):,} drifted)"
            )

    def _performance_jobs(self, normal: tuple[datetime, datetime], drifted: tuple[datetime, datetime]) -> str:
        """Each window's model performance against its labels; the drifted window's drop fires the performance
        alert, which submits the one retraining. Returns that training job."""
        floor, margin = self.host.settings.performance_auc_floor, self.host.settings.performance_auc_margin
        with self.rec.stage("performance job: normal window") as stage:
            figures = self.monitor.performance_result(self.monitor.submit_performance(*normal, "normal"), "normal")
            self.monitor.quiet_performance("alerts_after_normal_performance")
            stage.outcome = f"{_figures(figures)}; no alert"
        with self.rec.stage("performance job: drifted window") as stage:
            figures = self.monitor.performance_result(self.monitor.submit_performance(*drifted, "drifted"), "drifted")
            stage.outcome = f"{_figures(figures)} (alert below {floor:g} or training auc − {margin:g})"
        with self.rec.stage("performance alert → retraining job") as stage:
            job = self.monitor.performance_alert_and_retrain()
            stage.outcome = f"training job {job} submitted by the performance alert"
        return job

    def _retraining(self, job: str) -> None:
        c = self.config
        with self.rec.stage("retraining → v2") as stage:
            info = self.act.wait_job(job)
            model = self.act.registered_model("2", f"retraining job {job}", info.status)
            self.rec.facts["retraining_job"] = job
            stage.outcome = f"model {c.model_name}:2 (auc {model.tags.get('metric_roc_auc', '?')})"

    def _traffic_on_v2(self) -> None:
        c = self.config
        with self.rec.stage("traffic on v2") as stage:
            before = dict(self.sent.by_deployment)
            extra = scenario_data.traffic_after_rollout(c)
            self._phase("after rollout", extra, c.final_requests)
            served = {k: v - before.get(k, 0) for k, v in self.sent.by_deployment.items() if v - before.get(k, 0)}
            deployment = self.rec.facts["rollouts"]["2"]["deployment"]
            if set(served) != {deployment}:
                raise DemoError(f"after the rollout, traffic was served by {served}, expected only {deployment}")
            stage.outcome = f"{sum(served.values())} requests, all served by {deployment} (v2)"

    def _final_export_check(self) -> None:
        with self.rec.stage("final export check") as stage:
            stage.outcome = self.act.export()
            exported, missing = exported_records(
                self.host.context.export_writer(), self.host.settings.export_prefix, self.sent
            )
            if exported["duplicates"] or missing:
                raise DemoError(
                    f"export check: {missing} records sent but not exported, {exported['duplicates']} duplicates"
                )
            self.rec.facts["exported_records"] = exported
            stage.outcome += (
                f"; {exported['sent_by_the_demo']:,} records sent = exported once each "
                f"(+ {exported['smoke_test_records']} records of {exported['smoke_test_requests']} smoke tests)"
            )

    # --- stages' building blocks ---------------------------------------------------------------------

    def _phase(self, label: str, frame: Any, count: int) -> str:
        phase = self.traffic.phase(label, frame, count)
        if phase.failed:
            raise DemoError(f"{phase.failed} of {phase.total} {label} requests failed; last: {self.sent.last_error}")
        return f"{phase.requests} requests, {phase.records:,} records scored"


def _figures(figures: Mapping[str, Any]) -> str:
    return (
        f"roc auc {figures['roc_auc']:.3f} (training {figures.get('training_roc_auc') or float('nan'):.3f}), "
        f"f1 {figures['f1']:.2f}, coverage {figures['label_coverage']:.2f} of {figures['n_predictions']:,}"
    )


def run_demo(config: DemoConfig, stream: TextIO | None = None) -> dict[str, Any]:
    return Demo(config, stream).run()
