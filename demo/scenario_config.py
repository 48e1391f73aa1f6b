"""The demo's configuration (:class:`DemoConfig`: sizes, seed, drift, thresholds, scenario) and the app settings a
run passes to the app's code (:func:`app_settings`), which the run discloses where they differ from the defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demo.scenario_data import DEFAULT_SHIFT
from demo.stage_actions import TRAINING_ASSET
from ml_assets.src.contracts.alert_rules import PERFORMANCE_RULE_NAME


@dataclass
class DemoConfig:
    out: Path = Path("out/demo")  # each run in its own folder below it
    state_dir: Path | None = None  # default: a temporary folder, removed at the end (unless keep_state)
    keep_state: bool = False
    processes_dir: Path | None = None  # where its process groups are recorded (default: the state folder)
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
    # The training AUC the margin is measured from is the test split's: a few hundred rows at the demo's sizes,
    # a few hundredths of noise; the app's 0.05 assumes a real test set.
    performance_auc_margin: float = 0.1
    step_dwell_seconds: int = 4
    traffic_steps: str = "10,50,100"
    stage_timeout: float = 240.0
    seed: int = 7
    scenario: str = "default"  # or "bad-release"
    bad_release_error_share: float = 0.3  # of v2's routed requests answered 500 in the bad-release scenario
    train_inputs: Mapping[str, str] = field(default_factory=lambda: {"max_total_trials": "2"})

    def as_record(self) -> dict[str, Any]:
        """What run.json records of the configuration."""
        return {
            "scenario": self.scenario,
            "train_rows": self.train_rows,
            "labelled_rows": self.labelled_rows,
            "requests_per_phase": self.requests_per_phase,
            "shift": dict(self.shift),
            "drift_share": self.drift_share,
            "performance_auc_margin": self.performance_auc_margin,
            "traffic_steps": self.traffic_steps,
            "step_dwell_seconds": self.step_dwell_seconds,
        }


def app_settings(c: DemoConfig, state_dir: Path, container_suffix: str) -> dict[str, str]:
    """The app settings of a run with its state in ``state_dir``; ``container_suffix`` names its own containers."""
    return {
        "MLOPS_MODE": "local",
        "LOCAL_STATE_DIR": str(state_dir),
        "STORAGE_CONNECTION_STRING": c.storage_connection_string or "",  # empty: the host starts Azurite
        "STATE_CONTAINER": f"mlops-state{container_suffix}",
        "EXPORT_CONTAINER": f"inference-data{container_suffix}",
        "LABELS_CONTAINER": f"labels{container_suffix}",
        "MODEL_NAME": c.model_name,
        "ENDPOINT_NAME": c.endpoint_name,
        "EXPORT_INGESTION_DELAY": "PT1S",
        "EXPORT_INITIAL_LOOKBACK": "PT1H",
        "DRIFT_SHARE": str(c.drift_share),
        "DRIFT_MIN_ROWS": "100",
        "PERFORMANCE_AUC_MARGIN": str(c.performance_auc_margin),
        "TRAINING_DATA_ASSET": f"{TRAINING_ASSET}@latest",
        "RETRAIN_COOLDOWN": "PT1H",
        "RETRAIN_ALERT_RULES": PERFORMANCE_RULE_NAME,  # drift warns, performance decides
        "TRAINING_MAX_TRIALS": str(c.train_inputs.get("max_total_trials", "2")),
        "ROLLOUT_TRAFFIC_STEPS": c.traffic_steps,
        "ROLLOUT_STEP_DWELL": f"PT{c.step_dwell_seconds}S",
        "ROLLOUT_PROVISIONING_TIMEOUT": "PT3M",
        "ROLLOUT_MIRROR_PERCENT": "0",
        # The gates judge seconds-long steps of a 40 requests/s demo on a shared machine: fewer requests
        # suffice, a step waits a minute at most and then goes on (a demo must end; the record says so),
        # and a latency above v1's by less than 250 ms is noise (a new process's first answers are slow).
        "ROLLOUT_GATE_MIN_REQUESTS": "10",
        "ROLLOUT_GATE_LOW_TRAFFIC_WAIT": "PT1M",
        "ROLLOUT_GATE_LOW_TRAFFIC": "proceed",
        "ROLLOUT_GATE_LATENCY_SLACK_MS": "250",
        "ROLLOUT_BAKE": f"PT{c.step_dwell_seconds}S",
    }
