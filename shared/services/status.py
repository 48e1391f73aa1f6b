"""What the state store holds, for the `status` function."""

from __future__ import annotations

from typing import Any

from shared.ports import StateStore
from shared.services import state_keys


def read_status(store: StateStore) -> dict[str, Any]:
    """Export watermark, rollouts, last retraining and last drift job; empty sections when unset."""

    def doc(key: str) -> dict[str, Any]:
        found = store.get(key)
        return found.data if found else {}

    rollouts: dict[str, Any] = {}
    for key in store.list(state_keys.ROLLOUT_PREFIX):
        found = store.get(key)
        if found is not None:
            rollouts[key.removeprefix(state_keys.ROLLOUT_PREFIX).removesuffix(".json")] = found.data
    return {
        "export": {"watermark": doc(state_keys.EXPORT_WATERMARK), "last_run": doc(state_keys.EXPORT_LAST_RUN)},
        "rollouts": rollouts,
        "retraining": {"last": doc(state_keys.RETRAINING_LAST)},
        "drift": {"last": doc(state_keys.DRIFT_LAST)},
    }
