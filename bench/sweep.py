"""The training pipeline's hyperparameter sweep, run in process on the real data, against today's defaults.

Data: the real UCI data (default ``../shared/data/credit-card-default/curated.csv``) or ``--data``. Split 80/20
stratified with seed 42 (the prepare step, as ``bench/scoring.py``). The sweep is the pipeline's: its node in
``ml_assets/pipelines/train_model.yml`` planned by the local runner, its trials sampled by the runner's code
(``shared/local/pipeline_sweep.py``) with the YAML's seed and budget (``--trials`` overrides
``max_total_trials``), each trial scored as the train step scores it (``fit_and_validate``: the pipeline's
``cv_folds``-fold cross-validation on the train split, then a fit on the whole train split). The best trial's model
(the one the pipeline passes on) is then scored on the untouched 20 % test split, and timed as ``bench/scoring.py``
times a model (one OpenMP thread; one record at a time: p50 of 1,000 calls; 1,000 records at once: median of 20
calls). The defaults are fitted on the whole train split, as the train step does. CPU seconds: this process's, for
the sweep's trials on the seed-42 split.

The noise is stated with each figure (``auc_comparison.py``). On a split: the difference swept − defaults on the
test rows with its 95 % paired-bootstrap interval (both models on the same resamples), and where the defaults
rank among the trials by the sweep's own score (the defaults scored as a trial is) and by test ROC AUC; a
candidate chosen on a test split ranks far higher there than by cross-validation. ``--outer-splits N`` repeats the
whole comparison (split, defaults, sweep, pick, refit, test) on N splits (seeds ``--first-seed``, +1, …) and
reports the mean test ROC AUC of each side, the mean difference with its standard error, and the splits the sweep
won. Seeds other than 42 give splits no choice in this project was made on.

Last line: ``default_auc=… swept_auc=… diff=… ci95=…,… default_cv_rank=… default_test_rank=… trials=… p50_ms=…
batch1000_ms=… cpu_seconds=…`` (and, with ``--outer-splits``, ``outer_splits=… first_seed=… default_mean=…
swept_mean=… mean_diff=… se=… sweep_wins=…``).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auc_comparison import PairedDifference, across_splits, paired_bootstrap, rank_of  # noqa: E402 - bench/
from model_latency import measure  # noqa: E402 - bench/, the script's own folder

REAL_DATA = ROOT.parent / "shared" / "data" / "credit-card-default" / "curated.csv"
PIPELINE = ROOT / "ml_assets" / "pipelines" / "train_model.yml"


def _defaults() -> dict[str, Any]:
    """Today's values of the swept hyperparameters."""
    from ml_assets.src.training.model import Hyperparameters

    defaults = Hyperparameters().as_dict()
    return {n: defaults[n] for n in SWEPT}


SWEPT = ("learning_rate", "max_iter", "max_leaf_nodes", "min_samples_leaf", "l2_regularization", "max_features")


@dataclass(frozen=True)
class SplitResult:
    seed: int
    default_auc: float
    default_score: float  # the defaults scored as a trial is (the sweep's objective)
    swept_auc: float
    paired: PairedDifference  # swept − defaults on the test rows
    trial_scores: list[float]
    trial_aucs: list[float]
    best_trial: int
    best_score: float
    best_values: dict[str, Any]
    cpu_seconds: float
    wall_seconds: float
    trials: int
    best_model: Any
    x_train: Any
    x_test: Any


