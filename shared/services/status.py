"""What the state store holds, for the `status` function.

A document that cannot be read (not a JSON object: cut short, edited by hand) is shown in its place as
``{"unreadable": true, "document": <key>, "error": <why>}``; the other sections are shown as usual, so the
answer that tells an operator which document to fix is never itself blocked by it.
"""

from __future__ import annotations

from typing import Any

from shared.ports import CorruptDocumentError, StateStore
from shared.services import state_keys
from shared.services.retraining_decisions import bounded_record


def read_status(store: StateStore) -> dict[str, Any]:
    """Export watermark, rollouts, last retraining and last drift job, the champion per model, the promotion
    documents; empty sections when unset. A rejected
    alert body is shown as an excerpt, with the key of the decision record that keeps it whole."""

    def doc(key: str) -> dict[str, Any]:
        try:
            found = store.get(key)
        except CorruptDocumentError as exc:
            return unreadable(exc)
        return found.data if found else {}

    rollouts: dict[str, Any] = {}
    for key in store.list(state_keys.ROLLOUT_PREFIX):
        try:
            found = store.get(key)
        except CorruptDocumentError as exc:
            rollouts[_rollout_name(key)] = unreadable(exc)
            continue
        if found is not None:
            rollouts[_rollout_name(key)] = found.data
    return {
        "export": {"watermark": doc(state_keys.EXPORT_WATERMARK), "last_run": doc(state_keys.EXPORT_LAST_RUN)},
        "rollouts": rollouts,
        "retraining": {"last": _retraining_last(doc(state_keys.RETRAINING_LAST))},
        "drift": {"last": doc(state_keys.DRIFT_LAST)},
        "champions": _documents(store, state_keys.CHAMPION_PREFIX),
        "promotions": _documents(store, state_keys.PROMOTION_PREFIX),
    }


def _documents(store: StateStore, prefix: str) -> dict[str, Any]:
    """The documents under ``prefix``, by their key without it (and without ``.json``)."""
    out: dict[str, Any] = {}
    for key in store.list(prefix):
        name = key.removeprefix(prefix).removesuffix(".json")
        try:
            found = store.get(key)
        except CorruptDocumentError as exc:
            out[name] = unreadable(exc)
            continue
        if found is not None:
            out[name] = found.data
    return out


def unreadable(exc: CorruptDocumentError) -> dict[str, Any]:
    return {"unreadable": True, "document": exc.key, "error": exc.detail}


def _rollout_name(key: str) -> str:
    return key.removeprefix(state_keys.ROLLOUT_PREFIX).removesuffix(".json")


def _retraining_last(data: dict[str, Any]) -> dict[str, Any]:
    """The last decisions with a rejected body as an excerpt: the writer keeps only that, and this holds for a
    document written before it did."""
    shown = dict(data)
    for name in ("last_decision", "last_submission"):
        if isinstance(shown.get(name), dict):
            shown[name] = bounded_record(shown[name])
    return shown
