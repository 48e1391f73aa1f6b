"""Pipeline step ``evaluate``: score the new model (challenger) and the current champion on the same test split
and decide whether to register the challenger.

Metrics: ROC AUC, F1, precision, recall and accuracy (threshold 0.5). The champion is the version of
``--model_name`` that serves: the one the app's rollout tagged ``champion`` (``contracts/champion.py``; Azure ML's
workspace registry, or the local registry when ``MLOPS_MODE=local``), never merely the latest registered one, so
a version that was rolled back is not the bar. The gate: register when there is no champion (no rollout has
succeeded yet), or when the challenger's ROC AUC ≥ the champion's + ``--min_improvement``.
Output: ``evaluation/metrics.json`` (challenger), ``evaluation/decision.json`` and the challenger's scores on the
test split (``evaluation/prediction_reference.json``, :mod:`..contracts.prediction_reference`), which the register
step stores with the model as the reference for prediction drift.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..contracts.champion import pick_champion
from ..contracts.prediction_reference import write_reference
from ..stores.local_registry import LocalModelRegistry, registry_root
from .curated_data import DataError
from .model import load_model, predict_default_probability
from .train import read_split

DECISION_FILE = "decision.json"
METRICS_FILE = "metrics.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m src.training.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_input", required=True, help="the challenger MLflow model folder")
    parser.add_argument("--test_data", required=True, help="folder with the test split (Parquet)")
    parser.add_argument("--model_name", required=True)
    parser.add_argument("--min_improvement", type=float, default=0.0)
    parser.add_argument("--evaluation", required=True, help="output folder for metrics.json and decision.json")
    return parser.parse_args(argv)


def compute_metrics(y_true: np.ndarray, probability: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

    predicted = (probability >= threshold).astype(int)
    return {
        "roc_auc": round(float(roc_auc_score(y_true, probability)), 6),
        "f1": round(float(f1_score(y_true, predicted, zero_division=0)), 6),
        "precision": round(float(precision_score(y_true, predicted, zero_division=0)), 6),
        "recall": round(float(recall_score(y_true, predicted, zero_division=0)), 6),
        "accuracy": round(float(accuracy_score(y_true, predicted)), 6),
    }


def decide(
    challenger: Mapping[str, float], champion: Mapping[str, float] | None, min_improvement: float
) -> tuple[bool, str]:
    """The gate, on ROC AUC."""
    if champion is None:
        return True, "no champion: no version has been rolled out successfully yet"
    new, old = challenger["roc_auc"], champion["roc_auc"]
    if new >= old + min_improvement:
        return True, f"challenger ROC AUC {new:.4f} >= champion {old:.4f} + min_improvement {min_improvement:g}"
    return False, f"challenger ROC AUC {new:.4f} < champion {old:.4f} + min_improvement {min_improvement:g}"


def main(args: argparse.Namespace, *, ml_client: Any = None) -> int:
    if not math.isfinite(args.min_improvement):
        print("error: --min_improvement must be a finite number", file=sys.stderr)
        return 2
    try:
        features, target = read_split(args.test_data)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    y = target.to_numpy()
    if len(np.unique(y)) < 2:
        print(f"error: {args.test_data}: the test split has one class only; ROC AUC is undefined", file=sys.stderr)
        return 1
    scores = predict_default_probability(load_model(args.model_input), features)
    challenger = compute_metrics(y, scores)
    print(f"evaluate: challenger {json.dumps(challenger)}")

    champion_doc: dict[str, Any] | None = None
    mode = os.environ.get("MLOPS_MODE", "azure").strip().lower()
    if mode == "local":
        registry = LocalModelRegistry(registry_root(os.environ.get("LOCAL_STATE_DIR", ".local")))
        versions = registry.versions(args.model_name)
        version = pick_champion((str(m.version), m.tags) for m in versions)
        if version is not None:
            champion = registry.get(args.model_name, version)
            champion_doc = _score_champion(version, champion.path, features, y)
    else:
        from ..stores.azure_registry import download_champion, ml_client_from_environment

        client = ml_client if ml_client is not None else ml_client_from_environment()
        downloaded = download_champion(client, args.model_name)
        if downloaded is not None:
            try:
                champion_doc = _score_champion(downloaded.version, downloaded.path, features, y)
            finally:
                downloaded.cleanup()

    register, reason = decide(challenger, champion_doc["metrics"] if champion_doc else None, args.min_improvement)
    decision = {
        "register": register,
        "reason": reason,
        "model_name": args.model_name,
        "min_improvement": args.min_improvement,
        "test_rows": len(y),
        "challenger": {"metrics": challenger},
        "champion": champion_doc,
    }
    out = Path(args.evaluation)
    out.mkdir(parents=True, exist_ok=True)
    (out / METRICS_FILE).write_text(json.dumps(challenger, indent=2))
    (out / DECISION_FILE).write_text(json.dumps(decision, indent=2))
    write_reference(out, scores, source="test split", positive_rate=round(float(np.mean(y)), 6))
    print(f"evaluate: {'REGISTER' if register else 'KEEP CHAMPION'}: {reason}")
    return 0


def _score_champion(version: str, path: Path, features: Any, y: np.ndarray) -> dict[str, Any]:
    try:
        model = load_model(path)
        metrics = compute_metrics(y, predict_default_probability(model, features))
    except Exception as exc:
        raise RuntimeError(
            f"the champion (version {version}, {path}) cannot be scored on the test split: {exc}"
        ) from exc
    print(f"evaluate: champion version {version} {json.dumps(metrics)}")
    return {"version": version, "metrics": metrics}


if __name__ == "__main__":
    sys.exit(main(parse_args()))
