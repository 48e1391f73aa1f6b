"""What the demo discloses: the settings it passes that differ from the app's declared defaults (compared as
parsed values), computed from its actual settings, and its first training job's inputs against the pipeline YAML."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from demo.scenario import Demo, DemoConfig
from demo.setting_differences import (
    disclosure_lines,
    pipeline_input_differences,
    setting_differences,
)
from demo.stage_actions import TRAIN_PIPELINE
from shared.settings import Settings
from shared.settings_parsing import Setting, fraction
from tests.conftest import PROJECT_ROOT


def demo_env(tmp_path: Path, **config: object) -> dict[str, str]:
    return Demo(DemoConfig(**config), io.StringIO())._settings_env(tmp_path)  # type: ignore[arg-type]


def by_name(env: dict[str, str]) -> dict[str, tuple[str, str]]:
    return {d.name: (d.value, d.default) for d in setting_differences(env)}


def test_the_demo_discloses_its_drift_share_and_its_short_durations(tmp_path: Path) -> None:
    found = by_name(demo_env(tmp_path))
    assert found["DRIFT_SHARE"] == ("0.2", "0.5")
    assert found["MLOPS_MODE"] == ("local", "azure")
    assert found["EXPORT_INGESTION_DELAY"] == ("PT1S", "PT10M")
    assert found["ROLLOUT_STEP_DWELL"] == ("PT4S", "PT5M")
    # the gates' limits the demo loosens for seconds-long steps are disclosed too
    assert found["ROLLOUT_GATE_MIN_REQUESTS"] == ("10", "100")
    assert found["ROLLOUT_GATE_LATENCY_SLACK_MS"] == ("250", "25")
    assert found["ROLLOUT_GATE_LOW_TRAFFIC"] == ("proceed", "hold")
    assert found["ROLLOUT_GATE_LOW_TRAFFIC_WAIT"] == ("PT1M", "PT30M")
    assert found["ROLLOUT_BAKE"] == ("PT4S", "PT10M")
    assert "ROLLOUT_GATE_MAX_ERROR_SHARE" not in found  # the error limits are the app's own
    assert found["RETRAIN_COOLDOWN"] == ("PT1H", "PT6H")
    assert found["LOCAL_STATE_DIR"] == (str(tmp_path), ".local")
    # what the demo sets to the default value is not a difference
    for same in ("DRIFT_MIN_ROWS", "ROLLOUT_TRAFFIC_STEPS", "ROLLOUT_MIRROR_PERCENT", "MODEL_NAME", "STATE_CONTAINER"):
        assert same not in found
    assert "STORAGE_CONNECTION_STRING" not in found  # empty: the demo starts Azurite


def test_the_list_follows_the_declared_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = demo_env(tmp_path, drift_share=0.3)
    assert by_name(env)["DRIFT_SHARE"] == ("0.3", "0.5")
    monkeypatch.setattr(Settings, "drift_share", Setting("DRIFT_SHARE", "", fraction, "", default="0.30"))
    assert "DRIFT_SHARE" not in by_name(env)  # 0.3 == 0.30 once parsed


def test_values_are_compared_parsed_and_secrets_are_not_shown() -> None:
    found = by_name(
        {
            "EXPORT_WINDOW": "PT60M",  # the default PT1H
            "DRIFT_SHARE": "",  # empty reads as the default
            "EXPORT_INITIAL_LOOKBACK": "not a duration",
            "STORAGE_CONNECTION_STRING": "AccountKey=c2VjcmV0",
            "SOMETHING_ELSE": "1",
        }
    )
    assert found == {
        "EXPORT_INITIAL_LOOKBACK": ("not a duration", "P7D"),
        "STORAGE_CONNECTION_STRING": ("(redacted)", "(optional)"),
        "SOMETHING_ELSE": ("1", "(not an app setting)"),
    }
    assert list(found)[-1] == "SOMETHING_ELSE"  # undeclared names come last


def test_the_first_training_jobs_inputs_are_compared_with_the_pipeline_yaml() -> None:
    pipeline = PROJECT_ROOT / TRAIN_PIPELINE
    found = pipeline_input_differences(
        pipeline, {"max_total_trials": "2", "seed": "42", "model_name": "credit-default"}
    )
    assert [(d.name, d.value, d.default, d.where) for d in found] == [
        ("max_total_trials", "2", "20", "train_model.yml")
    ]
    assert pipeline_input_differences(pipeline, {"no_such_input": "1"})[0].default == "(not a pipeline input)"


def test_the_disclosure_is_one_aligned_line_per_difference(tmp_path: Path) -> None:
    demo = Demo(DemoConfig(), io.StringIO())
    differences = demo.differences(demo_env(tmp_path))
    lines = disclosure_lines(differences)
    assert len(lines) == len(differences) > 5
    drift = next(line for line in lines if line.startswith("DRIFT_SHARE "))
    assert drift.split() == ["DRIFT_SHARE", "0.2", "default", "0.5"]
    assert any(line.split()[:4] == ["max_total_trials", "2", "default", "20"] for line in lines)
    assert disclosure_lines([]) == ["the demo runs with the app's defaults"]
