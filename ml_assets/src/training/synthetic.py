"""Realistic synthetic data in the curated schema: the project's own data for tests and the demo.

Deterministic by seed. Roughly calibrated on the UCI data (30,000 clients, 22% default): the same vocabularies,
marginals of the same order (sex, education, marriage, age 21-79, credit limit 500-50,000 in steps of 500,
repayment statuses dominated by no_delay/duly_paid, delay_1_month almost only in the latest month), and the
structure a model can learn: a latent risk drives repayment delays (correlated across months), credit limits
depend on education and age, bill amounts follow a per-client utilisation of the limit over the six months,
payments pay the previous statement in full (duly paid), partly (revolving) or not at all (delayed), and the
default probability rises with recent delays, utilisation and low limits.

``shift`` produces drifted samples for the drift and demo scenarios, e.g.
``generate(2000, seed=7, shift={"age": "+8", "credit_limit": "*1.5", "education": "high_school:0.3"})``.

CLI: ``python -m src.training.synthetic --rows 5000 --seed 1 --out data.csv [--shift age=+8] [--no-target]``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..contracts.feature_schema import CATEGORIES, FEATURES, REPAYMENT_STATUS_VALUES, TARGET, VALUE_RULES

DEFAULT_RATE = 0.2212

_DULY, _NO_DELAY = 0, 1  # indexes in REPAYMENT_STATUS_VALUES; delay_k months is index k + 1


def generate(
    rows: int,
    *,
    seed: int = 0,
    shift: Mapping[str, str | float] | None = None,
    with_target: bool = True,
    target_as: str = "string",
) -> pd.DataFrame:
    """``rows`` records in the curated column order. ``target_as``: "string" ("True"/"False"), "bool" or "int".

    One random stream feeds every step in a fixed order, so the same seed gives the same records.
    """
    if rows < 1:
        raise ValueError("rows must be at least 1")
    rng = np.random.default_rng(seed)
    sex, education, marriage, age = _demographics(rng, rows)
    credit_limit = _credit_limits(rng, sex, education, age)
    risk = _latent_risk(rng, sex, education, age, credit_limit)
    status, duly_client = _repayment_statuses(rng, risk)
    bills = _bills(rng, credit_limit, risk, duly_client, status)
    payments = _payments(rng, bills, status)
    frame = pd.DataFrame(
        {
            "credit_limit": credit_limit,
            "sex": sex,
            "education": education,
            "marriage": marriage,
            "age": age,
            **{
                f"repayment_status_{i}": np.asarray(REPAYMENT_STATUS_VALUES, dtype=object)[status[:, 6 - i]]
                for i in range(1, 7)
            },
            **{f"bill_amount_{i}": bills[:, 6 - i] for i in range(1, 7)},
            **{f"payment_amount_{i}": payments[:, 6 - i] for i in range(1, 7)},
        },
        columns=list(FEATURES),
    )
    if with_target:
        defaults = _defaults(rng, risk=risk, status=status, bills=bills, payments=payments, credit_limit=credit_limit)
        frame[TARGET] = _target_column(defaults, target_as)
    if shift:
        frame = apply_shift(frame, shift, seed=seed + 1)
    return frame


def _demographics(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sex, education, marriage and age (older clients are more often married)."""
    sex = rng.choice(["female", "male"], size=n, p=[0.604, 0.396])
    education = rng.choice(
        ["graduate_school", "university", "high_school", "other"], size=n, p=[0.353, 0.468, 0.164, 0.015]
    )
    age_raw = 21 + rng.gamma(shape=2.2, scale=6.5, size=n)
    p_married = np.clip(0.12 + (age_raw - 21) * 0.022, 0.05, 0.85)
    u = rng.random(n)
    marriage = np.where(u < 0.013, "other", np.where(u < 0.013 + p_married * 0.987, "married", "single"))
    age = np.clip(np.round(age_raw + np.where(marriage == "married", 2.0, 0.0)), 21, 79).astype(np.int64)
    return sex, education, marriage, age


def _credit_limits(rng: np.random.Generator, sex: np.ndarray, education: np.ndarray, age: np.ndarray) -> np.ndarray:
    """Credit limit (NT$/20): log-normal, higher with education and age; multiples of 500 in 500..50,000."""
    n = len(sex)
    edu_effect = pd.Series(education).map(
        {"graduate_school": 0.30, "university": 0.0, "high_school": -0.25, "other": 0.1}
    )
    log_limit = (
        np.log(6000) + edu_effect.to_numpy() + 0.012 * (age - 35) + (sex == "female") * 0.05 + rng.normal(0, 0.72, n)
    )
    return np.clip(np.round(np.exp(log_limit) / 500) * 500, 500, 50_000).astype(np.float64)


