"""What the demo's training and rollout stages do through the local host, each step checked: register training
data, run a training job and find the model it registered, wait for a rollout (the ModelRegistered event delivered,
then reconciler ticks), release a version, export until the watermark passes the last request. The monitoring
stages' steps are :mod:`demo.monitoring_actions`. A step that does not reach its expected outcome raises
:class:`~demo.stage_checks.DemoError`; what each step established goes into the recorder's facts, for
``run.json``."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from demo.host import LocalHost
from demo.recorder import Recorder
from demo.stage_checks import DemoError, parse_stamp, wait_job, wait_until
from shared.ports import JobInfo, ModelInfo

TRAIN_PIPELINE = "ml_assets/pipelines/train_model.yml"
TRAINING_ASSET = "credit-default-training"


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
        return wait_job(self.host, self.rec, name, self.timeout)

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
