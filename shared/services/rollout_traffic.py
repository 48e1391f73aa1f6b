"""The traffic a rollout step sets on the endpoint and the window it holds it for.

:class:`StepTraffic` enters a traffic step (the new deployment's share of live traffic set, recorded, and its
window started), and checks at the end of a dwell that the endpoint still shows the traffic the rollout set:
traffic that drifted is applied again a few times before the rollout fails, and the next step's traffic found
on the endpoint (set by a tick that died before recording it) is taken as this step's. The window is what the
gate judges and the dwell is how long the step holds (``ROLLOUT_STEP_DWELL``, ``ROLLOUT_BAKE``). Plain Python,
no Azure SDK.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from shared.platform_rules import live
from shared.ports import EndpointPlatform
from shared.services.rollout_intake import RolloutConfig
from shared.services.rollout_state import (
    BUSY_STATES,
    MIRROR,
    TRAFFIC,
    LogLines,
    Rollout,
    RolloutFailure,
    split_traffic,
    wait_deadline,
)
from shared.services.timestamps import iso, parse_iso

_TRAFFIC_REAPPLY_LIMIT = 3


def start_window(r: Rollout, now: datetime, dwell: timedelta) -> None:
    """A new window for the gate, held for ``dwell``."""
    r.wait_until = iso(now + dwell)
    r.window_start = iso(now)
    r.gate_waiting_since = None


def dwelled(r: Rollout, now: datetime) -> bool:
    return not r.wait_until or now >= parse_iso(r.wait_until)


class StepTraffic:
    """Sets and checks the traffic of a rollout's steps. ``platform`` is called when a step needs it."""

    def __init__(self, platform: Callable[[], EndpointPlatform], config: RolloutConfig) -> None:
        self._platform = platform
        self.config = config

    def enter(self, r: Rollout, index: int, now: datetime, detail: str) -> None:
        """Traffic step ``index``: the new deployment takes ``traffic_steps[index]`` % of live traffic, no mirror."""
        target = split_traffic(r.baseline_traffic or {}, r.deployment, r.traffic_steps[index])
        self._platform().set_traffic(r.endpoint, target, {})
        r.transition(TRAFFIC, now, f"{detail}; live traffic {target}")
        r.traffic, r.mirror = target, {}
        r.step = index
        r.traffic_reapplied = 0
        start_window(r, now, self.config.step_dwell)

    def applied(self, r: Rollout, now: datetime, logs: LogLines) -> bool:
        """The endpoint shows the traffic this rollout set (re-applied a few times if not)."""
        endpoint = self._platform().get_endpoint(r.endpoint)
        if endpoint is None:
            raise RolloutFailure(f"endpoint {r.endpoint} disappeared")
        if endpoint.provisioning_state in BUSY_STATES:
            if now >= wait_deadline(r, now, self.config.provisioning_timeout):
                raise RolloutFailure(f"endpoint {r.endpoint} still {endpoint.provisioning_state} (traffic update)")
            return False
        r.deadline = None
        shown = (live(endpoint.traffic), live(endpoint.mirror_traffic))
        if shown == (live(r.traffic), live(r.mirror)):
            return True
        if shown == _next_traffic(r):
            # A tick set the next step and died before recording it: take it as this step's traffic
            # (entering the next step sets it again, idempotently, after the smoke test).
            r.note(now, f"endpoint already shows the next step {shown[0]} (set before a restart)")
            return True
        if r.traffic_reapplied >= _TRAFFIC_REAPPLY_LIMIT:
            raise RolloutFailure(
                f"traffic {r.traffic} (mirror {r.mirror}) not applied after {r.traffic_reapplied} attempts; "
                f"endpoint shows {live(endpoint.traffic)} (mirror {live(endpoint.mirror_traffic)})"
            )
        self._platform().set_traffic(r.endpoint, r.traffic, r.mirror)
        r.traffic_reapplied += 1
        r.wait_until = iso(now + self.config.step_dwell)
        r.note(now, f"endpoint showed {live(endpoint.traffic)}: traffic {r.traffic} applied again")
        logs.append((logging.WARNING, f"rollout {r.model} v{r.version}: traffic drifted; applied {r.traffic} again"))
        return False


def _next_traffic(r: Rollout) -> tuple[dict[str, int], dict[str, int]] | None:
    index = 0 if r.phase == MIRROR else (r.step or 0) + 1
    if index >= len(r.traffic_steps):
        return None
    return split_traffic(r.baseline_traffic or {}, r.deployment, r.traffic_steps[index]), {}
