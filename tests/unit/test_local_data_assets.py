"""Local data assets (`ml_assets/src/stores/local_data_assets.py`, wrapped by `shared/local/data_assets.py`) and
the register step pinning `name@latest` to the exact version the model was trained on."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ml_assets.src.stores.local_data_assets import (
    DataAssetError,
    DataAssetNotFoundError,
    LocalDataAssets,
    data_assets_root,
    is_ref,
    parse_ref,
    pinned_version,
)
from ml_assets.src.training.register import pin_local_training_data
from shared.local.data_assets import LocalDataAssetStore
from shared.ports import NotFoundError, PlatformError


@pytest.fixture
def assets(tmp_path: Path) -> LocalDataAssets:
    return LocalDataAssets(data_assets_root(tmp_path / "state"))


def a_file(folder: Path, name: str = "train.csv", text: str = "a,b\n1,2\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def test_versions_count_from_one_and_latest_is_the_highest(tmp_path, assets):
    # given a file and a folder with a sub-folder
    source_file = a_file(tmp_path / "one")
    folder = tmp_path / "two"
    a_file(folder / "part", "b.csv", "b")
    a_file(folder, "a.csv", "a")

    # when both are registered
    first = assets.register("credit", source_file, description="first", tags={"rows": 1})
    second = assets.register("credit", folder)

    # then a file lands inside the version's data folder, a folder's contents keep their relative paths
    assert first == (1, data_assets_root(tmp_path / "state") / "credit" / "1" / "data")
    assert (first[1] / "train.csv").read_text() == "a,b\n1,2\n"
    assert second[0] == 2 and (second[1] / "a.csv").read_text() == "a" and (second[1] / "part" / "b.csv").is_file()
    latest = assets.latest("credit")
    assert latest is not None and latest.version == 2 and latest.ref == "credit:2"
    one = assets.get("credit", "1")
    assert (one.description, dict(one.tags), one.source) == ("first", {"rows": "1"}, str(source_file.resolve()))
    assert [v.version for v in assets.versions("credit")] == [1, 2] and assets.names() == ["credit"]
    assert assets.latest("other") is None


def test_every_reference_form_resolves_to_the_local_folder(tmp_path, assets):
    for _ in range(3):
        assets.register("credit", a_file(tmp_path / "src"))
    folder = data_assets_root(tmp_path / "state") / "credit"
    assert assets.resolve("azureml:credit:2") == folder / "2" / "data"
    assert assets.resolve("azureml:credit@latest") == folder / "3" / "data"
    assert assets.resolve("credit:1") == folder / "1" / "data"
    assert assets.resolve("credit@latest") == folder / "3" / "data"


def test_bad_references_say_what_is_wrong_and_what_exists(tmp_path, assets):
    assets.register("credit", a_file(tmp_path / "src"))
    assets.register("other", a_file(tmp_path / "src"))
    with pytest.raises(DataAssetNotFoundError, match=r"'credit:5'.*credit has versions 1"):
        assets.resolve("credit:5")
    with pytest.raises(DataAssetNotFoundError, match=r"'azureml:nope@latest'.*no data asset 'nope'.*credit, other"):
        assets.resolve("azureml:nope@latest")
    for bad, message in {
        "credit": "not a data asset reference",
        "credit:x": "not a positive integer",
        "credit:0": "not a positive integer",
        "credit@best": "the only label is @latest",
        "azureml://datastores/s/paths/p": "datastore URI",
        "bad name:1": "expected letters, digits",
        "": "not a data asset reference",
    }.items():
        with pytest.raises(DataAssetError, match=message):
            assets.resolve(bad)
        assert not is_ref(bad)
    assert parse_ref("azureml:credit-default-training@latest") == ("credit-default-training", None)
    assert parse_ref(" credit.v2:12 ") == ("credit.v2", 12)
    with pytest.raises(DataAssetError, match="does not exist"):
        assets.register("credit", tmp_path / "absent.csv")
    with pytest.raises(DataAssetError, match="data asset name"):
        assets.register("../escape", a_file(tmp_path / "src"))


def test_concurrent_registrations_get_distinct_versions(tmp_path, assets):
    source = a_file(tmp_path / "src")
    with ThreadPoolExecutor(max_workers=8) as pool:
        versions = list(pool.map(lambda i: assets.register("credit", source, tags={"i": i})[0], range(16)))
    assert sorted(versions) == list(range(1, 17))
    assert sorted(int(v.tags["i"]) for v in assets.versions("credit")) == list(range(16))


def test_a_version_without_metadata_is_invisible_and_its_number_not_reused(tmp_path, assets):
    assets.register("credit", a_file(tmp_path / "src"))
    (assets.root / "credit" / "2" / "data").mkdir(parents=True)  # a registration that crashed mid-copy
    assert assets.latest("credit").version == 1  # type: ignore[union-attr]
    with pytest.raises(DataAssetNotFoundError, match="credit has versions 1"):
        assets.get("credit", 2)
    assert assets.register("credit", a_file(tmp_path / "src"))[0] == 3


def test_the_app_wrapper_raises_the_port_errors(tmp_path):
    store = LocalDataAssetStore(tmp_path / "state")
    registered = store.register("credit", a_file(tmp_path / "src"), description="d")
    assert registered.version == 1 and store.lookup("azureml:credit@latest") == registered
    assert store.resolve("credit:1") == registered.path and store.names() == ["credit"]
    with pytest.raises(NotFoundError, match="credit:2"):
        store.resolve("credit:2")
    with pytest.raises(PlatformError, match="not a data asset reference"):
        store.resolve("credit")
    with pytest.raises(PlatformError, match="does not exist"):
        store.register("credit", tmp_path / "absent")


def test_register_pins_latest_to_the_version_the_job_resolved_else_the_latest(tmp_path, assets, capsys):
    state = tmp_path / "state"
    for _ in range(3):
        assets.register("credit-default-training", a_file(tmp_path / "src"))
    job = state / "jobs" / "train-1"
    job.mkdir(parents=True)
    (job / "job.json").write_text(json.dumps({"data_assets": {"credit-default-training": 2}}))
    env = {"LOCAL_STATE_DIR": str(state), "MLOPS_PIPELINE_JOB_NAME": "train-1"}

    # the job's inputs were resolved to version 2 at submission: that is what the model was trained on
    assert pinned_version(state, "train-1", "credit-default-training") == 2
    assert pin_local_training_data("credit-default-training@latest", env) == "credit-default-training:2"
    # no job record (e.g. a step run by hand): the latest version
    assert pin_local_training_data("azureml:credit-default-training@latest", {"LOCAL_STATE_DIR": str(state)}) == (
        "credit-default-training:3"
    )
    # an exact version or a path is kept as given
    assert pin_local_training_data("credit-default-training:1", env) == "credit-default-training:1"
    assert pin_local_training_data("/data/train", env) == "/data/train"
    # unresolvable: kept, with a warning (registration must not fail on a tag)
    assert pin_local_training_data("missing@latest", env) == "missing@latest"
    assert "warning: training data 'missing@latest' not resolved" in capsys.readouterr().out
