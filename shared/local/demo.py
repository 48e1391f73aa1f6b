"""``make demo`` (``python -m shared.local demo``): the whole MLOps loop on this machine, no Azure subscription.

The demo plays Azure (Blob = Azurite, the ML platform = :mod:`shared.local.jobs` / :mod:`shared.local.endpoints`,
Event Grid = :mod:`shared.local.events`, Azure Monitor = :mod:`shared.local.alerts`) and the Functions host (it
calls the app's own handlers, with real ``func`` request objects, where the host would: timers, Event Grid and
the action group's webhook). Everything else is the app's real code. Stages:

1. training data v1 (the project's synthetic generator) registered as a local data asset;
2. the training pipeline (``ml_assets/pipelines/train_model.yml``) → model v1 → ModelRegistered →
   ``deploy_registered_model`` → ``reconcile_rollouts`` ticks until v1 serves 100 %;
3. normal traffic → ``export_inference_data`` → drift job over that window (no alert);
4. drifted traffic → export → drift job → the drift alert rule fires → ``retrain_on_alert`` → training job
   (on training data v2: the labels of the drifted period have arrived) → model v2 → safe rollout of v2 while
   traffic flows (10 → 50 → 100 %) → traffic served by v2 → a last export of everything sent.

Writes ``out/demo/``: ``run.json`` (the record of the run), ``timeline.png`` (stages, traffic split over time,
drift share), ``drift_report.html`` (Evidently's report of the drifted window). Every process it starts
(Azurite, pipeline jobs, deployments) is stopped at the end, also on Ctrl-C or a failure.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TRAIN_PIPELINE = "ml_assets/pipelines/train_model.yml"
TRAINING_ASSET = "credit-default-training"
# Six of the 23 features move (share 0.26 ≥ DRIFT_SHARE 0.2): older clients with higher limits and bills,
# more graduate-school and single clients, larger first payments.
DEFAULT_SHIFT: Mapping[str, str] = {
    "age": "+12",
    "credit_limit": "*2",
    "education": "graduate_school:0.7",
    "marriage": "single:0.7",
    "bill_amount_1": "*1.8",
    "payment_amount_1": "*3",
}


def with_new_default_pattern(frame: Any, *, seed: int, share: float = 0.5) -> Any:
    """The scenario's concept drift: in the drifted period, clients aged 45 or more default more often (``share``
    of those who did not are relabelled as defaults). A covariate shift alone would not make a retrained model
    better than v1 (the synthetic labels are drawn before the shift), and the champion gate would rightly keep v1."""
    import numpy as np

    from ml_assets.src.contracts.feature_schema import TARGET

    rng = np.random.default_rng(seed)
    out = frame.copy()
    flip = (out["age"].to_numpy() >= 45) & (rng.random(len(out)) < share)
    out.loc[flip, TARGET] = "True"
    return out


class DemoError(RuntimeError):
    """A stage did not reach its expected outcome."""


@dataclass
class DemoConfig:
    out: Path = Path("out/demo")
    state_dir: Path | None = None  # default: a temporary folder, removed at the end (unless keep_state)
    keep_state: bool = False
    storage_connection_string: str | None = None  # default: start Azurite for the run
    model_name: str = "credit-default"
    endpoint_name: str = "credit-default"
    train_rows: int = 6000
    labelled_rows: int = 4000  # labelled rows of the drifted period: training data v2
    requests_per_phase: int = 150
    records_per_request: tuple[int, int] = (10, 30)
    rollout_requests_per_second: float = 40.0
    final_requests: int = 60
    shift: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_SHIFT))
    drift_share: float = 0.2
    step_dwell_seconds: int = 3
    traffic_steps: str = "10,50,100"
    stage_timeout: float = 240.0
    seed: int = 7
    train_inputs: Mapping[str, str] = field(default_factory=lambda: {"max_iter": "60"})


@dataclass
class Stage:
    name: str
    started: float
    ended: float | None = None
    outcome: str = ""
    ok: bool = True

    @property
    def seconds(self) -> float:
        return round((self.ended or time.monotonic()) - self.started, 2)


@dataclass
class Sent:
    """What the traffic generator sent and who served it."""

    requests: int = 0
    records: int = 0
    failed: int = 0
    last_error: str = ""
    records_by_request: dict[str, int] = field(default_factory=dict)  # request id → records (the demo's own)
    by_deployment: dict[str, int] = field(default_factory=dict)
    served: list[tuple[float, str]] = field(default_factory=list)  # (seconds since start, deployment)


class Recorder:
    """Stages with timings, printed as they finish; traffic and drift samples for the timeline."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.t0 = time.monotonic()
        self.stages: list[Stage] = []
        self.traffic: list[tuple[float, dict[str, int]]] = []  # (t, live traffic)
        self.drift: list[dict[str, Any]] = []
        self.facts: dict[str, Any] = {}

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 3)

    def say(self, text: str) -> None:
        print(f"[demo {self.now():6.1f}s] {text}", file=self.stream, flush=True)

    @contextmanager
    def stage(self, name: str) -> Iterator[Stage]:
        stage = Stage(name, time.monotonic())
        self.stages.append(stage)
        self.say(f"▶ {name}")
        try:
            yield stage
        except BaseException as exc:
            stage.ok = False
            stage.outcome = stage.outcome or f"{type(exc).__name__}: {exc}"
            raise
        finally:
            stage.ended = time.monotonic()
            mark = "✓" if stage.ok else "✗"
            self.say(f"{mark} {name} ({stage.seconds:.1f}s) {stage.outcome}")

    def sample_traffic(self, traffic: Mapping[str, int]) -> None:
        current = {k: int(v) for k, v in traffic.items() if int(v)}
        if not self.traffic or self.traffic[-1][1] != current:
            self.traffic.append((self.now(), current))


