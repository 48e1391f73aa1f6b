"""The Azure ML environments' pip lists: what the tests install, the MLflow plugin a job needs, and pip's verdict.

The resolver is driven offline: pip with no index and a folder of wheels built here (metadata only, which is all
a dry run reads).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra.ml_environments import (
    ENVIRONMENTS,
    SpecError,
    conda_specs,
    disagreements,
    local_requirements,
    main,
    pip_requirements,
    resolve,
)

ML_ASSETS = ENVIRONMENTS.parent


def write_spec(folder: Path, name: str, pip: list[str]) -> Path:
    spec = folder / f"{name}.conda.yml"
    doc = {"name": name, "dependencies": ["python=3.11", "pip", {"pip": pip}]}
    spec.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return spec


def write_wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> None:
    dist = f"{name}-{version}.dist-info"
    metadata = "".join(
        [f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"] + [f"Requires-Dist: {r}\n" for r in requires]
    )
    wheel = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as archive:
        archive.writestr(f"{dist}/METADATA", metadata)
        archive.writestr(f"{dist}/WHEEL", wheel)
        archive.writestr(f"{dist}/RECORD", f"{dist}/METADATA,,\n{dist}/WHEEL,,\n{dist}/RECORD,,\n")


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    """A plugin capping its host below the host's newest version, as azureml-mlflow caps mlflow-skinny."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    write_wheel(folder, "host_pkg", "3.15.0")
    write_wheel(folder, "host_pkg", "3.18.0")
    write_wheel(folder, "plugin_pkg", "1.62.0", ("host_pkg<=3.15.0",))
    return folder


def test_every_environment_pins_what_the_tests_install() -> None:
    specs = conda_specs()
    assert {s.name for s in specs} >= {"train.conda.yml", "score.conda.yml", "drift.conda.yml"}
    local = local_requirements()
    assert {s.name: disagreements(s, local) for s in specs} == {s.name: [] for s in specs}
    assert main([]) == 0


def test_a_pin_other_than_the_tests_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path, "train", ["mlflow-skinny>=3.17,<4", "a-package-only-azure-ml-installs==1.0"])
    found = disagreements(spec, local_requirements())
    assert found == ["train.conda.yml: mlflow-skinny<4,>=3.17 but the tests install mlflow-skinny==3.15.0"]
    assert main([str(spec)]) == 1
    assert "mlflow-skinny<4,>=3.17 but the tests install" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (":\n  - [", "cannot read the conda spec"),
        ("name: x\n", "no dependencies list"),
        ("dependencies: [python=3.11, pip]\n", "expected one pip: list"),
        ("dependencies: [{pip: [1, 2]}]\n", "expected one pip: list"),
    ],
)
def test_a_spec_that_cannot_be_read_is_named(tmp_path: Path, text: str, message: str) -> None:
    spec = tmp_path / "broken.conda.yml"
    spec.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError, match=message) as raised:
        pip_requirements(spec)
    assert str(spec) in str(raised.value)
    assert main([str(spec)]) == 1


def test_the_training_environment_can_log_the_sweeps_metric_to_azure_ml() -> None:
    # In an Azure ML job MLFLOW_TRACKING_URI is azureml://…; MLflow knows that scheme only through the plugin.
    component = yaml.safe_load((ML_ASSETS / "components" / "train.yml").read_text(encoding="utf-8"))
    spec = (ML_ASSETS / "components" / component["environment"]["conda_file"]).resolve()
    names = [canonicalize_name(Requirement(r).name) for r in pip_requirements(spec)]
    assert "azureml-mlflow" in names and "mlflow-skinny" in names


def test_the_resolver_names_a_plugin_that_caps_a_pinned_package(tmp_path: Path, wheels: Path) -> None:
    spec = write_spec(tmp_path, "train", ["host_pkg>=3.17", "plugin_pkg==1.62.0"])
    reason = resolve(spec, pip_args=("--no-index", "--find-links", str(wheels)))
    assert reason is not None
    assert reason.startswith("ERROR") and "conflicting dependencies" in reason
    assert "host_pkg<=3.15.0" in reason


def test_the_resolver_accepts_a_list_that_fits_together(tmp_path: Path, wheels: Path) -> None:
    spec = write_spec(tmp_path, "train", ["host_pkg==3.15.0", "plugin_pkg==1.62.0"])
    assert resolve(spec, pip_args=("--no-index", "--find-links", str(wheels))) is None


def test_the_resolver_names_a_package_the_index_does_not_have(tmp_path: Path, wheels: Path) -> None:
    spec = write_spec(tmp_path, "score", ["no_such_pkg==1.0"])
    reason = resolve(spec, pip_args=("--no-index", "--find-links", str(wheels)))
    assert reason is not None and "no_such_pkg" in reason
