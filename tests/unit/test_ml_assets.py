"""ml_assets pieces without subprocesses: data generator, file validation, the gate, the local registry,
the Azure registration (fake MLClient at the models/jobs interface) and the scoring script's input checks."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from ml_assets.src.contracts.feature_schema import CATEGORIES, FEATURES, TARGET, parse_target
from ml_assets.src.scoring import score
from ml_assets.src.stores import azure_registry
from ml_assets.src.stores.local_registry import HOOK_ENV, LocalModelRegistry, LocalRegistryError
from ml_assets.src.training import register, synthetic
from ml_assets.src.training.curated_data import DataError, read_curated_file
from ml_assets.src.training.evaluate import decide

SAMPLE_REQUEST = Path(__file__).resolve().parents[2] / "ml_assets" / "endpoints" / "sample-request.json"


# --- synthetic data -----------------------------------------------------------------------------------


def test_generator_is_deterministic_and_in_the_schema():
    a = synthetic.generate(500, seed=3)
    b = synthetic.generate(500, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == [*FEATURES, TARGET]
    for name, values in CATEGORIES.items():
        assert set(a[name]) <= set(values), name
    assert a["age"].between(21, 79).all()
    assert a["credit_limit"].between(500, 50_000).all()
    assert (a["credit_limit"] % 500 == 0).all()
    assert set(a[TARGET]) == {"True", "False"}
    assert not synthetic.generate(500, seed=4).equals(a)


def test_generator_has_the_calibrated_structure():
    frame = synthetic.generate(8000, seed=1)
    rate = frame[TARGET].map(parse_target).mean()
    assert 0.18 < rate < 0.26
    assert np.corrcoef(frame["bill_amount_1"], frame["bill_amount_2"])[0, 1] > 0.8
    assert np.corrcoef(frame["bill_amount_1"], frame["credit_limit"])[0, 1] > 0.2
    assert np.corrcoef(frame["payment_amount_1"], frame["bill_amount_2"])[0, 1] > 0.2
    # delayed in the latest month → more defaults
    delayed = frame["repayment_status_1"].str.startswith("delay")
    target = frame[TARGET].map(parse_target)
    assert target[delayed].mean() > 2 * target[~delayed].mean()


def test_shift_moves_only_the_chosen_features():
    base = synthetic.generate(1000, seed=5)
    drifted = synthetic.generate(1000, seed=5, shift={"age": "+8", "credit_limit": "*1.5", "education": "other:0.5"})
    assert drifted["age"].mean() == pytest.approx(base["age"].mean() + 8, abs=0.5)
    assert drifted["credit_limit"].mean() > 1.4 * base["credit_limit"].mean()
    assert (drifted["education"] == "other").mean() > 0.4
    pd.testing.assert_series_equal(drifted["bill_amount_1"], base["bill_amount_1"])
    with pytest.raises(ValueError, match="sex"):
        synthetic.generate(10, shift={"sex": "unknown:0.5"})
    with pytest.raises(ValueError, match="not a feature"):
        synthetic.generate(10, shift={"salary": "+1"})


def test_generator_cli_writes_csv(tmp_path):
    out = tmp_path / "d.csv"
    assert synthetic.main(["--rows", "20", "--seed", "1", "--out", str(out), "--shift", "age=+5"]) == 0
    assert len(pd.read_csv(out)) == 20
    assert synthetic.main(["--rows", "20", "--out", str(out), "--shift", "age"]) == 2


# --- curated file validation ----------------------------------------------------------------------------


def _write(tmp_path: Path, frame: pd.DataFrame, name: str = "data.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False) if name.endswith(".csv") else frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("target_as", ["string", "bool", "int"])
def test_target_as_strings_booleans_or_numbers(tmp_path, target_as):
    frame = synthetic.generate(30, seed=1, target_as=target_as)
    for name in ("d.csv", "d.parquet"):
        out = read_curated_file(_write(tmp_path, frame, name))
        assert out[TARGET].tolist() == frame[TARGET].map(parse_target).tolist()


def test_bad_files_name_the_file_and_column(tmp_path):
    frame = synthetic.generate(30, seed=1)
    with pytest.raises(DataError, match=r"missing\.csv: column 'age' is missing"):
        read_curated_file(_write(tmp_path, frame.drop(columns=["age"]), "missing.csv"))
    bad = frame.copy()
    bad["bill_amount_3"] = bad["bill_amount_3"].astype(object)
    bad.loc[4, "bill_amount_3"] = "n/a"
    with pytest.raises(DataError, match=r"bad\.csv: column 'bill_amount_3', row 5 .*'n/a' is not a number"):
        read_curated_file(_write(tmp_path, bad, "bad.csv"))
    bad = frame.copy()
    bad.loc[2, "repayment_status_4"] = "delay_10_months"
    with pytest.raises(DataError, match=r"column 'repayment_status_4', row 3 .*'delay_10_months' is not one of"):
        read_curated_file(_write(tmp_path, bad, "cat.csv"))
    bad = frame.copy()
    bad.loc[1, "marriage"] = " "
    with pytest.raises(DataError, match=r"column 'marriage', row 2 .*is empty"):
        read_curated_file(_write(tmp_path, bad, "empty.csv"))
    bad = frame.copy()
    bad.loc[0, TARGET] = "maybe"
    with pytest.raises(DataError, match=r"default_payment_next_month', row 1: 'maybe'"):
        read_curated_file(_write(tmp_path, bad, "target.csv"))
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match=r"broken\.parquet: cannot be read"):
        read_curated_file(tmp_path / "broken.parquet")


def test_an_unknown_value_of_an_open_category_is_kept(tmp_path):
    frame = synthetic.generate(30, seed=1)
    frame.loc[2, "education"] = "phd"
    assert read_curated_file(_write(tmp_path, frame, "open.csv"))["education"].iloc[2] == "phd"


# --- the gate -------------------------------------------------------------------------------------------


def test_gate_accepts_the_first_and_better_models_and_refuses_worse_ones():
    assert decide({"roc_auc": 0.7}, None, 0.0)[0] is True
    assert decide({"roc_auc": 0.80}, {"roc_auc": 0.78}, 0.0)[0] is True
    register_, reason = decide({"roc_auc": 0.75}, {"roc_auc": 0.78}, 0.0)
    assert register_ is False and "0.7500 < champion 0.7800" in reason
    assert decide({"roc_auc": 0.785}, {"roc_auc": 0.78}, 0.01)[0] is False


# --- local registry -------------------------------------------------------------------------------------


def _fake_model(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    (folder / "model.pkl").write_bytes(b"x")
    return folder


def test_local_registry_versions_tags_hooks(tmp_path):
    seen = []
    registry = LocalModelRegistry(tmp_path / "registry", on_register=[seen.append])
    assert registry.latest("credit-default") is None
    first = registry.register("credit-default", _fake_model(tmp_path / "m"), tags={"auc": 0.8})
    second = registry.register("credit-default", _fake_model(tmp_path / "m"), description="d")
    assert (first.version, second.version) == (1, 2)
    assert registry.latest("credit-default") == second
    assert registry.get("credit-default", "1").tags == {"auc": "0.8"}
    assert (second.path / "MLmodel").is_file()
    meta = json.loads((tmp_path / "registry" / "credit-default" / "2" / "metadata.json").read_text())
    assert meta["version"] == 2 and meta["created"].endswith("Z")
    assert [m.version for m in seen] == [1, 2]
    with pytest.raises(LocalRegistryError, match="not an MLflow model"):
        registry.register("credit-default", tmp_path)
    with pytest.raises(LocalRegistryError, match="model name"):
        registry.latest("../escape")


def test_local_registry_skips_incomplete_versions_and_never_reuses_numbers(tmp_path):
    registry = LocalModelRegistry(tmp_path)
    registry.register("m", _fake_model(tmp_path / "src"))
    (tmp_path / "m" / "2").mkdir()  # a registration that crashed before writing its metadata
    assert registry.latest("m").version == 1
    assert registry.register("m", _fake_model(tmp_path / "src")).version == 3


def test_concurrent_registrations_get_distinct_versions(tmp_path):
    registry = LocalModelRegistry(tmp_path / "r")
    source = _fake_model(tmp_path / "src")
    versions: list[int] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        versions.append(LocalModelRegistry(tmp_path / "r").register("m", source).version)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(versions) == list(range(1, 9))
    assert [m.version for m in registry.versions("m")] == list(range(1, 9))


def test_environment_hook_runs_for_registrations_in_subprocesses(tmp_path, monkeypatch):
    monkeypatch.setenv(HOOK_ENV, "tests.unit.test_ml_assets:_record_hook")
    _HOOK_CALLS.clear()
    LocalModelRegistry(tmp_path).register("m", _fake_model(tmp_path / "src"))
    assert [(m.name, m.version) for m in _HOOK_CALLS] == [("m", 1)]


_HOOK_CALLS: list = []


def _record_hook(model) -> None:
    _HOOK_CALLS.append(model)


# --- Azure registration through a fake MLClient ------------------------------------------------------------


class _FakeModels:
    def __init__(self, versions=()):
        self.versions = list(versions)
        self.created = []
        self.downloads = []

    def list(self, name):
        return [SimpleNamespace(name=name, version=v) for v in self.versions]

    def download(self, name, version, download_path):
        self.downloads.append((name, version, download_path))

    def create_or_update(self, model):
        self.created.append(model)
        return SimpleNamespace(name=model.name, version="7", tags=model.tags, path="azureml://x", creation_context=None)


class _FakeJobs:
    def __init__(self, jobs):
        self.jobs = jobs

    def get(self, name):
        return self.jobs[name]


def _decision(folder: Path, register_: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "register": register_,
        "reason": "no champion: no version has been rolled out successfully yet",
        "challenger": {"metrics": {"roc_auc": 0.79, "f1": 0.5, "precision": 0.6, "recall": 0.4, "accuracy": 0.8}},
        "champion": None,
    }
    (folder / "decision.json").write_text(json.dumps(doc))
    return folder


def test_register_on_azure_builds_an_mlflow_model_with_tags(tmp_path, monkeypatch):
    from azure.ai.ml.entities import Model

    monkeypatch.setenv("MLOPS_MODE", "azure")
    monkeypatch.setenv("AZUREML_ROOT_RUN_ID", "pipeline-job-1")
    monkeypatch.delenv("GIT_COMMIT", raising=False)
    pipeline_job = SimpleNamespace(
        properties={"mlflow.source.git.commit": "abc123"},
        inputs={"training_data": SimpleNamespace(path="azureml:credit-default-training:4")},
    )
    client = SimpleNamespace(models=_FakeModels(), jobs=_FakeJobs({"pipeline-job-1": pipeline_job}))
    args = register.parse_args(
        [
            "--model_input", str(_fake_model(tmp_path / "model")),
            "--evaluation", str(_decision(tmp_path / "eval")),
            "--model_name", "credit-default",
            "--registration", str(tmp_path / "out"),
        ]
    )  # fmt: skip
    assert register.main(args, ml_client=client) == 0
    (model,) = client.models.created
    assert isinstance(model, Model)
    assert model.type == "mlflow_model" and model.name == "credit-default"
    assert model.tags["metric_roc_auc"] == "0.790000"
    assert model.tags["training_data"] == "credit-default-training:4"
    assert model.tags["training_data_version"] == "4"
    assert model.tags["pipeline_job"] == "pipeline-job-1"
    assert model.tags["git_commit"] == "abc123"
    result = json.loads((tmp_path / "out" / "registration.json").read_text())
    assert result["registered"] is True and result["version"] == "7"


def test_register_on_azure_attaches_the_data_quality_report(tmp_path, monkeypatch):
    from ml_assets.src.training import data_quality
    from ml_assets.src.training.data_quality_report import PROPERTY_LIMIT

    monkeypatch.setenv("MLOPS_MODE", "azure")
    monkeypatch.setenv("AZUREML_ROOT_RUN_ID", "pipeline-job-1")
    frame = synthetic.generate(300, seed=2)
    frame.loc[: len(frame) // 2, "education"] = [f"code-{i}" for i in range(len(frame) // 2 + 1)]
    data = tmp_path / "data"
    data.mkdir()
    frame.to_csv(data / "d.csv", index=False)
    gate = ["--training_data", str(data), "--quality_report", str(tmp_path / "quality")]
    assert data_quality.main(data_quality.parse_args(gate)) == 0
    client = SimpleNamespace(models=_FakeModels(), jobs=_FakeJobs({"pipeline-job-1": SimpleNamespace(properties={})}))
    args = register.parse_args(
        [
            "--model_input", str(_fake_model(tmp_path / "model")),
            "--evaluation", str(_decision(tmp_path / "eval")),
            "--model_name", "credit-default",
            "--data_quality", str(tmp_path / "quality"),
            "--registration", str(tmp_path / "out"),
        ]
    )  # fmt: skip
    assert register.main(args, ml_client=client) == 0
    (model,) = client.models.created
    assert model.tags["data_quality"] == "passed" and model.tags["data_quality_findings"] == "1"
    assert model.tags["data_quality_drifted_columns_share"] == "none"
    attached = model.properties["data_quality"]
    assert len(attached) <= PROPERTY_LIMIT
    summary = json.loads(attached)
    assert summary["status"] == "passed" and summary["findings_left_out"] == 0
    assert summary["findings"][0].startswith("education: 151 of 300 rows (50.33%) unknown ('code-0', 'code-1'")
    assert json.loads(model.properties["decision"])["register"] is True


def test_register_refuses_an_unreadable_data_quality_report(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLOPS_MODE", "azure")
    (tmp_path / "quality").mkdir()
    (tmp_path / "quality" / "quality.json").write_text("{not json")
    client = SimpleNamespace(models=_FakeModels(), jobs=_FakeJobs({}))
    args = register.parse_args(
        [
            "--model_input", str(_fake_model(tmp_path / "model")),
            "--evaluation", str(_decision(tmp_path / "eval")),
            "--model_name", "credit-default",
            "--data_quality", str(tmp_path / "quality"),
            "--registration", str(tmp_path / "out"),
        ]
    )  # fmt: skip
    assert register.main(args, ml_client=client) == 1
    assert client.models.created == []
    assert "quality.json: cannot read the data-quality report" in capsys.readouterr().err


def test_register_does_nothing_when_the_gate_said_no(tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_MODE", "azure")
    client = SimpleNamespace(models=_FakeModels(), jobs=_FakeJobs({}))
    args = register.parse_args(
        [
            "--model_input", str(_fake_model(tmp_path / "model")),
            "--evaluation", str(_decision(tmp_path / "eval", register_=False)),
            "--model_name", "credit-default",
            "--registration", str(tmp_path / "out"),
        ]
    )  # fmt: skip
    assert register.main(args, ml_client=client) == 0
    assert client.models.created == []
    assert json.loads((tmp_path / "out" / "registration.json").read_text())["registered"] is False


def test_the_champion_is_the_version_tagged_champion_not_the_highest():
    from azure.ai.ml.entities import Model

    def model(version: str, **tags: str) -> Model:
        return Model(name="m", version=version, path="azureml://datastores/x/paths/m", tags=tags)

    class Models(_FakeModels):
        def __init__(self, models):
            super().__init__()
            self.models = models

        def list(self, name):
            return list(self.models)

    # v10 was registered and rolled back: v9 serves and carries the tag
    tagged = Models([model("1"), model("10"), model("9", champion="2026-11-24T12:00:00.000000Z")])
    assert azure_registry.champion_version(SimpleNamespace(models=tagged), "m") == "9"
    # half-way through moving the tag, the version crowned last wins
    moving = Models(
        [model("9", champion="2026-11-24T12:00:00.000000Z"), model("11", champion="2026-11-25T08:00:00.000000Z")]
    )
    assert azure_registry.champion_version(SimpleNamespace(models=moving), "m") == "11"
    # registered versions but none ever served: no champion
    assert azure_registry.champion_version(SimpleNamespace(models=Models([model("1"), model("2")])), "m") is None
    assert azure_registry.champion_version(SimpleNamespace(models=_FakeModels()), "m") is None


def test_ml_client_needs_the_azure_ml_job_environment():
    with pytest.raises(azure_registry.AzureRegistryError, match="AZUREML_ARM_SUBSCRIPTION"):
        azure_registry.ml_client_from_environment({})


# --- score.py input checks --------------------------------------------------------------------------------


def _records() -> list[dict]:
    return json.loads(SAMPLE_REQUEST.read_text())["data"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"not json", "not valid JSON"),
        (b'{"records": []}', "'data' is missing"),
        (b'{"data": []}', "empty list"),
        (b'{"data": {}}', "must be a list"),
        (json.dumps({"data": [{k: v for k, v in _records()[0].items() if k != "age"}]}).encode(), "field 'age'"),
        (json.dumps({"data": [_records()[0], {**_records()[0], "age": "33"}]}).encode(), "record 1, field 'age'"),
        (json.dumps({"data": [{**_records()[0], "salary": 1}]}).encode(), "field 'salary': unknown column"),
        (json.dumps({"data": [{**_records()[0], "sex": "x" * 100}]}).encode(), "field 'sex': longer than"),
        (json.dumps({"data": _records() * 3}).encode(), "at most 5 per request"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_bad_requests_name_the_problem(body, expected):
    with pytest.raises(score.BadRequest, match=expected):
        score.parse_request(body, max_records=5)


def test_unknown_categories_are_counted():
    records = _records()
    records[1]["education"] = "doctorate"
    parsed = score.parse_request(json.dumps({"data": records}).encode(), max_records=5)
    assert parsed.unknown_categories == [0, 1]
    assert parsed.rows[1][FEATURES.index("education")] == "doctorate"


def test_model_identity_from_the_model_dir_or_settings():
    assert score.model_identity("/var/azureml-app/azureml-models/credit-default/3", {}) == ("credit-default", "3")
    assert score.model_identity("/tmp/model", {"MODEL_NAME": "m", "MODEL_VERSION": "2"}) == ("m", "2")
    assert score.deployment_name({"DEPLOYMENT_NAME": "green"}) == "green"
    assert score.deployment_name({}) == "local"


def test_register_on_azure_uploads_the_model_folder_with_its_reference_scores(tmp_path, monkeypatch):
    from ml_assets.src.contracts import prediction_reference as pr

    monkeypatch.setenv("MLOPS_MODE", "azure")
    monkeypatch.setenv("AZUREML_ROOT_RUN_ID", "pipeline-job-1")
    evaluation = _decision(tmp_path / "eval")
    pr.write_reference(evaluation, [0.1, 0.25, 0.9], source="test split")
    seen = {}

    class Models(_FakeModels):
        def create_or_update(self, model):
            # what the SDK uploads is the folder as it is now: the staged copy exists only during registration
            folder = Path(model.path)
            seen["files"] = sorted(p.name for p in folder.iterdir())
            seen["scores"] = pr.read_reference(folder).predictions
            return super().create_or_update(model)

    client = SimpleNamespace(models=Models(), jobs=_FakeJobs({"pipeline-job-1": SimpleNamespace(properties={})}))
    source = _fake_model(tmp_path / "model")
    args = register.parse_args(
        ["--model_input", str(source), "--evaluation", str(evaluation), "--model_name", "credit-default",
         "--registration", str(tmp_path / "out")]
    )  # fmt: skip
    assert register.main(args, ml_client=client) == 0

    (model,) = client.models.created
    assert "MLmodel" in seen["files"] and pr.FILE_NAME in seen["files"] and seen["scores"] == (0.1, 0.25, 0.9)
    assert model.tags[pr.TAG_FILE] == pr.FILE_NAME and model.tags[pr.TAG_ROWS] == "3"
    assert not (source / pr.FILE_NAME).exists()  # the input folder (read-only on Azure ML) is not written