def _progress(stream: TextIO, label: str, done: int, total: int, width: int = 30) -> None:
    filled = int(width * done / max(total, 1))
    bar = "█" * filled + "·" * (width - filled)
    end = "\n" if done >= total else ""
    if stream.isatty():
        print(f"\r    {label} [{bar}] {done}/{total}", end=end, file=stream, flush=True)
    elif done >= total or done % max(total // 4, 1) == 0:
        print(f"    {label} [{bar}] {done}/{total}", file=stream, flush=True)


def _wait(what: str, condition: Callable[[], Any], timeout: float, poll: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise DemoError(f"{what}: not done within {timeout:.0f}s")
        time.sleep(poll)


@contextmanager
def _function_logs(path: Path) -> Iterator[None]:
    """The app's log lines (what the Functions host would collect) go to ``path``, not to the console."""
    root = logging.getLogger()
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    quiet = {name: logging.getLogger(name).level for name in ("azure", "urllib3")}
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("azure.ai.ml").setLevel(logging.ERROR)  # "experimental class" notices of load_job
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(previous)
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)


def _next_whole_second() -> datetime:
    """Sleep until the next whole UTC second and return it."""
    now = datetime.now(UTC)
    target = now.replace(microsecond=0) + timedelta(seconds=1)
    time.sleep((target - now).total_seconds() + 0.001)
    return target


def _requests(frame: Any, sizes: tuple[int, int], rng: random.Random) -> list[bytes]:
    """Split ``frame`` into request bodies of ``sizes`` records (the scoring script's input format)."""
    records = json.loads(frame.to_json(orient="records"))
    bodies, i = [], 0
    while i < len(records):
        n = rng.randint(*sizes)
        bodies.append(json.dumps({"data": records[i : i + n]}).encode())
        i += n
    return bodies


class Demo:
    """One run of the loop. :meth:`run` returns the run record (also written to ``out/run.json``)."""

    def __init__(self, config: DemoConfig, stream: TextIO | None = None) -> None:
        self.config = config
        self.stream = stream or sys.stdout
        self.rec = Recorder(self.stream)
        self.sent = Sent()
        self._sent_lock = threading.Lock()
        self._rng = random.Random(config.seed)
        # Own containers when the storage is shared (tests); the demo's own Azurite is fresh each run.
        self._suffix = f"-{uuid.uuid4().hex[:8]}" if config.storage_connection_string else ""

    # --- setup ---------------------------------------------------------------------------------------

    def _settings_env(self, state_dir: Path, connection_string: str) -> dict[str, str]:
        c = self.config
        return {
            "MLOPS_MODE": "local",
            "LOCAL_STATE_DIR": str(state_dir),
            "STORAGE_CONNECTION_STRING": connection_string,
            "STATE_CONTAINER": f"mlops-state{self._suffix}",
            "EXPORT_CONTAINER": f"inference-data{self._suffix}",
            "MODEL_NAME": c.model_name,
            "ENDPOINT_NAME": c.endpoint_name,
            "EXPORT_INGESTION_DELAY": "PT1S",
            "EXPORT_INITIAL_LOOKBACK": "PT1H",
            "DRIFT_SHARE": str(c.drift_share),
            "DRIFT_MIN_ROWS": "100",
            "TRAINING_DATA_ASSET": f"{TRAINING_ASSET}@latest",
            "RETRAIN_COOLDOWN": "PT1H",
            "ROLLOUT_TRAFFIC_STEPS": c.traffic_steps,
            "ROLLOUT_STEP_DWELL": f"PT{c.step_dwell_seconds}S",
            "ROLLOUT_PROVISIONING_TIMEOUT": "PT3M",
            "ROLLOUT_MIRROR_PERCENT": "0",
        }

    def run(self) -> dict[str, Any]:
        c = self.config
        out = Path(c.out)
        out.mkdir(parents=True, exist_ok=True)
        status, error = "failed", None
        with ExitStack() as stack:
            stack.enter_context(_function_logs(out / "functions.log"))
            state_dir = Path(c.state_dir) if c.state_dir else Path(tempfile.mkdtemp(prefix="mlops-demo-"))
            state_dir.mkdir(parents=True, exist_ok=True)
            if c.state_dir is None and not c.keep_state:
                stack.callback(shutil.rmtree, state_dir, True)
            self.state_dir = state_dir
            try:
                self._start(stack, state_dir)
                self._loop(out)
                status = "succeeded"
            except BaseException as exc:
                error = f"{type(exc).__name__}: {exc}"
                self.rec.say(f"stopped: {error}")
                raise
            finally:
                self.rec.say("stopping every process the demo started …")
                stack.close()
                record = self._record(status, error, out)
                (out / "run.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
                try:
                    self._timeline(out / "timeline.png")
                except Exception as exc:  # noqa: BLE001 - a drawing problem must not hide the run's outcome
                    self.rec.say(f"could not draw the timeline: {exc}")
                self._summary(record)
        return record

    def _start(self, stack: ExitStack, state_dir: Path) -> None:
        from shared.context import AppContext, use_context
        from shared.local.data_assets import LocalDataAssetStore
        from shared.local.endpoints import LocalEndpointPlatform
        from shared.local.events import EventDelivery
        from shared.local.jobs import LocalJobPlatform
        from shared.local.registry import LocalRegistry
        from shared.settings import Settings
        from shared.triggers import drift, export, retraining, rollout

        c = self.config
        with self.rec.stage("start Azurite + local platform") as stage:
            connection_string = c.storage_connection_string
            if connection_string is None:
                from shared.local.azurite import Azurite

                azurite = stack.enter_context(Azurite(location=state_dir / "azurite"))
                connection_string = azurite.connection_string
                stage.outcome = f"Azurite at {azurite.blob_endpoint}"
            env = self._settings_env(state_dir, connection_string)
            self.env = env
            self.settings = Settings(env)
            self.registry = LocalRegistry(state_dir)
            # the jobs get the storage settings and the registry hook that queues ModelRegistered events
            self.jobs = LocalJobPlatform.from_settings(self.settings)
            stack.callback(self.jobs.close)
            self.endpoints = LocalEndpointPlatform(
                state_dir, self.registry, state_dir / "console-logs", startup_timeout=c.stage_timeout
            )
            stack.callback(self.endpoints.close)
            self.data_assets = LocalDataAssetStore(state_dir)
            self.context = AppContext(
                settings=self.settings,
                overrides={
                    "job_platform": self.jobs,
                    "endpoint_platform": self.endpoints,
                    "model_registry": self.registry,
                },
            )
            use_context(self.context)
            stack.callback(use_context, None)
            self.fn_deploy = rollout.deploy_registered_model.build().get_user_function()
            self.fn_reconcile = rollout.reconcile_rollouts.build().get_user_function()
            self.fn_export = export.export_inference_data.build().get_user_function()
            self.fn_drift = drift.submit_drift_job_http.build().get_user_function()
            self.fn_retrain = retraining.retrain_on_alert.build().get_user_function()
            self.events = EventDelivery(state_dir, self.fn_deploy, backoff_seconds=0.5)
            stage.outcome += f"; state in {state_dir}"

    # --- the loop ------------------------------------------------------------------------------------

    def _loop(self, out: Path) -> None:
        from ml_assets.src.training import synthetic

        c = self.config
        with self.rec.stage("training data v1") as stage:
            frame = synthetic.generate(c.train_rows, seed=c.seed)
            version = self._register_data(frame, "synthetic training data")
            stage.outcome = f"{TRAINING_ASSET}:{version} ({len(frame):,} labelled rows)"

        with self.rec.stage("train + register v1") as stage:
            job = self._submit_training()
            info = self._wait_job(job)
            model = self.registry.latest_model(c.model_name)
            if model is None or model.version != "1":
                raise DemoError(f"training job {job} finished but model v1 is not registered")
            self.rec.facts["v1_training_job"] = job
            stage.outcome = (
                f"job {job} {info.status}; model {c.model_name}:1 (auc {model.tags.get('metric_roc_auc', '?')})"
            )

        with self.rec.stage("rollout v1") as stage:
            stage.outcome = self._rollout("1")

        start_normal = _next_whole_second()
        with self.rec.stage("traffic: normal") as stage:
            stage.outcome = self._traffic(
                "normal", synthetic.generate(c.requests_per_phase * 30, seed=c.seed + 1, with_target=False)
            )
        start_drifted = _next_whole_second()  # the windows split cleanly between the two phases
        with self.rec.stage("traffic: drifted") as stage:
            drifted = synthetic.generate(c.requests_per_phase * 30, seed=c.seed + 2, shift=c.shift, with_target=False)
            stage.outcome = self._traffic("drifted", drifted)
        with self.rec.stage("export (timer)") as stage:
            stage.outcome = self._export()
        # One window after the other, as the daily drift schedule would: the alert rule looks at the latest
        # drift run of a model version, so two runs in parallel would race for "latest".
        with self.rec.stage("drift job: normal window") as stage:
            normal_job, _, _ = self._submit_drift(start_normal, start_drifted, "normal")
            normal = self._drift_result(normal_job, "normal", (start_normal, start_drifted))
            quiet = self._evaluate_alerts("alerts_after_normal_window")
            if quiet:
                raise DemoError(f"the normal window raised an alert: {quiet}")
            stage.outcome = f"share of drifted features {normal['share_drifted_features']:.2f}; no alert"
        with self.rec.stage("drift job: drifted window") as stage:
            drifted_job, _, drifted_end = self._submit_drift(start_drifted, None, "drifted")
            result = self._drift_result(drifted_job, "drifted", (start_drifted, drifted_end))
            stage.outcome = (
                f"share of drifted features {result['share_drifted_features']:.2f} "
                f"({', '.join(result['drifted_features'])})"
            )
            self._copy_report(drifted_job, out / "drift_report.html")

        with self.rec.stage("labels arrive: data v2") as stage:
            import pandas as pd

            # Retraining learns from the recent labelled window: clients like before and the drifted population,
            # whose labels carry a pattern v1 cannot know (so the champion gate has a reason to promote v2).
            recent = synthetic.generate(c.train_rows // 2, seed=c.seed + 5)
            labelled = with_new_default_pattern(
                synthetic.generate(c.labelled_rows, seed=c.seed + 3, shift=c.shift), seed=c.seed
            )
            version = self._register_data(
                pd.concat([recent, labelled], ignore_index=True),
                "labelled recent window: usual clients and the drifted population",
            )
            stage.outcome = (
                f"{TRAINING_ASSET}:{version} ({len(recent) + len(labelled):,} rows, {len(labelled):,} drifted)"
            )

        with self.rec.stage("alert → retraining job") as stage:
            job = self._alert_and_retrain()
            stage.outcome = f"training job {job} submitted by the alert"
        with self.rec.stage("retraining → v2") as stage:
            info = self._wait_job(job)
            model = self.registry.latest_model(c.model_name)
            if model is None or model.version != "2":
                raise DemoError(f"retraining job {job} finished {info.status} but model v2 is not registered")
            self.rec.facts["retraining_job"] = job
            stage.outcome = f"model {c.model_name}:2 (auc {model.tags.get('metric_roc_auc', '?')})"

        with self.rec.stage("safe rollout v2 (live traffic)") as stage:
            stop = threading.Event()
            background = threading.Thread(target=self._background_traffic, args=(drifted, stop), daemon=True)
            background.start()
            try:
                stage.outcome = self._rollout("2")
            finally:
                stop.set()
                background.join(timeout=30)

        with self.rec.stage("traffic on v2") as stage:
            before = dict(self.sent.by_deployment)
            extra = synthetic.generate(c.final_requests * 30, seed=c.seed + 4, shift=c.shift, with_target=False)
            self._traffic("after rollout", extra, limit=c.final_requests)
            served = {k: v - before.get(k, 0) for k, v in self.sent.by_deployment.items() if v - before.get(k, 0)}
            deployment = self.rec.facts["rollouts"]["2"]["deployment"]
            if set(served) != {deployment}:
                raise DemoError(f"after the rollout, traffic was served by {served}, expected only {deployment}")
            stage.outcome = f"{sum(served.values())} requests, all served by {deployment} (v2)"

        with self.rec.stage("final export check") as stage:
            stage.outcome = self._export()
            exported = self._exported_records()
            self.rec.facts["exported_records"] = exported
            stage.outcome += (
                f"; {exported['sent_by_the_demo']:,} records sent = exported once each "
                f"(+ {exported['smoke_test_records']} records of {exported['smoke_test_requests']} smoke tests)"
            )

    # --- stages' building blocks ---------------------------------------------------------------------

    def _register_data(self, frame: Any, description: str) -> str:
        folder = Path(tempfile.mkdtemp(dir=self.state_dir, prefix="data-"))
        frame.to_csv(folder / "data.csv", index=False)
        asset = self.data_assets.register(TRAINING_ASSET, folder, description=description)
        shutil.rmtree(folder, ignore_errors=True)
        return str(asset.version)

    def _submit_training(self) -> str:
        from shared.ports import AssetInput, PipelineJobRequest

        c = self.config
        request = PipelineJobRequest(
            pipeline_yaml=TRAIN_PIPELINE,
            inputs={
                "training_data": AssetInput(type="uri_folder", path=f"azureml:{TRAINING_ASSET}@latest"),
                "training_data_asset": f"{TRAINING_ASSET}@latest",
                "model_name": c.model_name,
                **c.train_inputs,
            },
            experiment_name=f"{c.model_name}-training",
            display_name="demo: initial training",
            tags={"trigger": "demo"},
        )
        return self.jobs.submit_pipeline(request)

    def _since_start(self, moment: datetime) -> float:
        """``moment`` as seconds since the demo started (the timeline's x axis)."""
        return round(self.rec.now() - (datetime.now(UTC) - moment).total_seconds(), 2)

    def _wait_job(self, name: str) -> Any:
        info = self.jobs.wait(name, timeout=self.config.stage_timeout)
        self.rec.facts.setdefault("jobs", {})[name] = {"status": info.status, "tags": dict(info.tags)}
        if info.status != "Completed":
            record = self.jobs.get_job(name)
            raise DemoError(f"job {name} ended {record.status}; see {self.state_dir / 'jobs' / name}")
        return info

    def _deliver_events(self) -> int:
        delivered = [d for d in self.events.deliver_pending() if d.outcome == "delivered"]
        failed = [d for d in self.events.folder("dead-letter")]
        if failed:
            raise DemoError(f"a ModelRegistered event was dead-lettered: {failed[-1].get('errors')}")
        return len(delivered)

    def _tick(self) -> None:
        from azure.functions.timer import TimerRequest

        self.fn_reconcile(TimerRequest(past_due=False))
        endpoint = self.endpoints.get_endpoint(self.config.endpoint_name)
        if endpoint is not None:
            self.rec.sample_traffic(endpoint.traffic)

    def _rollout_doc(self) -> dict[str, Any] | None:
        from shared.services.rollout_state import rollout_key

        doc = self.context.state_store().get(rollout_key(self.config.model_name))
        return doc.data if doc else None

    def _rollout(self, version: str) -> str:
        _wait(f"ModelRegistered event of v{version} delivered", self._deliver_events, self.config.stage_timeout, 0.3)

        def finished() -> dict[str, Any] | None:
            self._tick()
            doc = self._rollout_doc()
            if doc and doc.get("version") == version and doc.get("phase") in ("succeeded", "failed", "skipped"):
                return doc
            return None

        doc = _wait(f"rollout of v{version}", finished, self.config.stage_timeout, 0.5)
        self.rec.say(f"  ModelRegistered → deploy_registered_model → reconcile_rollouts: v{version} {doc['phase']}")
        self.rec.facts.setdefault("rollouts", {})[version] = {
            "phase": doc["phase"],
            "deployment": doc.get("deployment"),
            "history": [f"{h.get('to')}: {h.get('detail', '')}" for h in doc.get("history", [])],
        }
        if doc["phase"] != "succeeded":
            raise DemoError(f"rollout of v{version} ended {doc['phase']}: {doc.get('history', [])[-1:]}")
        endpoint = self.endpoints.get_endpoint(self.config.endpoint_name)
        assert endpoint is not None
        self.rec.sample_traffic(endpoint.traffic)
        steps = " → ".join(h["to"] for h in doc.get("history", []) if h.get("from") != h.get("to"))
        return f"{doc.get('deployment')} serves {dict(endpoint.traffic)} ({steps})"

    def _send(self, body: bytes) -> None:
        records = len(json.loads(body)["data"])
        request_id = str(uuid.uuid4())
        status, answer, deployment = self.endpoints.score(
            self.config.endpoint_name, body, headers={"x-request-id": request_id}
        )
        with self._sent_lock:
            if status != 200:
                self.sent.failed += 1
                self.sent.last_error = f"{status} from {deployment or 'the router'}: {answer[:300]!r}"
                return
            self.sent.requests += 1
            self.sent.records += records
            self.sent.records_by_request[request_id] = records
            self.sent.by_deployment[deployment] = self.sent.by_deployment.get(deployment, 0) + 1
            self.sent.served.append((self.rec.now(), deployment))

    def _traffic(self, label: str, frame: Any, limit: int | None = None) -> str:
        bodies = _requests(frame, self.config.records_per_request, self._rng)[: limit or self.config.requests_per_phase]
        before = (self.sent.requests, self.sent.records, self.sent.failed)
        done = 0
        with ThreadPoolExecutor(max_workers=4) as pool:
            for _ in pool.map(self._send, bodies):
                done += 1
                _progress(self.stream, f"{label:>14}", done, len(bodies))
        requests, records, failed = (
            self.sent.requests - before[0],
            self.sent.records - before[1],
            self.sent.failed - before[2],
        )
        if failed:
            raise DemoError(f"{failed} of {len(bodies)} {label} requests failed; last: {self.sent.last_error}")
        return f"{requests} requests, {records:,} records scored"

    def _background_traffic(self, frame: Any, stop: threading.Event) -> None:
        bodies = _requests(frame, self.config.records_per_request, random.Random(self.config.seed + 9))
        interval = 1.0 / self.config.rollout_requests_per_second
        i = 0
        while not stop.is_set():
            self._send(bodies[i % len(bodies)])
            i += 1
            stop.wait(interval)

    def _export(self) -> str:
        from azure.functions.timer import TimerRequest

        from shared.services import state_keys

        last_sent = datetime.now(UTC)
        delay = self.settings.export_ingestion_delay
        time.sleep(max(0.0, (delay + timedelta(seconds=6)).total_seconds()))  # past the delay and the 5 s margin
        runs = 0
        while True:
            self.fn_export(TimerRequest(past_due=False))
            runs += 1
            doc = self.context.state_store().get(state_keys.EXPORT_WATERMARK)
            watermark = datetime.fromisoformat(str(doc.data["watermark"]).replace("Z", "+00:00")) if doc else None
            if watermark is not None and watermark >= last_sent:
                break
            if runs >= 5:
                raise DemoError(f"the export watermark {watermark} did not pass the last request ({last_sent})")
            time.sleep(2.0)
        last = self.context.state_store().get(state_keys.EXPORT_LAST_RUN)
        data = last.data if last else {}
        return (
            f"{data.get('records', '?')} records in {data.get('files', '?')} files, "
            f"{data.get('quarantined', 0)} quarantined; watermark {watermark:%H:%M:%S}"
        )

    def _exported_records(self) -> dict[str, Any]:
        """Every exported row, checked against what the demo sent: each record exactly once. Rows of requests the
        demo did not send are the rollout's smoke tests (the sample request, scored and logged like any other)."""
        import io

        import pyarrow.parquet as pq

        writer = self.context.export_writer()
        by_version: dict[str, int] = {}
        seen: set[tuple[str, int]] = set()
        duplicates = 0
        for path in writer.list(self.settings.export_prefix + "/"):
            if not path.endswith(".parquet"):
                continue
            table = pq.read_table(io.BytesIO(writer.read(path)), columns=["request_id", "record_index"])
            version = next((p.split("=", 1)[1] for p in path.split("/") if p.startswith("version=")), "?")
            by_version[version] = by_version.get(version, 0) + table.num_rows
            ids, indexes = table.column("request_id").to_pylist(), table.column("record_index").to_pylist()
            for key in zip(ids, indexes, strict=True):
                duplicates += key in seen
                seen.add(key)
        expected = {(rid, i) for rid, n in self.sent.records_by_request.items() for i in range(n)}
        missing = expected - seen
        smoke_tests = seen - expected
        if duplicates or missing:
            raise DemoError(f"export check: {len(missing)} records sent but not exported, {duplicates} duplicates")
        return {
            "total": len(seen),
            "sent_by_the_demo": len(expected),
            "smoke_test_records": len(smoke_tests),
            "smoke_test_requests": len({rid for rid, _ in smoke_tests}),
            "by_version": by_version,
            "duplicates": duplicates,
        }

    def _submit_drift(self, start: datetime, end: datetime | None, label: str) -> tuple[str, str, datetime]:
        """POST /api/drift/jobs for ``[start, end)`` (whole seconds; ``end`` None: the export watermark)."""
        import azure.functions as func

        from shared.services import state_keys

        if end is None:
            doc = self.context.state_store().get(state_keys.EXPORT_WATERMARK)
            if doc is None:
                raise DemoError("no export watermark: nothing was exported")
            end = datetime.fromisoformat(str(doc.data["watermark"]).replace("Z", "+00:00"))
        body = {
            "window_start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "window_end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        response = self.fn_drift(
            func.HttpRequest(
                method="POST", url="http://localhost/api/drift/jobs", body=json.dumps(body).encode(), params={}
            )
        )
        answer = json.loads(response.get_body())
        if response.status_code != 202 or not answer.get("job_name"):
            raise DemoError(f"drift job for the {label} window not submitted: {response.status_code} {answer}")
        return (
            str(answer["job_name"]),
            f"job {answer['job_name']} for [{body['window_start']}, {body['window_end']})",
            end,
        )

    def _drift_result(self, job: str, label: str, window: tuple[datetime, datetime]) -> dict[str, Any]:
        info = self._wait_job(job)
        metrics_dir = next((Path(p) for k, p in info.outputs.items() if k.endswith(".metrics")), None)
        if metrics_dir is None or not (metrics_dir / "metrics.json").is_file():
            raise DemoError(f"drift job {job} has no metrics.json among its outputs {dict(info.outputs)}")
        metrics = json.loads((metrics_dir / "metrics.json").read_text())
        if metrics.get("status") == "skipped":
            raise DemoError(f"drift job {job} skipped: {metrics.get('reason')}")
        point = {
            "t": self.rec.now(),
            "window": [self._since_start(window[0]), self._since_start(window[1])],
            "label": label,
            "job": job,
            "share_drifted_features": float(metrics["share_drifted_features"]),
            "drifted_features": list(metrics.get("drifted_features", [])),
            "dataset_drift": bool(metrics.get("dataset_drift")),
        }
        self.rec.drift.append(point)
        return point

    def _copy_report(self, job: str, target: Path) -> None:
        info = self.jobs.get_job(job)
        report_dir = next((Path(p) for k, p in info.outputs.items() if k.endswith(".report")), None)
        reports = sorted(report_dir.glob("*.html")) if report_dir else []
        if not reports:
            raise DemoError(f"drift job {job} wrote no HTML report")
        shutil.copyfile(reports[0], target)

    def _evaluate_alerts(self, fact: str) -> list[Any]:
        """One evaluation of the drift alert rule (local Azure Monitor); its notifications go to ``facts[fact]``."""
        from ml_assets.src.contracts.alert_rules import rule_for
        from shared.local.alerts import LocalAlertEvaluator, handler_poster

        evaluator = LocalAlertEvaluator(
            self.state_dir, rule_for(self.settings.drift_share), handler_poster(self.fn_retrain)
        )
        notifications = evaluator.evaluate()
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

    def _alert_and_retrain(self) -> str:
        from shared.local.alerts import handler_poster

        notifications = self._evaluate_alerts("alerts")
        fired = [n for n in notifications if n.condition == "Fired"]
        if len(fired) != 1 or not fired[0].accepted:
            raise DemoError(f"expected one accepted Fired alert, got {self.rec.facts['alerts']}")
        job = fired[0].response.get("job_name")
        if not job:
            raise DemoError(f"retrain_on_alert submitted no job: {fired[0].response}")
        # The action group delivers at least once: a redelivery must not start a second training job.
        status, raw = handler_poster(self.fn_retrain)(json.dumps(fired[0].payload).encode())
        redelivered = json.loads(raw)
        if redelivered.get("job_name") != job:
            raise DemoError(f"a redelivered alert got {status} {redelivered}, expected the first job {job}")
        self.rec.facts["alert_redelivery"] = {"status": status, "job_name": redelivered.get("job_name")}
        return str(job)

    # --- record, timeline, summary -------------------------------------------------------------------

    def _record(self, status: str, error: str | None, out: Path) -> dict[str, Any]:
        c = self.config
        return {
            "status": status,
            "error": error,
            "finished_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "total_seconds": self.rec.now(),
            "config": {
                "train_rows": c.train_rows,
                "labelled_rows": c.labelled_rows,
                "requests_per_phase": c.requests_per_phase,
                "shift": dict(c.shift),
                "drift_share": c.drift_share,
                "traffic_steps": c.traffic_steps,
                "step_dwell_seconds": c.step_dwell_seconds,
            },
            "settings": {
                k: ("(redacted)" if k == "STORAGE_CONNECTION_STRING" else v)
                for k, v in getattr(self, "env", {}).items()
            },
            "stages": [
                {
                    "name": s.name,
                    "seconds": s.seconds,
                    "ok": s.ok,
                    "outcome": s.outcome,
                    "start": round(s.started - self.rec.t0, 3),
                }
                for s in self.rec.stages
            ],
            "traffic": {
                "requests": self.sent.requests,
                "records": self.sent.records,
                "failed": self.sent.failed,
                "by_deployment": self.sent.by_deployment,
                "live_traffic_over_time": [{"t": t, "traffic": tr} for t, tr in self.rec.traffic],
            },
            "drift": self.rec.drift,
            **self.rec.facts,
            "artefacts": {
                "run": str(out / "run.json"),
                "timeline": str(out / "timeline.png"),
                "drift_report": str(out / "drift_report.html") if (out / "drift_report.html").exists() else None,
                "function_logs": str(out / "functions.log"),
            },
        }

    def _timeline(self, path: Path) -> None:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:  # the demo's record and report do not depend on it
            self.rec.say("matplotlib is not installed: no timeline.png")
            return
        stages = [s for s in self.rec.stages if s.ended is not None]
        end = max([self.rec.now(), 1.0, *[s.ended - self.rec.t0 for s in stages if s.ended is not None]])
        fig, (ax_s, ax_t, ax_d) = plt.subplots(
            3, 1, figsize=(12, 9), sharex=True, gridspec_kw={"height_ratios": [3, 2, 1.4]}
        )
        for i, s in enumerate(stages):
            start = s.started - self.rec.t0
            ax_s.barh(i, (s.ended or s.started) - s.started, left=start, color="tab:green" if s.ok else "tab:red")
        ax_s.set_yticks(range(len(stages)), [f"{s.name[:48]} ({s.seconds:.0f}s)" for s in stages], fontsize=7)
        ax_s.invert_yaxis()
        ax_s.set_title("MLOps loop, local mode: stages")
        # served requests per deployment in 2 s bins (stacked share)
        bins = max(int(end // 2) + 1, 1)
        deployments = sorted({d for _, d in self.sent.served})
        counts = {d: [0] * bins for d in deployments}
        for t, d in self.sent.served:
            counts[d][min(int(t // 2), bins - 1)] += 1
        xs = [i * 2 for i in range(bins)]
        totals = [sum(counts[d][i] for d in deployments) for i in range(bins)]
        shares = [[100 * counts[d][i] / totals[i] if totals[i] else 0 for i in range(bins)] for d in deployments]
        if deployments:
            ax_t.stackplot(xs, shares, labels=deployments, step="post", alpha=0.8)
            ax_t.legend(loc="upper left", fontsize=7)
        for t, traffic in self.rec.traffic:
            ax_t.axvline(t, color="grey", lw=0.5, ls=":")
            ax_t.text(t, 102, ",".join(f"{v}" for v in traffic.values()), fontsize=6, rotation=90, va="bottom")
        ax_t.set_ylabel("% of requests served")
        ax_t.set_ylim(0, 100)
        ax_t.set_title("traffic split over time (requests served per deployment; dotted: traffic set)", fontsize=9)
        for p in self.rec.drift:  # one bar over the window each drift job compared, placed at that window
            color = "tab:red" if p["share_drifted_features"] >= self.config.drift_share else "tab:blue"
            left, right = p["window"]
            share = p["share_drifted_features"]
            ax_d.bar(left, max(share, 0.01), width=max(right - left, 2.0), align="edge", color=color)
            ax_d.text((left + right) / 2, share + 0.03, f"{p['label']} {share:.2f}", fontsize=7, ha="center")
        ax_d.axhline(self.config.drift_share, color="tab:red", ls="--", lw=1, label="alert threshold")
        ax_d.set_ylim(0, 1)
        ax_d.set_ylabel("drift share")
        ax_d.set_xlabel("seconds since start")
        ax_d.legend(loc="upper left", fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    def _summary(self, record: Mapping[str, Any]) -> None:
        rows = [
            (s["name"], f"{s['seconds']:.1f}s", "ok" if s["ok"] else "FAILED", s["outcome"]) for s in record["stages"]
        ]
        width = max((len(r[0]) for r in rows), default=10)
        print("", file=self.stream)
        print(f"{'stage':<{width}}  {'time':>7}  result  outcome", file=self.stream)
        print(f"{'-' * width}  {'-' * 7}  ------  -------", file=self.stream)
        for name, seconds, ok, outcome in rows:
            print(f"{name:<{width}}  {seconds:>7}  {ok:<6}  {outcome[:110]}", file=self.stream)
        traffic = record["traffic"]
        print(
            f"\n{record['status'].upper()} in {record['total_seconds']:.0f}s: {traffic['requests']} requests "
            f"({traffic['records']:,} records) served by {traffic['by_deployment']}; "
            f"artefacts in {Path(record['artefacts']['run']).parent}/",
            file=self.stream,
        )


def run_demo(config: DemoConfig, stream: TextIO | None = None) -> dict[str, Any]:
    return Demo(config, stream).run()
