"""The tags that mark a model version in an Azure ML registry as a candidate for the next environment.

Written by the app of the environment that promotes (``PROMOTE_TO``) once the version's rollout there succeeded;
read by the app of the next environment (``PROMOTION_SOURCE``), whose reconcile timer rolls the candidate out.

- ``promotion_candidate_for``: the environment the version is a candidate for (its ``ENVIRONMENT_NAME``);
- ``promoted_from``: the environment whose rollout succeeded;
- ``promoted_at``: when it was marked (ISO 8601 UTC);
- ``promoted_rollout_id``: that rollout's id (its document in the source environment's state store).

Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping

CANDIDATE_FOR_TAG = "promotion_candidate_for"
PROMOTED_FROM_TAG = "promoted_from"
PROMOTED_AT_TAG = "promoted_at"
PROMOTED_ROLLOUT_TAG = "promoted_rollout_id"


def candidate_tags(target: str, source: str, at: str, rollout_id: str) -> dict[str, str]:
    return {CANDIDATE_FOR_TAG: target, PROMOTED_FROM_TAG: source, PROMOTED_AT_TAG: at, PROMOTED_ROLLOUT_TAG: rollout_id}


def is_candidate(tags: Mapping[str, str], target: str, source: str) -> bool:
    """Marked for ``target`` by ``source`` (both compared without regard to case)."""
    return (
        str(tags.get(CANDIDATE_FOR_TAG, "")).strip().lower() == target.strip().lower()
        and str(tags.get(PROMOTED_FROM_TAG, "")).strip().lower() == source.strip().lower()
    )
