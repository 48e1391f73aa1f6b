"""The drift pipeline job: its configuration, the window, the reference data, the exported data, the request.

- **window** ``[start, end)`` (:func:`resolve_window`): the request's, else the last ``DRIFT_WINDOW`` up to the
  current whole hour (only ``window_end`` given: ``DRIFT_WINDOW`` before it; only ``window_start``: up to the
  current whole hour). An end in the future, or not after the start, is a :class:`PayloadError`;
- **reference data** (:func:`reference_path`): the model's training data, from its tags (written by
  ``ml_assets/src/training/register.py``): ``training_data_name`` + ``training_data_version``, else
  ``training_data`` (``name:version``, ``name@latest`` or a path/URI);
- **exported data** (:func:`partition_blobs`): the blobs under ``<EXPORT_PREFIX>/model=<m>/version=<v>/``
  (:mod:`ml_assets.src.contracts.export_layout`) whose ``hour=`` partition overlaps the window, and the export's
  quarantine files of the window (:func:`quarantine_blobs`, for the data quality);
- **reference scores** (:func:`prediction_reference_path`): the model version's own folder, when its tags say
  it carries them (:mod:`ml_assets.src.contracts.prediction_reference`);
- **request** (:func:`drift_job_request`): ``ml_assets/pipelines/data_drift.yml`` with its inputs overridden.

Whether a job is submitted at all is :mod:`shared.services.drift`'s decision. Plain Python: no Azure SDK import.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from ml_assets.src.contracts.export_layout import hour_overlaps, hours_between, parse_blob_path, parse_quarantine_path
from ml_assets.src.contracts.prediction_reference import has_reference
from ml_assets.src.contracts.telemetry_target import TELEMETRY_RESOURCE_INPUT
from ml_assets.src.contracts.telemetry_target import UNSET as TELEMETRY_UNSET
from shared.payloads import PayloadError
from shared.payloads.drift import DriftJobRequest
from shared.ports import AssetInput, BlobWriter, ModelInfo, PipelineJobRequest
from shared.services.timestamps import iso_z
from shared.settings import Settings

PIPELINE_YAML: Final = "ml_assets/pipelines/data_drift.yml"
UNSET: Final = "none"  # the pipeline's "not set" value for string inputs (see data_drift.yml)

# Model tags written by the register step (ml_assets/src/training/register.py: build_tags).
TAG_DATA_NAME: Final = "training_data_name"
TAG_DATA_VERSION: Final = "training_data_version"
TAG_DATA: Final = "training_data"


@dataclass(frozen=True)
class DriftConfig:
    """The settings drift submission reads."""

    model_name: str
    window: timedelta
    export_prefix: str
    compute: str
    min_rows: int
    drift_share: float
    stattest: str | None = None
    threshold: float | None = None
    quarantine_prefix: str = "quarantine"
    telemetry_resource: str | None = None  # None: the job's workspace's Application Insights
    pipeline_yaml: str = PIPELINE_YAML

    @classmethod
    def from_settings(cls, settings: Settings) -> DriftConfig:
        return cls(
            model_name=settings.model_name,
            window=settings.drift_window,
            export_prefix=settings.export_prefix.strip("/"),
            quarantine_prefix=settings.quarantine_prefix.strip("/"),
            compute=settings.drift_compute,
            min_rows=settings.drift_min_rows,
            drift_share=settings.drift_share,
            stattest=settings.drift_stattest,
            threshold=settings.drift_threshold,
            telemetry_resource=settings.job_telemetry_resource_id or None,
        )

    @property
    def experiment_name(self) -> str:
        return f"{self.model_name}-drift"


@dataclass(frozen=True)
class DriftTarget:
    """What one call decides about: a model version, a window, and what asked."""

    model: str
    version: str
    start: datetime
    end: datetime
    trigger: str


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def resolve_window(request: DriftJobRequest, now: datetime, length: timedelta) -> tuple[datetime, datetime]:
    current_hour = floor_hour(now)
    end = request.window_end or current_hour
    start = request.window_start or (end - length if request.window_end else current_hour - length)
    if request.window_start is not None and request.window_end is None and start >= end:
        raise PayloadError(
            "window_start", f"must be before the current whole hour {iso_z(current_hour)} when window_end is not given"
        )
    if end > now:
        raise PayloadError("window_end", f"{iso_z(end)} is in the future (now {iso_z(now)})")
    if end <= start:
        raise PayloadError("window_end", f"must be after window_start ({iso_z(end)} <= {iso_z(start)})")
    return start, end


def reference_path(model: ModelInfo) -> str | None:
    """The training data of ``model`` as a job input path, from its tags; None when the tags lack it."""
    tags = model.tags
    name, version = tags.get(TAG_DATA_NAME, "").strip(), tags.get(TAG_DATA_VERSION, "").strip()
    if name and version and version != "latest":
        return f"azureml:{name}:{version}"
    value = tags.get(TAG_DATA, "").strip()
    if not value:
        return f"azureml:{name}@latest" if name else None
    if "://" in value or value.startswith(("azureml:", "/", ".")):
        return value  # a URI, an azureml: reference or a local path (local mode)
    asset, sep, rest = value.partition("@")
    if sep:
        return f"azureml:{asset}@{rest}"
    return f"azureml:{value}"


def version_folder(export_prefix: str, model: str, version: str) -> str:
    """The folder of one model version's exported data (with a trailing slash)."""
    return f"{export_prefix}/model={model}/version={version}/"