def _compare_on_split(
    frame: Any, seed: int, trials: list[dict[str, Any]], fixed: Any, cv: tuple[float, int]
) -> SplitResult:
    """Split with ``seed``, fit the defaults, run the sweep's trials, pick the best and score both on the test split."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from ml_assets.src.contracts.feature_schema import FEATURES, TARGET
    from ml_assets.src.training.model import Hyperparameters
    from ml_assets.src.training.train import fit_and_validate

    train, test = train_test_split(frame, test_size=0.2, random_state=seed, stratify=frame[TARGET])
    x_train, y_train = train[list(FEATURES)], train[TARGET]
    x_test, y_test = test[list(FEATURES)].reset_index(drop=True), test[TARGET].to_numpy()
    default_model, default_record = fit_and_validate(x_train, y_train, Hyperparameters(), cv[0], cv[1])
    default_scores = default_model.predict_proba(x_test)[:, 1]
    default_auc = float(roc_auc_score(y_test, default_scores))

    cpu0, wall0 = time.process_time(), time.perf_counter()
    results = []
    for number, values in enumerate(trials):
        model, record = fit_and_validate(x_train, y_train, replace(fixed, **values), cv[0], cv[1])
        test_auc = float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))
        results.append((record["validation_roc_auc"], -number, number, values, model, test_auc))
        print(
            f"split {seed} trial {number}: validation_roc_auc {record['validation_roc_auc']:.4f} "
            f"(test {test_auc:.4f}) with {values}"
        )
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    score, _, number, values, best, swept_auc = max(results, key=lambda r: (r[0], r[1]))
    paired = paired_bootstrap(y_test, best.predict_proba(x_test)[:, 1], default_scores, seed=seed)
    print(
        f"split {seed}: test ROC AUC defaults {default_auc:.4f} (objective {default_record['validation_roc_auc']:.4f}),"
        f" best trial #{number} {swept_auc:.4f}: difference {paired.difference:+.4f}, 95 % interval "
        f"{paired.low:+.4f} … {paired.high:+.4f}, the sweep ahead in {paired.first_wins:.0%} of the resamples"
    )
    return SplitResult(
        seed=seed,
        default_auc=default_auc,
        default_score=float(default_record["validation_roc_auc"]),
        swept_auc=swept_auc,
        paired=paired,
        trial_scores=[r[0] for r in results],
        trial_aucs=[r[5] for r in results],
        best_trial=number,
        best_score=score,
        best_values=values,
        cpu_seconds=cpu_s,
        wall_seconds=wall_s,
        trials=len(results),
        best_model=best,
        x_train=x_train,
        x_test=x_test,
    )


def main() -> None:
    from ml_assets.src.training.curated_data import read_curated_folder
    from ml_assets.src.training.model import Hyperparameters, load_model, save_model
    from shared.local.pipeline_plan import plan_pipeline
    from shared.local.pipeline_sweep import sample_trials

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(REAL_DATA), help="CSV/Parquet file or folder in the curated schema")
    parser.add_argument("--trials", type=int, default=None, help="max_total_trials (default: the pipeline's)")
    parser.add_argument("--outer-splits", type=int, default=1, help="test splits to compare on")
    parser.add_argument("--first-seed", type=int, default=42, help="seed of the first split (then +1, +2, …)")
    args = parser.parse_args()

    plan = plan_pipeline(PIPELINE)
    step = next(s for s in plan.steps if s.sweep is not None)
    inputs = dict(plan.inputs)
    if args.trials is not None:
        inputs["max_total_trials"] = args.trials
    sweep = step.sweep.bound(inputs)
    budget = sweep.limit("max_total_trials", step.name) or 1
    bound = {n: inputs[v[1]] for n, v in step.bindings.items() if isinstance(v, tuple) and v[0] == "input"}
    fixed = Hyperparameters(max_depth=int(bound["max_depth"]), max_bins=int(bound["max_bins"]), seed=int(bound["seed"]))
    cv = (float(bound["validation_size"]), int(bound["cv_folds"]))
    trials = sample_trials(sweep, budget)

    frame = read_curated_folder(args.data)
    seeds = [args.first_seed + k for k in range(max(args.outer_splits, 1))]
    splits = [_compare_on_split(frame, seed, trials, fixed, cv) for seed in seeds]
    first = splits[0]

    with tempfile.TemporaryDirectory() as tmp:  # score the model as saved and loaded through MLflow
        save_model(first.best_model, Path(tmp) / "model", first.x_train)
        model = load_model(Path(tmp) / "model")
    latency = measure(model, first.x_test)
    p50, b1000 = latency.p50_ms, latency.batch1000_ms
    print(f"data: {args.data}: train {len(first.x_train)} rows, test {len(first.x_test)} rows")
    print(
        f"sweep: {first.trials} trials ({sweep.sampling}), {cv[1]}-fold objective, "
        f"{first.wall_seconds:.1f}s wall, {first.cpu_seconds:.1f} CPU seconds"
    )
    print(f"best trial #{first.best_trial}: validation_roc_auc {first.best_score:.4f} with {first.best_values}")
    cv_rank = rank_of(first.default_score, first.trial_scores)
    test_rank = rank_of(first.default_auc, first.trial_aucs)
    print(
        f"test ROC AUC (split {first.seed}): defaults {first.default_auc:.4f}, best trial {first.swept_auc:.4f}; "
        f"the defaults rank {cv_rank} of {first.trials + 1} by the objective and {test_rank} by test ROC AUC"
    )
    print(f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}; cpus={os.cpu_count()}")
    line = (
        f"default_auc={first.default_auc:.4f} swept_auc={first.swept_auc:.4f} diff={first.paired.difference:+.4f} "
        f"ci95={first.paired.low:+.4f},{first.paired.high:+.4f} default_cv_rank={cv_rank}/{first.trials + 1} "
        f"default_test_rank={test_rank}/{first.trials + 1} trials={first.trials} "
        f"p50_ms={p50:.3f} batch1000_ms={b1000:.2f} cpu_seconds={first.cpu_seconds:.1f}"
    )
    if len(splits) > 1:
        default_mean = sum(r.default_auc for r in splits) / len(splits)
        swept_mean = sum(r.swept_auc for r in splits) / len(splits)
        summary = across_splits([r.paired.difference for r in splits])
        for r in splits:
            print(
                f"split {r.seed}: defaults {r.default_auc:.4f} swept {r.swept_auc:.4f} (trial #{r.best_trial}) "
                f"difference {r.paired.difference:+.4f} [{r.paired.low:+.4f}, {r.paired.high:+.4f}]; "
                f"defaults rank {rank_of(r.default_score, r.trial_scores)} by the objective, "
                f"{rank_of(r.default_auc, r.trial_aucs)} by test"
            )
        line += (
            f" outer_splits={len(splits)} first_seed={first.seed} default_mean={default_mean:.4f} "
            f"swept_mean={swept_mean:.4f} mean_diff={summary.mean:+.4f} se={summary.standard_error:.4f} "
            f"sweep_wins={summary.wins}/{summary.splits}"
        )
    print(line)


if __name__ == "__main__":
    main()
