"""The settings of retraining on an alert: the training data and compute, the sweep size, the cooldown and
which alert rules may retrain. A group of :class:`shared.settings.Settings`; not used alone."""

from __future__ import annotations

from shared.settings_parsing import (
    Setting,
    azure_name,
    data_asset_ref,
    duration_setting,
    name_list,
    positive_int,
)


class RetrainingSettings:
    """Retraining: what an alert trains, on what, and how often at most."""

    training_data_asset = Setting(
        "TRAINING_DATA_ASSET",
        "Training data for retraining: an Azure ML data asset, `name@latest` or `name:version`.",
        data_asset_ref,
        "name@latest or name:version",
        default="credit-default-training@latest",
    )
    training_compute = Setting(
        "TRAINING_COMPUTE",
        "Azure ML compute cluster for the training pipeline.",
        azure_name,
        "a compute name",
        default="cpu-cluster",
    )
    training_max_trials = Setting(
        "TRAINING_MAX_TRIALS",
        "Trials of the training pipeline's hyperparameter sweep (its max_total_trials input); unset: the pipeline's "
        "default.",
        positive_int,
        "a positive integer",
        optional=True,
    )
    retrain_cooldown = duration_setting(
        "RETRAIN_COOLDOWN",
        "Minimum time between two retrainings of the model; alerts inside it are suppressed.",
        default="PT6H",
        zero_allowed=True,
    )
    retrain_alert_rules = Setting(
        "RETRAIN_ALERT_RULES",
        "Comma-separated alert rule names or ids that may trigger retraining; empty: any rule.",
        name_list,
        "a comma-separated list of alert rule names or ids",
        optional=True,
    )
