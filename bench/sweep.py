"""The training pipeline's hyperparameter sweep, run in process on the real data, against today's defaults.

Data: the real UCI data (default ``../shared/data/credit-card-default/curated.csv``) or ``--data``. Split 80/20
stratified with seed 42 (the prepare step, as ``bench/scoring.py``). The sweep is the pipeline's: its node in
``ml_assets/pipelines/train_model.yml`` planned by the local runner, its trials sampled by the runner's code
(``shared/local/pipeline_sweep.py``) with the YAML's seed and budget (``--trials`` overrides
``max_total_trials``), each trial scored as the train step scores it (``fit_and_validate``: fitted on the train
split minus a stratified validation part, ROC AUC on that part). The best trial's model (the one the pipeline
passes on) is then scored on the untouched 20 % test split, and timed as ``bench/scoring.py`` times a model (one
OpenMP thread; one record at a time: p50 of 1,000 calls; 1,000 records at once: median of 20 calls). The
defaults are fitted on the whole train split, as the train step did before the sweep, and once more as a trial
(fitted and scored like one). CPU seconds: this process's, for the sweep's trials.

Last line: ``default_auc=… swept_auc=… trials=… p50_ms=… batch1000_ms=… cpu_seconds=…``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model_latency import measure  # noqa: E402 - bench/, the script's own folder

REAL_DATA = ROOT.parent / "shared" / "data" / "credit-card-default" / "curated.csv"
PIPELINE = ROOT / "ml_assets" / "pipelines" / "train_model.yml"


def _defaults() -> dict[str, Any]:
    """Today's values of the swept hyperparameters."""
    from ml_assets.src.training.model import Hyperparameters

    defaults = Hyperparameters().as_dict()
    return {
        n: defaults[n] for n in ("learning_rate", "max_iter", "max_leaf_nodes", "min_samples_leaf", "l2_regularization")
    }


def main() -> None:
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from ml_assets.src.contracts.feature_schema import FEATURES, TARGET
    from ml_assets.src.training.curated_data import read_curated_folder
    from ml_assets.src.training.model import Hyperparameters, build_pipeline, load_model, save_model
    from ml_assets.src.training.train import fit_and_validate
    from shared.local.pipeline_plan import plan_pipeline
    from shared.local.pipeline_sweep import sample_trials

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(REAL_DATA), help="CSV/Parquet file or folder in the curated schema")
    parser.add_argument("--trials", type=int, default=None, help="max_total_trials (default: the pipeline's)")
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
    validation_size = float(bound["validation_size"])

    frame = read_curated_folder(args.data)
    train, test = train_test_split(frame, test_size=0.2, random_state=42, stratify=frame[TARGET])
    x_train, y_train = train[list(FEATURES)], train[TARGET]
    x_test = test[list(FEATURES)].reset_index(drop=True)

    default_model = build_pipeline(Hyperparameters()).fit(x_train, y_train)
    default_auc = roc_auc_score(test[TARGET], default_model.predict_proba(x_test)[:, 1])
    # the defaults as a trial: fitted and scored like one, to tell the search from the smaller fit
    as_trial, as_trial_record = fit_and_validate(x_train, y_train, replace(fixed, **_defaults()), validation_size)
    as_trial_auc = roc_auc_score(test[TARGET], as_trial.predict_proba(x_test)[:, 1])

    cpu0, wall0 = time.process_time(), time.perf_counter()
    results = []
    for number, values in enumerate(sample_trials(sweep, budget)):
        params = replace(fixed, **values)
        model, record = fit_and_validate(x_train, y_train, params, validation_size)
        results.append((record["validation_roc_auc"], -number, number, values, model))
        print(f"trial {number}: validation_roc_auc {record['validation_roc_auc']:.4f} with {values}")
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    score, _, number, values, best = max(results, key=lambda r: (r[0], r[1]))

    with tempfile.TemporaryDirectory() as tmp:  # score the model as saved and loaded through MLflow
        save_model(best, Path(tmp) / "model", x_train)
        model = load_model(Path(tmp) / "model")
    swept_auc = roc_auc_score(test[TARGET], model.predict_proba(x_test)[:, 1])
    latency = measure(model, x_test)
    p50, b1000 = latency.p50_ms, latency.batch1000_ms
    print(f"data: {args.data}: train {len(train)} rows, test {len(test)} rows")
    print(f"sweep: {len(results)} trials ({sweep.sampling}), {wall_s:.1f}s wall, {cpu_s:.1f} CPU seconds")
    print(f"best trial #{number}: validation_roc_auc {score:.4f} with {values}")
    print(
        f"defaults as a trial: validation_roc_auc {as_trial_record['validation_roc_auc']:.4f}, "
        f"test ROC AUC {as_trial_auc:.4f}"
    )
    print(f"test ROC AUC: defaults (whole train split) {default_auc:.4f}, best trial {swept_auc:.4f}")
    print(f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}; cpus={os.cpu_count()}")
    print(
        f"default_auc={default_auc:.4f} swept_auc={swept_auc:.4f} trials={len(results)} p50_ms={p50:.3f} "
        f"batch1000_ms={b1000:.2f} cpu_seconds={cpu_s:.1f}"
    )


if __name__ == "__main__":
    main()
