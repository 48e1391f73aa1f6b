"""The model-performance pipeline job: its configuration, the labels it reads, and the request.

- **window**: as for drift (:func:`shared.services.drift_job.resolve_window`), of length ``PERFORMANCE_WINDOW``;
- **predictions**: the exported blobs of the model version whose ``hour=`` partition overlaps the window
  (:func:`~shared.services.drift_job.partition_blobs`), passed as that version's export folder;
- **labels** (:func:`label_files`): the files under ``LABELS_CONTAINER``/``LABELS_PREFIX``
  (``contracts/labels.py``), or, with ``LABELS_DATA_ASSET``, that asset pinned to one version. What the job reads
  is recorded, so that the next decision can tell whether labels arrived since;
- **training AUC**: the model's ``metric_roc_auc`` tag (its test split, written by the register step), for the
  alert's "below the training AUC by a margin";
- **request** (:func:`performance_job_request`): ``ml_assets/pipelines/model_performance.yml``, inputs overridden.

Plain Python: no Azure SDK import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from ml_assets.src.contracts.labels import is_labels_file
from ml_assets.src.contracts.telemetry_target import TELEMETRY_RESOURCE_INPUT
from ml_assets.src.contracts.telemetry_target import UNSET as TELEMETRY_UNSET
from shared.ports import AssetInput, BlobWriter, DataAssetVersions, ModelInfo, NotFoundError, PipelineJobRequest
from shared.services.drift_job import DriftTarget, version_folder
from shared.services.timestamps import iso_z
from shared.settings import Settings

PIPELINE_YAML: Final = "ml_assets/pipelines/model_performance.yml"
UNSET: Final = "none"
TAG_TRAINING_AUC: Final = "metric_roc_auc"  # register.build_tags: metric_<name> of the challenger's test metrics


@dataclass(frozen=True)
class PerformanceConfig:
    """The settings performance submission reads."""

    model_name: str
    window: timedelta
    export_prefix: str
    labels_prefix: str
    labels_data_asset: str | None
    compute: str
    min_coverage: float
    min_labelled: int
    threshold: float
    telemetry_resource: str | None = None  # None: the job's workspace's Application Insights
    pipeline_yaml: str = PIPELINE_YAML

    @classmethod
    def from_settings(cls, settings: Settings) -> PerformanceConfig:
        return cls(
            model_name=settings.model_name,
            window=settings.performance_window,
            export_prefix=settings.export_prefix.strip("/"),
            labels_prefix=settings.labels_prefix.strip("/"),
            labels_data_asset=settings.labels_data_asset or None,
            compute=settings.performance_compute,
            min_coverage=settings.performance_min_coverage,
            min_labelled=settings.performance_min_labelled,
            threshold=settings.performance_threshold,
            telemetry_resource=settings.job_telemetry_resource_id or None,
        )

    @property
    def experiment_name(self) -> str:
        return f"{self.model_name}-performance"


@dataclass(frozen=True)
class LabelState:
    """What the job would read as labels: the input path and the files (or the asset version) it stands for."""

    path: str
    files: tuple[str, ...]


def label_files(config: PerformanceConfig, labels: BlobWriter, versions: DataAssetVersions | None) -> LabelState:
    """The labels now: the label files under the prefix, or the data asset's latest (or pinned) version.
    No files (or no version): an empty ``files``."""
    asset = config.labels_data_asset
    if asset:
        name, _, version = asset.replace("@", ":", 1).partition(":")
        if version in ("", "latest"):
            try:
                known = versions.versions(name) if versions is not None else []
            except NotFoundError:
                known = []
            version = max(known, key=_version_order) if known else ""
        return LabelState(path=f"azureml:{name}:{version}", files=(f"{name}:{version}",) if version else ())
    prefix = f"{config.labels_prefix}/" if config.labels_prefix else ""
    try:
        names = labels.list(prefix)
    except NotFoundError:
        names = []
    return LabelState(path=prefix, files=tuple(sorted(n for n in names if is_labels_file(n))))


def _version_order(version: str) -> tuple[int, int | str]:
    return (0, int(version)) if version.isdigit() else (1, version)


def training_roc_auc(model: ModelInfo) -> float | None:
    try:
        value = float(model.tags.get(TAG_TRAINING_AUC, ""))
    except ValueError:
        return None
    return value if math.isfinite(value) and 0.0 < value <= 1.0 else None


def performance_job_request(
    config: PerformanceConfig,
    target: DriftTarget,
    *,
    export_url: str,
    labels_url: str,
    labels: LabelState,
    model: ModelInfo,
    labels_as_of: datetime,
) -> PipelineJobRequest:
    """The performance pipeline with its inputs overridden."""
    name, version, start, end = target.model, target.version, target.start, target.end
    labels_path = labels.path if labels.path.startswith("azureml:") else f"{labels_url}/{labels.path}"
    auc = training_roc_auc(model)
    return PipelineJobRequest(
        pipeline_yaml=config.pipeline_yaml,
        inputs={
            "predictions": AssetInput(
                type="uri_folder",
                path=f"{export_url}/{version_folder(config.export_prefix, name, version)}",
                mode="ro_mount",
            ),
            "labels": AssetInput(type="uri_folder", path=labels_path, mode="ro_mount"),
            "model_name": name,
            "model_version": version,
            "window_start": iso_z(start),
            "window_end": iso_z(end),
            "labels_as_of": iso_z(labels_as_of),
            "threshold": config.threshold,
            "min_coverage": config.min_coverage,
            "min_labelled": config.min_labelled,
            "training_roc_auc": auc if auc is not None else 0.0,
            TELEMETRY_RESOURCE_INPUT: config.telemetry_resource or TELEMETRY_UNSET,
        },
        experiment_name=config.experiment_name,
        display_name=f"performance {name}:{version} {start:%Y-%m-%d %H:%M}–{end:%Y-%m-%d %H:%M} UTC",
        tags={
            "mlops.purpose": "performance",
            "model_name": name,
            "model_version": version,
            "window_start": iso_z(start),
            "window_end": iso_z(end),
            "labels_as_of": iso_z(labels_as_of),
            "trigger": target.trigger,
        },
        compute=config.compute,
    )
