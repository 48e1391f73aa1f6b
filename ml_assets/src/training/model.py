"""The credit-default model: a scikit-learn pipeline (feature encoding + gradient-boosted trees) and the
MLflow helpers every step and the scoring script share.

Latency is the design constraint: one record must score in a few milliseconds. So the pipeline is
``CreditFeatures`` (a small transformer: ordinal codes for the categories, unknown categories → NaN, plus a few
ratios) followed by ``HistGradientBoostingClassifier`` on a plain float matrix. A ``ColumnTransformer`` with an
``OrdinalEncoder`` (or the classifier's native categorical support, which builds one internally) costs 3-9 ms
per call in scikit-learn 1.9 whatever the batch size; this transformer costs ~0.3 ms. The repayment-status codes
are ordered (duly paid < no delay < 1 month < … < 9 months), so trees split them well as numbers.

``CreditFeatures`` keeps everything it needs in fitted attributes and its methods use only numpy/pandas, so
the model is pickled *by value* (cloudpickle): loading it needs scikit-learn, pandas and numpy, not this code.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline

from ..contracts.feature_schema import CATEGORIES, FEATURES, NUMERIC

# Engineered columns appended after the 23 features (names for the record, order matters).
ENGINEERED: tuple[str, ...] = (
    "utilisation_1",
    "utilisation_2",
    "payment_ratio_1",
    "payment_ratio_2",
    "payment_ratio_3",
    "delay_months_total",
    "delay_months_max",
    "months_delayed",
    "payments_over_bills",
)


class CreditFeatures(TransformerMixin, BaseEstimator):
    """DataFrame in the curated schema (extra columns ignored) → float matrix for the trees.

    Categories become their index in the schema's vocabulary (unknown → NaN, which the trees treat as
    missing); numbers pass through; ``engineered`` adds credit utilisation, payment/bill ratios and delay counts.
    """

    def __init__(self, engineered: bool = True) -> None:
        self.engineered = engineered

    def fit(self, X: Any, y: Any = None) -> CreditFeatures:
        self.features_ = list(FEATURES)
        self.codes_ = {name: {v: float(i) for i, v in enumerate(CATEGORIES[name])} for name in CATEGORIES}
        self.categorical_index_ = [i for i, f in enumerate(FEATURES) if f in CATEGORIES]
        self.numeric_index_ = [i for i, f in enumerate(FEATURES) if f in NUMERIC]
        self.limit_index_ = FEATURES.index("credit_limit")
        self.bill_index_ = [FEATURES.index(f"bill_amount_{i}") for i in range(1, 7)]
        self.payment_index_ = [FEATURES.index(f"payment_amount_{i}") for i in range(1, 7)]
        self.status_index_ = [FEATURES.index(f"repayment_status_{i}") for i in range(1, 7)]
        self.no_delay_code_ = float(CATEGORIES["repayment_status_1"].index("no_delay"))
        self.n_features_in_ = len(FEATURES)
        self.feature_names_out_ = [*FEATURES, *(ENGINEERED if self.engineered else ())]
        return self

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(self.feature_names_out_, dtype=object)

    def _encode_rows(self, values: np.ndarray) -> np.ndarray:
        """Few rows: dictionary look-ups (no per-column pandas overhead)."""
        base = np.empty((values.shape[0], len(self.features_)), dtype=np.float64)
        nan = math.nan
        for j in self.categorical_index_:
            codes = self.codes_[self.features_[j]]
            base[:, j] = [codes.get(v, nan) for v in values[:, j]]
        base[:, self.numeric_index_] = values[:, self.numeric_index_].astype(np.float64)
        return base

    def _encode_frame(self, X: pd.DataFrame) -> np.ndarray:
        """Many rows: vectorised per column."""
        base = np.empty((len(X), len(self.features_)), dtype=np.float64)
        for j in self.categorical_index_:
            name = self.features_[j]
            codes = pd.Index(list(self.codes_[name])).get_indexer(X[name].to_numpy(dtype=object))
            base[:, j] = np.where(codes < 0, np.nan, codes)
        numeric = [self.features_[j] for j in self.numeric_index_]
        base[:, self.numeric_index_] = X[numeric].to_numpy(dtype=np.float64)
        return base

    def transform(self, X: Any) -> np.ndarray:
        if isinstance(X, pd.DataFrame):
            if list(X.columns) != self.features_:
                X = X.reindex(columns=self.features_)
            base = self._encode_frame(X) if len(X) > 32 else self._encode_rows(X.to_numpy(dtype=object))
        else:
            values = np.asarray(X, dtype=object)
            if values.ndim != 2 or values.shape[1] != len(self.features_):
                raise ValueError(f"expected {len(self.features_)} columns in the curated order")
            base = self._encode_rows(values)
        if not self.engineered:
            return base
        limit = np.maximum(base[:, self.limit_index_], 1.0)[:, None]
        bills = base[:, self.bill_index_]
        payments = base[:, self.payment_index_]
        utilisation = bills[:, :2] / limit
        # payment_amount_i pays bill_amount_{i+1} (the previous month's statement).
        ratios = payments[:, :3] / np.maximum(bills[:, 1:4], 1.0)
        delays = np.clip(np.nan_to_num(base[:, self.status_index_] - self.no_delay_code_, nan=0.0), 0.0, None)
        over = payments.sum(axis=1) / np.maximum(bills.sum(axis=1), 1.0)
        return np.column_stack(
            [base, utilisation, ratios, delays.sum(axis=1), delays.max(axis=1), (delays > 0).sum(axis=1), over]
        )


@dataclass(frozen=True)
class Hyperparameters:
    """The training inputs of the component (defaults measured on the real data: see docs/ml-assets.md "The model")."""

    learning_rate: float = 0.1
    max_iter: int = 80
    max_leaf_nodes: int = 15
    max_depth: int = 0  # 0: no limit
    min_samples_leaf: int = 60
    l2_regularization: float = 1.0
    max_features: float = 1.0  # share of the features each split may consider
    max_bins: int = 255
    seed: int = 42

    def validate(self) -> None:
        problems = []
        if not 0 < self.learning_rate <= 1:
            problems.append(f"learning_rate {self.learning_rate} is not in (0, 1]")
        if self.max_iter < 1:
            problems.append(f"max_iter {self.max_iter} < 1")
        if self.max_leaf_nodes < 2:
            problems.append(f"max_leaf_nodes {self.max_leaf_nodes} < 2")
        if self.max_depth < 0:
            problems.append(f"max_depth {self.max_depth} < 0 (0 means no limit)")
        if self.min_samples_leaf < 1:
            problems.append(f"min_samples_leaf {self.min_samples_leaf} < 1")
        if self.l2_regularization < 0:
            problems.append(f"l2_regularization {self.l2_regularization} < 0")
        if not 0 < self.max_features <= 1:
            problems.append(f"max_features {self.max_features} is not in (0, 1]")
        if not 2 <= self.max_bins <= 255:
            problems.append(f"max_bins {self.max_bins} is not in 2..255")
        if problems:
            raise ValueError("invalid hyperparameters: " + "; ".join(problems))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_pipeline(params: Hyperparameters) -> Pipeline:
    params.validate()
    classifier = HistGradientBoostingClassifier(
        learning_rate=params.learning_rate,
        max_iter=params.max_iter,
        max_leaf_nodes=params.max_leaf_nodes,
        max_depth=params.max_depth or None,
        min_samples_leaf=params.min_samples_leaf,
        l2_regularization=params.l2_regularization,
        max_features=params.max_features,
        max_bins=params.max_bins,
        early_stopping=False,  # deterministic: every tree is kept, no random validation split
        random_state=params.seed,
    )
    return Pipeline([("features", CreditFeatures()), ("classifier", classifier)])


# --- MLflow -------------------------------------------------------------------------------------------


def find_mlmodel_dir(root: str | Path) -> Path:
    """The folder holding ``MLmodel`` at or below ``root`` (Azure ML nests the model one or two levels down)."""
    root = Path(root)
    if (root / "MLmodel").is_file():
        return root
    found = sorted(p.parent for p in root.rglob("MLmodel") if p.is_file())
    if not found:
        raise FileNotFoundError(f"no MLflow model (MLmodel file) under {root}")
    if len(found) > 1:
        raise FileNotFoundError(f"several MLflow models under {root}: {', '.join(map(str, found))}")
    return found[0]


def model_metadata(path: str | Path) -> dict[str, Any]:
    """The ``metadata`` of the MLflow model at or below ``path`` (empty when it has none)."""
    from mlflow.models import Model

    return dict(Model.load(str(find_mlmodel_dir(path) / "MLmodel")).metadata or {})


def save_model(
    pipeline: Pipeline,
    path: str | Path,
    example: pd.DataFrame,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Save as an MLflow model (sklearn flavour, pyfunc predicts probabilities) with signature and example.

    ``CreditFeatures`` is pickled by value, so the saved model does not need this package to load.
    """
    import logging

    import cloudpickle
    import mlflow.sklearn
    from mlflow.models import infer_signature

    path = Path(path)
    if path.exists() and not any(path.iterdir()):
        path.rmdir()  # an (empty) output folder mounted by Azure ML or made by the runner
    # Numbers as float64 in the signature: JSON clients may send 33 or 33.0 for an age.
    example = example.loc[:, list(FEATURES)].head(5).reset_index(drop=True).astype(dict.fromkeys(NUMERIC, "float64"))
    signature = infer_signature(example, pipeline.predict_proba(example))
    module = sys.modules[CreditFeatures.__module__]
    cloudpickle.register_pickle_by_value(module)
    # MLflow warns about pickle formats: the by-value pickle is deliberate (see the module docstring).
    logging.getLogger("mlflow.sklearn").setLevel(logging.ERROR)
    try:
        mlflow.sklearn.save_model(
            pipeline,
            str(path),
            serialization_format="cloudpickle",
            signature=signature,
            input_example=example,
            pyfunc_predict_fn="predict_proba",
            metadata=dict(metadata or {}),
        )
    finally:
        cloudpickle.unregister_pickle_by_value(module)
    return path


def load_model(path: str | Path) -> Any:
    """The scikit-learn pipeline of the MLflow model at or below ``path``."""
    import mlflow.sklearn

    return mlflow.sklearn.load_model(str(find_mlmodel_dir(path)))


def predict_default_probability(model: Any, frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(model.predict_proba(frame.loc[:, list(FEATURES)])[:, 1], dtype=np.float64)
