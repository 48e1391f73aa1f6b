"""The failure path and the cleanup pass of the rollout reconciler.

A step that fails for good (:class:`~shared.services.rollout_state.RolloutFailure`, a permanent platform
error, or transient errors for longer than ``ROLLOUT_PROVISIONING_TIMEOUT``) records the failure: the new
deployment, when it may exist, is handed to the cleanup with the traffic found before the rollout started, and
the rollout is ``rolling_back`` until that traffic is restored and the deployment's deletion accepted; then it
is ``failed``.

The cleanup pass runs at the start of every tick while ``cleanup`` lists deployments (failed, superseded or
retired ones): it restores traffic away from a failed or superseded deployment, then deletes it; a deployment
with live or mirror traffic is never deleted (a retired one that has traffic again is left alone: an operator
put it there). Its errors are recorded on the item and retried on the next tick; they never fail the rollout
in progress.

Plain Python, no Azure SDK.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from shared.platform_rules import live
from shared.ports import EndpointPlatform, EndpointState, PlatformError, TransientError
from shared.services.rollout_state import (
    DEPLOYMENT_MAY_EXIST,
    FAILED,
    RETIRING,
    ROLLING_BACK,
    CleanupItem,
    LogLines,
    Rollout,
    restore_mirror,
    restore_target,
)
from shared.services.timestamps import iso

# The first word of the ERROR line written when a rollout fails: alert rules match on it
# (`traces | where message startswith "ROLLOUT_FAILED"`). Do not change it without the alerts.
FAILURE_PREFIX = "ROLLOUT_FAILED"
ROLLED_BACK_PREFIX = "ROLLOUT_ROLLED_BACK"


def fail(r: Rollout, now: datetime, reason: str, logs: LogLines) -> None:
    """Record that the rollout failed in its current phase (and roll back when its deployment may exist)."""
    r.failure_reason = reason
    failed_in = r.phase
    if failed_in in DEPLOYMENT_MAY_EXIST or failed_in == RETIRING:
        item = CleanupItem(
            r.deployment, "failed", dict(r.baseline_traffic or {}), dict(r.baseline_mirror), added_at=iso(now)
        )
        r.add_cleanup(item)
        r.transition(ROLLING_BACK, now, f"failed in {failed_in}: {reason}")
    else:
        r.transition(FAILED, now, f"failed in {failed_in}: {reason}")
    logs.append(
        (
            logging.ERROR,
            f"{FAILURE_PREFIX} model={r.model} version={r.version} deployment={r.deployment} "
            f"phase={failed_in} reason={json.dumps(reason)}",
        )
    )


def finish_rollback(r: Rollout, now: datetime, logs: LogLines) -> bool:
    """``failed`` once the cleanup restored the traffic and had the new deployment deleted."""
    item = r.cleanup_item(r.deployment)
    if item is not None and not item.delete_requested_at:
        return False  # traffic not restored or deletion not accepted yet: the next tick retries
    restored = ", ".join(f"{k} {v} %" for k, v in (r.baseline_traffic or {}).items()) or "no traffic"
    r.rolled_back = True
    r.transition(FAILED, now, f"rolled back: {restored} restored, {r.deployment} deleted")
    logs.append(
        (
            logging.WARNING,
            f"{ROLLED_BACK_PREFIX} model={r.model} version={r.version} deployment={r.deployment} "
            f"reason={json.dumps(r.failure_reason)} gate={json.dumps(_gate_figures(r), sort_keys=True)}",
        )
    )
    return False


def _gate_figures(r: Rollout) -> dict | None:
    """The figures of the last gate judgement (those that failed it, when a gate rolled the rollout back)."""
    if not r.gate:
        return None
    return {k: r.gate.get(k) for k in ("step", "decision", "candidate", "baseline")}


def cleanup(platform: EndpointPlatform, r: Rollout, now: datetime, logs: LogLines) -> bool:
    """Restore traffic away from, then delete, the deployments in ``r.cleanup``.

    Returns True ("blocked") while a failed or superseded deployment still has traffic. Errors are
    recorded on the item and retried next tick; they never fail the rollout in progress.
    """
    try:
        endpoint = platform.get_endpoint(r.endpoint)
        existing = {d.name for d in platform.list_deployments(r.endpoint)} if endpoint else set()
    except PlatformError as exc:
        for item in r.cleanup:
            item.last_error = f"{iso(now)} {exc}"
        logs.append((logging.WARNING, f"rollout {r.model}: cleanup postponed: {exc}"))
        return any(item.restore_traffic is not None for item in r.cleanup)
    keep_out = {c.deployment for c in r.cleanup}
    blocked = False
    for item in list(r.cleanup):
        name = item.deployment
        if endpoint is None or name not in existing:
            r.cleanup.remove(item)
            r.note(now, f"{name} is gone ({item.reason})")
            continue
        try:
            if has_traffic(endpoint, name):
                if item.restore_traffic is None:
                    r.cleanup.remove(item)
                    r.note(now, f"{name} has traffic again (set outside the rollout): left in place")
                    logs.append((logging.WARNING, f"rollout {r.model}: {name} has traffic again; not deleted"))
                    continue
                target = restore_target(item.restore_traffic, existing - keep_out)
                mirror = restore_mirror(item.restore_mirror, existing - keep_out, target)
                platform.set_traffic(r.endpoint, target, mirror)
                r.note(now, f"traffic restored to {target or 'none'} (mirror {mirror or 'none'}) away from {name}")
                endpoint = platform.get_endpoint(r.endpoint)
                if endpoint is None:
                    continue
                if has_traffic(endpoint, name):
                    blocked = True  # the update is still in progress: delete on a later tick
                    continue
            deployment = platform.get_deployment(r.endpoint, name)
            if deployment is None:
                r.cleanup.remove(item)
                r.note(now, f"{name} is gone ({item.reason})")
                continue
            if deployment.provisioning_state == "Deleting":
                continue
            platform.begin_delete_deployment(r.endpoint, name)
            item.delete_requested_at = iso(now)
            item.attempts += 1
            item.last_error = None
            r.note(now, f"deletion of {name} requested ({item.reason})")
        except PlatformError as exc:
            item.last_error = f"{iso(now)} {exc}"
            level = logging.WARNING if isinstance(exc, TransientError) else logging.ERROR
            logs.append((level, f"rollout {r.model}: cleanup of {name} ({item.reason}) failed: {exc}"))
            if item.restore_traffic is not None and endpoint is not None and has_traffic(endpoint, name):
                blocked = True
    return blocked


def has_traffic(endpoint: EndpointState, name: str) -> bool:
    return bool(live(endpoint.traffic).get(name) or live(endpoint.mirror_traffic).get(name))
