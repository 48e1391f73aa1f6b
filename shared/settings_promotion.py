"""The settings of promotion between environments (one app instance per environment) through an Azure ML
registry. A group of :class:`shared.settings.Settings`; not used alone."""

from __future__ import annotations

from shared.settings_parsing import (
    Setting,
    azure_name,
    flag,
    text,
)


class PromotionSettings:
    """Promotion between environments (one app instance per environment)."""

    environment_name = Setting(
        "ENVIRONMENT_NAME",
        "This environment's name (such as staging or production), as promotion candidates name it.",
        azure_name,
        "an environment name (letters, digits, -, _)",
        optional=True,
    )
    promotion_registry = Setting(
        "PROMOTION_REGISTRY",
        "Azure ML registry that model versions are promoted through from one environment to the next.",
        azure_name,
        "a registry name",
        optional=True,
    )
    promote_to = Setting(
        "PROMOTE_TO",
        "If set, a version whose rollout succeeds here is shared to PROMOTION_REGISTRY and marked a candidate for "
        "this environment (the next one's ENVIRONMENT_NAME).",
        azure_name,
        "an environment name",
        optional=True,
    )
    promotion_source = Setting(
        "PROMOTION_SOURCE",
        "If set, the reconcile timer rolls out the versions that this environment marked in PROMOTION_REGISTRY as "
        "candidates for ENVIRONMENT_NAME.",
        azure_name,
        "an environment name",
        optional=True,
    )
    promotion_approval = Setting(
        "PROMOTION_APPROVAL",
        "A promotion candidate waits for POST /api/promotions/{model}/{version}/approve before its rollout starts.",
        flag,
        "true or false",
        default="false",
    )
    local_promotion_registry_dir = Setting(
        "LOCAL_PROMOTION_REGISTRY_DIR",
        "Local mode only: the folder that plays PROMOTION_REGISTRY, shared by the local environments.",
        text,
        "a folder path",
        optional=True,
    )
