"""The demo scenario's data: the synthetic frames it trains on and sends (each with its own seed derived from the
run's), the drift it injects into the drifted period (a covariate shift and a new default pattern among older
clients), and the record ids half of the traffic carries. The stages (:mod:`demo.scenario`) take them from here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ml_assets.src.contracts.record_identity import RECORD_ID_FIELD

if TYPE_CHECKING:
    from demo.scenario_config import DemoConfig

# Six of the 23 features move (share 0.26 ≥ DRIFT_SHARE 0.2): older clients with higher limits and bills,
# more graduate-school and single clients, larger first payments.
DEFAULT_SHIFT: Mapping[str, str] = {
    "age": "+12",
    "credit_limit": "*2",
    "education": "graduate_school:0.7",
    "marriage": "single:0.7",
    "bill_amount_1": "*1.8",
    "payment_amount_1": "*3",
}

# Rows generated per request of a phase: a request carries at most 30 records (DemoConfig.records_per_request).
ROWS_PER_REQUEST = 30


def with_new_default_pattern(frame: Any, *, seed: int, share: float = 0.5) -> Any:
    """The scenario's concept drift: in the drifted period, clients aged 45 or more default more often (``share``
    of those who did not are relabelled as defaults). A covariate shift alone would not make a retrained model
    better than v1 (the synthetic labels are drawn before the shift), and the champion gate would rightly keep v1."""
    import numpy as np

    from ml_assets.src.contracts.feature_schema import TARGET

    rng = np.random.default_rng(seed)
    out = frame.copy()
    flip = (out["age"].to_numpy() >= 45) & (rng.random(len(out)) < share)
    out.loc[flip, TARGET] = "True"
    return out


def with_record_ids(frame: Any, phase: str) -> Any:
    """Every other record with its own ``record_id``; the others are named by request id and index."""
    out = frame.copy()
    out[RECORD_ID_FIELD] = [f"{phase}-{i}" if i % 2 == 0 else None for i in range(len(out))]
    return out


def first_training_data(c: DemoConfig) -> Any:
    """Training data v1: the usual clients, labelled."""
    from ml_assets.src.training import synthetic

    return synthetic.generate(c.train_rows, seed=c.seed)


def normal_traffic(c: DemoConfig) -> Any:
    """The normal phase's records with their true labels, half of them with a ``record_id``."""
    from ml_assets.src.training import synthetic

    return with_record_ids(synthetic.generate(c.requests_per_phase * ROWS_PER_REQUEST, seed=c.seed + 1), "normal")


def drifted_traffic(c: DemoConfig) -> Any:
    """The drifted phase's records: shifted, and their true labels carry the new default pattern that v1 cannot
    know; half of them with a ``record_id``."""
    from ml_assets.src.training import synthetic

    drifted = with_new_default_pattern(
        synthetic.generate(c.requests_per_phase * ROWS_PER_REQUEST, seed=c.seed + 2, shift=c.shift), seed=c.seed + 6
    )
    return with_record_ids(drifted, "drifted")


def labelled_recent_window(c: DemoConfig) -> tuple[Any, Any]:
    """Training data v2 as two frames: clients like before, and the drifted population whose labels carry the
    pattern v1 cannot know (so the champion gate has a reason to promote v2)."""
    from ml_assets.src.training import synthetic

    recent = synthetic.generate(c.train_rows // 2, seed=c.seed + 5)
    labelled = with_new_default_pattern(
        synthetic.generate(c.labelled_rows, seed=c.seed + 3, shift=c.shift), seed=c.seed
    )
    return recent, labelled


def traffic_after_rollout(c: DemoConfig) -> Any:
    """The drifted population once more, unlabelled, for v2 alone to serve."""
    from ml_assets.src.training import synthetic

    return synthetic.generate(c.final_requests * ROWS_PER_REQUEST, seed=c.seed + 4, shift=c.shift, with_target=False)


def bad_release_traffic(c: DemoConfig) -> Any:
    """The bad-release scenario's usual clients, unlabelled: v1's traffic and the rollout's live traffic."""
    from ml_assets.src.training import synthetic

    return synthetic.generate(c.requests_per_phase * ROWS_PER_REQUEST, seed=c.seed + 1, with_target=False)


def traffic_after_rollback(c: DemoConfig) -> Any:
    """Usual clients, unlabelled, for v1 alone to serve after the rollback."""
    from ml_assets.src.training import synthetic

    return synthetic.generate(c.final_requests * ROWS_PER_REQUEST, seed=c.seed + 4, with_target=False)
