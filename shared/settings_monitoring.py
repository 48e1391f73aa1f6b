"""The settings of model monitoring: the drift jobs (inference data against the training data) and the
performance jobs (predictions against ground-truth labels, and where those labels arrive). Groups of
:class:`shared.settings.Settings`; not used alone."""

from __future__ import annotations

from shared.settings_parsing import (
    Setting,
    azure_name,
    blob_prefix,
    container_name,
    data_asset_ref,
    duration_setting,
    fraction,
    positive_int,
    probability,
    schedule_setting,
    stattest,
)


class DriftSettings:
    """Drift: the scheduled job, its compute, its tests and thresholds."""

    drift_schedule = schedule_setting(
        "DRIFT_SCHEDULE",
        "NCRONTAB schedule of `submit_drift_job` (%DRIFT_SCHEDULE%).",
        default="0 30 2 * * *",
    )
    drift_window = duration_setting(
        "DRIFT_WINDOW",
        "Inference data window that a scheduled drift job compares with the training data.",
        default="P1D",
    )
    drift_compute = Setting(
        "DRIFT_COMPUTE",
        "Azure ML compute cluster for the drift pipeline.",
        azure_name,
        "a compute name",
        default="cpu-cluster",
    )
    drift_min_rows = Setting(
        "DRIFT_MIN_ROWS",
        "Fewer inference rows than this end a drift run with a message and no metrics.",
        positive_int,
        "a positive integer",
        default="100",
    )
    drift_stattest = Setting(
        "DRIFT_STATTEST",
        "Statistical test for every feature (Evidently name); empty: Evidently's default per column type.",
        stattest,
        "an Evidently stattest name such as psi or ks",
        optional=True,
    )
    drift_threshold = Setting(
        "DRIFT_THRESHOLD",
        "Per-feature drift threshold (p-value for tests, distance for PSI/Wasserstein); empty: the test's default.",
        probability,
        "a number in (0, 1)",
        optional=True,
    )
    drift_share = Setting(
        "DRIFT_SHARE",
        "Share of drifted features from which the dataset counts as drifted.",
        fraction,
        "a number in (0, 1]",
        default="0.5",
    )


class PerformanceSettings:
    """Model performance against ground truth, and where the labels arrive."""

    performance_schedule = schedule_setting(
        "PERFORMANCE_SCHEDULE",
        "NCRONTAB schedule of `submit_performance_job` (%PERFORMANCE_SCHEDULE%); it submits only when labels arrived.",
        default="0 45 * * * *",
    )
    performance_window = duration_setting(
        "PERFORMANCE_WINDOW",
        "Prediction window a scheduled performance job scores against the labels known so far.",
        default="P30D",
    )
    performance_compute = Setting(
        "PERFORMANCE_COMPUTE",
        "Azure ML compute cluster for the model-performance pipeline.",
        azure_name,
        "a compute name",
        default="cpu-cluster",
    )
    performance_min_coverage = Setting(
        "PERFORMANCE_MIN_COVERAGE",
        "Least share of a window's predictions with a label; below it a performance run is skipped, nothing sent.",
        fraction,
        "a number in (0, 1]",
        default="0.2",
    )
    performance_min_labelled = Setting(
        "PERFORMANCE_MIN_LABELLED",
        "Least number of labelled predictions for a performance run to send figures.",
        positive_int,
        "a positive integer",
        default="100",
    )
    performance_threshold = Setting(
        "PERFORMANCE_THRESHOLD",
        "Probability of default from which a prediction counts as positive (precision, recall, F1).",
        probability,
        "a number in (0, 1)",
        default="0.5",
    )
    performance_auc_floor = Setting(
        "PERFORMANCE_AUC_FLOOR",
        "The performance alert fires when ROC AUC against ground truth is below this.",
        probability,
        "a number in (0, 1)",
        default="0.65",
    )
    performance_auc_margin = Setting(
        "PERFORMANCE_AUC_MARGIN",
        "The performance alert fires when ROC AUC is this far below the model's training (test-split) AUC.",
        probability,
        "a number in (0, 1)",
        default="0.05",
    )
    labels_container = Setting(
        "LABELS_CONTAINER",
        "Blob container where ground-truth label files (CSV/Parquet: id, label, label_time) arrive.",
        container_name,
        "a blob container name",
        default="labels",
    )
    labels_prefix = Setting(
        "LABELS_PREFIX",
        "Prefix of the label files in LABELS_CONTAINER (any sub-folders below it).",
        blob_prefix,
        "a blob prefix",
        default="labels",
    )
    labels_data_asset = Setting(
        "LABELS_DATA_ASSET",
        "Instead of the container: the labels as an Azure ML data asset (`name@latest` or `name:version`).",
        data_asset_ref,
        "name@latest or name:version",
        optional=True,
    )