def partition_blobs(export: BlobWriter, export_prefix: str, target: DriftTarget) -> list[str]:
    """Exported Parquet blobs of the target's model version whose hour partition overlaps its window."""
    model, version = target.model, target.version
    selected = []
    for name in export.list(version_folder(export_prefix, model, version)):
        parsed = parse_blob_path(name)
        if parsed is None or not name.endswith(".parquet"):
            continue
        _, partition, _ = parsed
        if partition.model != model or partition.version != version:
            continue
        if hour_overlaps(partition.start, target.start, target.end):
            selected.append(name)
    return sorted(selected)


def quarantine_blobs(export: BlobWriter, quarantine_prefix: str, target: DriftTarget) -> list[str]:
    """The export's quarantine files whose ``hour=`` partition overlaps the target's window (listed day by day)."""
    days = sorted({moment.date() for moment in hours_between(target.start, target.end)})
    selected = []
    for day in days:
        for name in export.list(f"{quarantine_prefix}/date={day.isoformat()}/"):
            parsed = parse_quarantine_path(name)
            if parsed is not None and hour_overlaps(parsed[1], target.start, target.end):
                selected.append(name)
    return sorted(selected)


def prediction_reference_path(model: ModelInfo) -> str | None:
    """The model version as a job input (its folder holds the reference scores), or None when it has none."""
    return model.path if model.path and has_reference(model.tags) else None


@dataclass(frozen=True)
class DriftInputs:
    """What one job compares: the training data, the exported blobs, the quarantine files, the reference scores."""

    reference: str
    blobs: list[str]
    quarantine: list[str]
    prediction_reference: str | None

    @property
    def all_blobs(self) -> list[str]:
        """Every blob the job reads (what "no new data" compares)."""
        return sorted({*self.blobs, *self.quarantine})


def drift_job_request(
    config: DriftConfig, export_url: str, target: DriftTarget, inputs: DriftInputs
) -> PipelineJobRequest:
    """The drift pipeline with its inputs overridden: the training data, the model version's exported data
    (a read-only mount; the component keeps the window's partitions and rows), the quarantine of the window's
    days and the model version's folder with its reference scores (each only when there is one), the window, the
    drift settings."""
    model, version, start, end = target.model, target.version, target.start, target.end
    export_folder = f"{export_url}/{version_folder(config.export_prefix, model, version)}"
    optional: dict[str, AssetInput] = {}
    if inputs.quarantine:
        quarantine_folder = f"{export_url}/{config.quarantine_prefix}/"
        optional["quarantine_data"] = AssetInput(type="uri_folder", path=quarantine_folder, mode="ro_mount")
    if inputs.prediction_reference:
        optional["prediction_reference"] = AssetInput(
            type="mlflow_model", path=inputs.prediction_reference, mode="ro_mount"
        )
    return PipelineJobRequest(
        pipeline_yaml=config.pipeline_yaml,
        inputs={
            "reference_data": AssetInput(type="uri_folder", path=inputs.reference),
            "target_data": AssetInput(type="uri_folder", path=export_folder, mode="ro_mount"),
            **optional,
            "model_name": model,
            "model_version": version,
            "window_start": iso_z(start),
            "window_end": iso_z(end),
            "stattest": config.stattest or UNSET,
            "threshold": config.threshold if config.threshold is not None else 0.0,
            "drift_share": config.drift_share,
            "min_rows": config.min_rows,
            TELEMETRY_RESOURCE_INPUT: config.telemetry_resource or TELEMETRY_UNSET,
        },
        experiment_name=config.experiment_name,
        display_name=f"drift {model}:{version} {start:%Y-%m-%d %H:%M}–{end:%Y-%m-%d %H:%M} UTC",
        tags={
            "mlops.purpose": "drift",
            "model_name": model,
            "model_version": version,
            "window_start": iso_z(start),
            "window_end": iso_z(end),
            "trigger": target.trigger,
        },
        compute=config.compute,
    )