def _latent_risk(
    rng: np.random.Generator, sex: np.ndarray, education: np.ndarray, age: np.ndarray, credit_limit: np.ndarray
) -> np.ndarray:
    """Latent risk: lower limits, younger clients, lower education and men are riskier."""
    return (
        rng.normal(0, 1, len(sex))
        - 0.45 * (np.log(credit_limit) - np.log(7000))
        + 0.25 * (education == "high_school")
        + 0.12 * (sex == "male")
        - 0.008 * (age - 35)
    )


def _repayment_statuses(rng: np.random.Generator, risk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Status indexes per month (column 0 = month 6, the oldest … column 5 = month 1, the latest) and which
    clients pay in full: each pays in full (duly), revolves (no delay), or falls behind."""
    n = len(risk)
    p_duly = 1 / (1 + np.exp(0.55 + 0.9 * risk))
    duly_client = rng.random(n) < p_duly * 1.05
    status = np.empty((n, 6), dtype=np.int64)
    p_fall = 1 / (1 + np.exp(3.0 - 1.25 * risk))
    current = np.where(duly_client, _DULY, _NO_DELAY)
    delay = np.zeros(n, dtype=np.int64)
    for t in range(6):
        latest = t == 5
        falls = (delay == 0) & (rng.random(n) < p_fall * (1.6 if latest else 1.0))
        continues = (delay > 0) & (rng.random(n) < np.clip(0.3 + 0.1 * risk, 0.05, 0.9))
        recovers = (delay > 0) & ~continues
        delay = np.where(continues, np.minimum(delay + 1, 8), 0)
        # Outside the latest month, a first missed payment shows as two months (as in the UCI data).
        delay = np.where(falls, 1 if latest else 2, delay)
        base = np.where(duly_client & (rng.random(n) < 0.85), _DULY, _NO_DELAY)
        base = np.where(recovers, _NO_DELAY, base)
        current = np.where(delay > 0, delay + 1, base)
        status[:, t] = current
    return status, duly_client


def _bills(
    rng: np.random.Generator, credit_limit: np.ndarray, risk: np.ndarray, duly_client: np.ndarray, status: np.ndarray
) -> np.ndarray:
    """Bills (month 6 … month 1): a per-client utilisation of the limit, persistent over months."""
    n = len(risk)
    utilisation = np.where(
        duly_client, rng.beta(0.6, 6.0, n), rng.beta(2.2, 2.0 - np.clip(0.3 * risk, -0.8, 0.8), n)
    ) * np.where(rng.random(n) < 0.07, 0.0, 1.0)
    bills = np.empty((n, 6))
    level = utilisation.copy()
    for t in range(6):
        level = np.clip(level * np.exp(rng.normal(0, 0.12, n)) + 0.02 * (status[:, t] > _NO_DELAY), 0, 1.3)
        bills[:, t] = credit_limit * level
    negative = rng.random((n, 6)) < 0.015
    bills = np.where(negative, -rng.exponential(60, (n, 6)), bills)
    return np.round(bills, 2)


def _payments(rng: np.random.Generator, bills: np.ndarray, status: np.ndarray) -> np.ndarray:
    """Payments (month 6 … month 1): payment of month t settles the statement of month t + 1 (one month older)."""
    n = len(bills)
    previous = np.concatenate([bills[:, :1] * np.exp(rng.normal(0, 0.1, (n, 1))), bills[:, :-1]], axis=1)
    previous = np.maximum(previous, 0)
    share = np.where(
        status == _DULY,
        rng.uniform(0.9, 1.1, (n, 6)),
        np.where(status == _NO_DELAY, rng.beta(1.3, 9.0, (n, 6)), rng.beta(0.5, 12.0, (n, 6))),
    )
    payments = previous * share + np.where(rng.random((n, 6)) < 0.03, rng.exponential(400, (n, 6)), 0.0)
    payments = np.where((status > _NO_DELAY) & (rng.random((n, 6)) < 0.5), 0.0, payments)
    return np.round(np.maximum(payments, 0.0), 2)


def _defaults(
    rng: np.random.Generator,
    *,
    risk: np.ndarray,
    status: np.ndarray,
    bills: np.ndarray,
    payments: np.ndarray,
    credit_limit: np.ndarray,
) -> np.ndarray:
    """Who defaults: the probability rises with risk, recent delays and utilisation, falls with paying; mean
    calibrated to :data:`DEFAULT_RATE`."""
    n = len(risk)
    latest_delay = np.maximum(status[:, 5] - _NO_DELAY, 0)
    months_delayed = (status > _NO_DELAY).sum(axis=1)
    paid_ratio = payments[:, 5] / np.maximum(bills[:, 4], 1.0)
    logit = (
        0.75 * risk
        + 0.55 * np.minimum(latest_delay, 3)
        + 0.18 * months_delayed
        + 0.5 * np.clip(bills[:, 5] / credit_limit, 0, 1.2)
        - 0.6 * np.clip(paid_ratio, 0, 1)
        # adds nothing, but draws from the stream: removing it would change the target for a given seed
        + rng.logistic(0, 1, n) * 0.0
    )
    intercept = _calibrate(logit, DEFAULT_RATE)
    probability = 1 / (1 + np.exp(-(logit + intercept)))
    return rng.random(n) < probability


def _target_column(target: np.ndarray, target_as: str) -> np.ndarray:
    if target_as == "string":
        return np.where(target, "True", "False")
    if target_as == "bool":
        return target
    if target_as == "int":
        return target.astype(np.int64)
    raise ValueError(f"target_as {target_as!r}: expected string, bool or int")


def _calibrate(logit: np.ndarray, rate: float) -> float:
    """Intercept so that the mean default probability is ``rate`` (bisection; deterministic)."""
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if np.mean(1 / (1 + np.exp(-(logit + mid)))) < rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def parse_shift(spec: str | float, name: str) -> tuple[str, float | str]:
    """``+8`` / ``-3`` / ``8`` (add), ``*1.5`` (scale) for numbers; ``value:share`` for categories."""
    if name in CATEGORIES:
        text = str(spec)
        value, _, share = text.partition(":")
        if value not in CATEGORIES[name]:
            raise ValueError(f"shift {name}={text}: {value!r} is not one of {', '.join(CATEGORIES[name])}")
        try:
            fraction = float(share)
        except ValueError:
            raise ValueError(f"shift {name}={text}: expected value:share with share in [0, 1]") from None
        if not 0 <= fraction <= 1:
            raise ValueError(f"shift {name}={text}: share must be in [0, 1]")
        return value, fraction
    if name not in FEATURES:
        raise ValueError(f"shift: {name!r} is not a feature")
    if isinstance(spec, int | float):
        return "+", float(spec)
    text = str(spec).strip()
    try:
        if text.startswith("*"):
            return "*", float(text[1:])
        return "+", float(text)
    except ValueError:
        raise ValueError(f"shift {name}={text}: expected +N, -N or *F") from None


def apply_shift(frame: pd.DataFrame, shift: Mapping[str, str | float], *, seed: int = 0) -> pd.DataFrame:
    """A copy of ``frame`` with the chosen features shifted (numbers stay in plausible ranges, and always within
    what the schema's :data:`VALUE_RULES` deem possible, e.g. no negative payment)."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    for name, spec in shift.items():
        op, amount = parse_shift(spec, name)
        if name in CATEGORIES:
            pick = rng.random(len(out)) < float(amount)
            out.loc[pick, name] = op
            continue
        values = out[name].to_numpy(dtype=np.float64)
        values = values * float(amount) if op == "*" else values + float(amount)
        if name == "age":
            out[name] = np.clip(np.round(values), 18, 100).astype(np.int64)
        elif name == "credit_limit":
            out[name] = np.clip(np.round(values / 500) * 500, 500, None)
        else:
            out[name] = np.clip(np.round(values, 2), *VALUE_RULES[name].possible)
    return out


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m src.training.synthetic", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="CSV (or .parquet) file to write")
    parser.add_argument(
        "--shift", action="append", default=[], metavar="FEATURE=SPEC", help="+N, -N, *F or value:share"
    )
    parser.add_argument("--no-target", action="store_true", help="omit default_payment_next_month (inference data)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    shift: dict[str, str] = {}
    for item in args.shift:
        name, sep, spec = item.partition("=")
        if not sep:
            print(f"--shift {item}: expected FEATURE=SPEC", file=sys.stderr)
            return 2
        shift[name.strip()] = spec.strip()
    try:
        frame = generate(args.rows, seed=args.seed, shift=shift or None, with_target=not args.no_target)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() in (".parquet", ".pq"):
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False)
    print(f"wrote {len(frame)} rows to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
