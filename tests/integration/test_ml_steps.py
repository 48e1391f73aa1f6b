"""The pipeline steps in-process on generated data (prepare → train → evaluate → register in local mode), the
champion gate against a real local registry, and the saved model loading without this project's code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ml_assets.src.contracts.champion import CHAMPION_TAG
from ml_assets.src.stores.local_registry import LocalModelRegistry, registry_root
from ml_assets.src.training import evaluate, prepare, register, synthetic, train


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    root = tmp_path_factory.mktemp("steps")
    data = root / "data"
    data.mkdir()
    synthetic.generate(1500, seed=11).to_csv(data / "part-1.csv", index=False)
    synthetic.generate(500, seed=12, target_as="bool").to_parquet(data / "part-2.parquet", index=False)
    args = prepare.parse_args(
        ["--training_data", str(data), "--train_data", str(root / "train"), "--test_data", str(root / "test")]
    )
    assert prepare.main(args) == 0
    return root


def _train(root: Path, name: str, *extra: str) -> Path:
    out = root / name
    args = train.parse_args(["--train_data", str(root / "train"), "--model_output", str(out), *extra])
    assert train.main(args) == 0
    return out


@pytest.fixture(scope="module")
def good_model(splits):
    return _train(splits, "good-model")


@pytest.fixture(scope="module")
def weak_model(splits):
    return _train(splits, "weak-model", "--max_iter", "1", "--max_leaf_nodes", "2")


@pytest.fixture
def local_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_MODE", "local")
    monkeypatch.setenv("LOCAL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MLOPS_PIPELINE_JOB_NAME", "job-1")
    return tmp_path / "state"


def test_prepare_writes_a_deterministic_stratified_split(splits, tmp_path):
    import pandas as pd

    train_df = pd.read_parquet(splits / "train" / "train.parquet")
    test_df = pd.read_parquet(splits / "test" / "test.parquet")
    assert (len(train_df), len(test_df)) == (1600, 400)
    assert set(test_df["default_payment_next_month"]) == {0, 1}
    again = prepare.parse_args(
        [
            "--training_data", str(splits / "data"),
            "--train_data", str(tmp_path / "tr"),
            "--test_data", str(tmp_path / "te"),
        ]
    )  # fmt: skip
    assert prepare.main(again) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "te" / "test.parquet"), test_df)


def test_prepare_fails_naming_the_bad_file_and_column(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    synthetic.generate(100, seed=1).to_csv(data / "good.csv", index=False)
    synthetic.generate(100, seed=2).drop(columns=["marriage"]).to_csv(data / "bad.csv", index=False)
    args = prepare.parse_args(
        ["--training_data", str(data), "--train_data", str(tmp_path / "a"), "--test_data", str(tmp_path / "b")]
    )
    assert prepare.main(args) == 1
    assert "bad.csv: column 'marriage' is missing" in capsys.readouterr().err


def _evaluate(splits: Path, model: Path, out: Path, min_improvement: str = "0") -> dict:
    args = evaluate.parse_args(
        [
            "--model_input", str(model),
            "--test_data", str(splits / "test"),
            "--model_name", "credit-default",
            "--min_improvement", min_improvement,
            "--evaluation", str(out),
        ]
    )  # fmt: skip
    assert evaluate.main(args) == 0
    return json.loads((out / "decision.json").read_text())


def _register(model: Path, evaluation: Path, out: Path) -> dict:
    args = register.parse_args(
        [
            "--model_input", str(model),
            "--evaluation", str(evaluation),
            "--model_name", "credit-default",
            "--training_data_asset", "credit-default-training:3",
            "--registration", str(out),
        ]
    )  # fmt: skip
    assert register.main(args) == 0
    return json.loads((out / "registration.json").read_text())


def test_gate_first_model_then_refuses_worse_then_accepts_better(splits, good_model, weak_model, local_mode, tmp_path):
    registry = LocalModelRegistry(registry_root(local_mode))

    # Given no registered model, when the weak model is evaluated, then it is registered as version 1.
    first = _evaluate(splits, weak_model, tmp_path / "e1")
    assert first["register"] is True and first["champion"] is None
    assert _register(weak_model, tmp_path / "e1", tmp_path / "r1")["version"] == "1"
    _crown(registry, 1, "2026-11-24T12:00:00.000000Z")  # its rollout succeeded: it serves

    # Given the weak champion, a better challenger is registered; its tags carry metrics, data, job and reason.
    better = _evaluate(splits, good_model, tmp_path / "e2")
    assert better["register"] is True
    assert better["challenger"]["metrics"]["roc_auc"] > better["champion"]["metrics"]["roc_auc"]
    assert better["champion"]["version"] == "1"
    assert _register(good_model, tmp_path / "e2", tmp_path / "r2")["version"] == "2"
    tags = registry.latest("credit-default").tags
    assert tags["metric_roc_auc"] == f"{better['challenger']['metrics']['roc_auc']:.6f}"
    trial = _metadata(good_model)["trial"]
    assert tags["hp_max_iter"] == "80" and tags["validation_roc_auc"] == f"{trial['validation_roc_auc']:.6f}"
    assert tags["training_data_version"] == "3" and tags["pipeline_job"] == "job-1"
    assert tags["previous_champion"] == "1"
    _crown(registry, 2, "2026-11-24T13:00:00.000000Z")

    # Given the good champion, the weak model is refused and nothing is registered.
    worse = _evaluate(splits, weak_model, tmp_path / "e3")
    assert worse["register"] is False
    assert "< champion" in worse["reason"]
    assert worse["champion"]["version"] == "2"
    assert _register(weak_model, tmp_path / "e3", tmp_path / "r3")["registered"] is False
    assert [m.version for m in registry.versions("credit-default")] == [1, 2]


def test_register_stores_the_test_split_scores_in_the_model_folder_and_tags_them(
    splits, good_model, local_mode, tmp_path
):
    import pandas as pd

    from ml_assets.src.contracts import prediction_reference as pr
    from ml_assets.src.training.model import load_model, predict_default_probability

    # Given the evaluation of a model on the test split, when it is registered
    _evaluate(splits, good_model, tmp_path / "e")
    registered = _register(good_model, tmp_path / "e", tmp_path / "r")

    # Then the registered model folder holds exactly the model's scores of the test split, bit for bit
    model = LocalModelRegistry(registry_root(local_mode)).latest("credit-default")
    stored = pr.read_reference(model.path)
    test = pd.read_parquet(splits / "test" / "test.parquet")
    expected = predict_default_probability(load_model(good_model), test)
    assert stored.predictions == tuple(expected.tolist()) and stored.source == "test split"
    assert stored.positive_rate == pytest.approx(test["default_payment_next_month"].mean(), abs=1e-6)
    assert (model.path / "MLmodel").is_file() and pr.find_reference(model.path) == model.path / pr.FILE_NAME

    # And the tags say so (what the drift submission reads), and the input model folder is untouched
    assert registered["tags"][pr.TAG_FILE] == pr.FILE_NAME and registered["tags"][pr.TAG_ROWS] == str(len(test))
    assert pr.has_reference(model.tags)
    assert not (good_model / pr.FILE_NAME).exists()


def test_register_without_reference_scores_registers_without_the_tag(splits, good_model, local_mode, tmp_path):
    from ml_assets.src.contracts import prediction_reference as pr

    _evaluate(splits, good_model, tmp_path / "e")
    (tmp_path / "e" / pr.FILE_NAME).unlink()  # an evaluate step from before the reference existed

    registered = _register(good_model, tmp_path / "e", tmp_path / "r")

    assert registered["registered"] is True and pr.TAG_FILE not in registered["tags"]
    model = LocalModelRegistry(registry_root(local_mode)).latest("credit-default")
    assert pr.find_reference(model.path) is None and not pr.has_reference(model.tags)


def _crown(registry: LocalModelRegistry, version: int, since: str) -> None:
    """What the app's reconcile timer does once a version's rollout succeeded (shared/services/champion.py)."""
    for other in registry.versions("credit-default"):
        if other.version != version and CHAMPION_TAG in other.tags:
            registry.update_tags("credit-default", other.version, set_tags={}, remove=(CHAMPION_TAG,))
    registry.update_tags("credit-default", version, set_tags={CHAMPION_TAG: since})


def test_after_a_rollback_the_gate_compares_with_the_version_that_serves(
    splits, good_model, weak_model, local_mode, tmp_path
):
    registry = LocalModelRegistry(registry_root(local_mode))
    # v1 (weak) serves; v2 (good) is registered but its rollout was rolled back: it never carries the tag.
    assert _register(weak_model, _evaluate_dir(splits, weak_model, tmp_path / "e1"), tmp_path / "r1")["version"] == "1"
    _crown(registry, 1, "2026-11-24T12:00:00.000000Z")
    assert _register(good_model, _evaluate_dir(splits, good_model, tmp_path / "e2"), tmp_path / "r2")["version"] == "2"

    # The next challenger is judged against v1, the version serving, not against v2, the latest registered.
    decision = _evaluate(splits, weak_model, tmp_path / "e3", min_improvement="-0.001")
    assert decision["champion"]["version"] == "1"
    assert decision["register"] is True


def _evaluate_dir(splits: Path, model: Path, out: Path) -> Path:
    _evaluate(splits, model, out)
    return out


def _metadata(model: Path) -> dict:
    from mlflow.models import Model

    return Model.load(str(model / "MLmodel")).metadata


def _all_rows_fit(features, target, **params):
    from ml_assets.src.training.model import Hyperparameters, build_pipeline

    return build_pipeline(Hyperparameters(**params)).fit(features, target)


def test_train_cross_validates_on_the_train_split_logs_the_mean_and_saves_a_fit_on_every_row(
    splits, tmp_path, monkeypatch
):
    import numpy as np
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from ml_assets.src.training.model import load_model, predict_default_probability

    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    model = _train(splits, "validated", "--cv_folds", "4", "--max_iter", "20")

    record = _metadata(model)["trial"]
    features, target = train.read_split(splits / "train")
    assert record["fit_rows"] == record["validation_rows"] == len(features)
    # the folds recomputed here, independently of the step's helpers
    expected = []
    for fit_at, scored_at in StratifiedKFold(4, shuffle=True, random_state=42).split(features, target):
        fold = _all_rows_fit(features.iloc[fit_at], target.iloc[fit_at], max_iter=20)
        expected.append(
            roc_auc_score(target.iloc[scored_at], predict_default_probability(fold, features.iloc[scored_at]))
        )
    assert record["validation_folds"] == 4
    assert record["validation_fold_scores"] == pytest.approx(expected)
    assert record["validation_roc_auc"] == pytest.approx(np.mean(expected))
    # the saved model is the fit on every row of the train split, not one of the folds' fits
    saved = predict_default_probability(load_model(model), features)
    np.testing.assert_allclose(
        saved, predict_default_probability(_all_rows_fit(features, target, max_iter=20), features)
    )
    logged = list((tmp_path / "mlruns").glob("*/*/metrics/validation_roc_auc"))
    assert len(logged) == 1 and float(logged[0].read_text().split()[1]) == pytest.approx(record["validation_roc_auc"])


def test_train_with_one_fold_scores_a_held_out_part_and_still_saves_a_fit_on_every_row(splits, tmp_path):
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from ml_assets.src.training.model import load_model, predict_default_probability

    model = _train(splits, "held-out", "--cv_folds", "1", "--validation_size", "0.25", "--max_iter", "20")

    record = _metadata(model)["trial"]
    features, target = train.read_split(splits / "train")
    assert record["fit_rows"] == len(features) and record["validation_rows"] == len(features) // 4
    assert "validation_folds" not in record
    fit_x, val_x, fit_y, val_y = train.validation_split(features, target, 0.25, 42)
    part = _all_rows_fit(fit_x, fit_y, max_iter=20)
    assert record["validation_roc_auc"] == pytest.approx(roc_auc_score(val_y, predict_default_probability(part, val_x)))
    saved = predict_default_probability(load_model(model), features)
    np.testing.assert_allclose(
        saved, predict_default_probability(_all_rows_fit(features, target, max_iter=20), features)
    )


@pytest.mark.parametrize("size", ["0", "0.6", "-0.1"])
def test_train_refuses_a_validation_size_outside_the_range(splits, tmp_path, size, capsys):
    args = train.parse_args(
        [
            "--train_data", str(splits / "train"), "--model_output", str(tmp_path / "m"),
            "--cv_folds", "1", "--validation_size", size,
        ]
    )  # fmt: skip
    assert train.main(args) == 2
    assert f"validation_size {float(size)} is not in (0, 0.5]" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("folds", ["0", "21", "-3"])
def test_train_refuses_a_fold_count_outside_the_range(splits, tmp_path, folds, capsys):
    args = train.parse_args(
        ["--train_data", str(splits / "train"), "--model_output", str(tmp_path / "m"), "--cv_folds", folds]
    )
    assert train.main(args) == 2
    assert f"cv_folds {int(folds)} is not in 1..20" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_train_refuses_more_folds_than_rows_of_a_class(tmp_path, capsys):
    from ml_assets.src.contracts.feature_schema import TARGET
    from ml_assets.src.training.synthetic import generate

    frame = generate(40, seed=3, target_as="int")
    frame[TARGET] = [1, 1, 1] + [0] * 37
    (tmp_path / "train").mkdir()
    frame.to_parquet(tmp_path / "train" / "train.parquet")
    args = train.parse_args(["--train_data", str(tmp_path / "train"), "--model_output", str(tmp_path / "m")])
    assert train.main(args) == 2
    assert "needs at least 5 rows of each class to score 5 folds" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_metrics_are_all_reported(splits, good_model, local_mode, tmp_path):
    _evaluate(splits, good_model, tmp_path / "e")
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert set(metrics) == {"roc_auc", "f1", "precision", "recall", "accuracy"}
    assert metrics["roc_auc"] > 0.7


def test_saved_model_loads_without_the_project_code(good_model, tmp_path):
    """The feature transformer is pickled by value: a process that cannot import ml_assets/src scores it."""
    sample = Path(__file__).resolve().parents[2] / "ml_assets" / "endpoints" / "sample-request.json"
    code = (
        "import sys, json, pandas as pd, mlflow.sklearn\n"
        "assert not any(p.endswith('/work/main') or p.endswith('ml_assets') for p in sys.path)\n"
        f"m = mlflow.sklearn.load_model({str(good_model)!r})\n"
        f"data = json.load(open({str(sample)!r}))\n"
        "p = m.predict_proba(pd.DataFrame(data['data']))[:, 1]\n"
        "assert 'src' not in sys.modules and 'ml_assets' not in sys.modules\n"
        "print(json.dumps(p.tolist()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    probabilities = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(probabilities) == 2 and all(0 < p < 1 for p in probabilities)


def test_mlflow_model_has_signature_and_example(good_model):
    from mlflow.models import Model

    meta = Model.load(str(good_model / "MLmodel"))
    assert [c.name for c in meta.signature.inputs] == list(synthetic.FEATURES)
    assert meta.saved_input_example_info is not None
    assert meta.flavors["python_function"]["predict_fn"] == "predict_proba"
    assert meta.metadata["hyperparameters"]["max_iter"] == 80
