"""The reference distribution of a model's scores: what prediction drift compares the served predictions with.

The training pipeline's ``evaluate`` step scores the challenger on the test split (data the model never saw, drawn
like its training data) and writes every score with :func:`write_reference`; the ``register`` step puts that file
inside the registered model's folder (next to ``MLmodel``) and tags the model with :data:`TAG_FILE` and
:data:`TAG_ROWS`. The drift submission reads the tag to know whether a version has a reference (versions
registered before it existed have none: prediction drift is then skipped with that reason) and passes the model
folder to the drift component, which finds the file with :func:`find_reference` and reads it with
:func:`read_reference`.

Why a file in the model folder and not a tag: the exact tests need the whole multiset of scores (thousands of
floats), far beyond what a tag holds, and the scores belong to that model version alone, so they travel, are
copied to a registry and are deleted with it. The tag is the cheap "has one" signal the app can read without
downloading the model.

Format: JSON (standard library on both sides; a test split of tens of thousands of scores is a few hundred KB)::

    {"schema": "credit-default-prediction-reference/1", "source": "test split", "rows": 6000,
     "positive_rate": 0.221, "predictions": [0.0731, 0.4112, ...]}

Floats are written with ``repr`` precision, so the scores read back bit for bit: the tests run on exactly the
scores the model produced. Standard library only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

SCHEMA: Final = "credit-default-prediction-reference/1"
FILE_NAME: Final = "prediction_reference.json"

# Model tags written by the register step: the file's path inside the model folder, and its number of scores.
TAG_FILE: Final = "prediction_reference"
TAG_ROWS: Final = "prediction_reference_rows"


class ReferenceError(ValueError):
    """The reference file is missing, unreadable or not in the contract's shape."""


@dataclass(frozen=True)
class PredictionReference:
    predictions: tuple[float, ...]
    source: str
    positive_rate: float | None = None

    @property
    def rows(self) -> int:
        return len(self.predictions)


def write_reference(
    folder: Path, predictions: Iterable[float], *, source: str, positive_rate: float | None = None
) -> Path:
    """Write the scores to ``folder/`` :data:`FILE_NAME`; ValueError for a score that is not a probability."""
    values = [float(p) for p in predictions]
    bad = next((p for p in values if not (math.isfinite(p) and 0.0 <= p <= 1.0)), None)
    if bad is not None:
        raise ValueError(f"a prediction reference holds probabilities in [0, 1], got {bad!r}")
    if not values:
        raise ValueError("a prediction reference needs at least one score")
    document = {
        "schema": SCHEMA,
        "source": source,
        "rows": len(values),
        "positive_rate": positive_rate,
        "predictions": values,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE_NAME
    path.write_text(json.dumps(document, allow_nan=False) + "\n", encoding="utf-8")
    return path


def read_reference(path: Path) -> PredictionReference:
    """The reference in ``path`` (the file, or a folder holding it: see :func:`find_reference`)."""
    file = find_reference(path) if path.is_dir() else path
    if file is None:
        raise ReferenceError(f"no {FILE_NAME} under {path}")
    try:
        document: Any = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReferenceError(f"{file}: cannot read the prediction reference ({exc})") from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise ReferenceError(f"{file}: not a prediction reference (expected schema {SCHEMA!r})")
    predictions = document.get("predictions")
    if not isinstance(predictions, list) or not predictions:
        raise ReferenceError(f"{file}: 'predictions' must be a non-empty list")
    if not all(isinstance(p, int | float) and not isinstance(p, bool) and math.isfinite(p) for p in predictions):
        raise ReferenceError(f"{file}: every prediction must be a finite number")
    if document.get("rows") != len(predictions):
        raise ReferenceError(f"{file}: 'rows' is {document.get('rows')!r} but {len(predictions)} predictions follow")
    rate = document.get("positive_rate")
    return PredictionReference(
        predictions=tuple(float(p) for p in predictions),
        source=str(document.get("source", "")),
        positive_rate=float(rate) if isinstance(rate, int | float) and not isinstance(rate, bool) else None,
    )


def find_reference(folder: Path) -> Path | None:
    """The reference file in a model folder: at its top, else the shallowest one below (a mounted model asset may
    wrap the MLflow folder in another folder). None when there is none."""
    direct = folder / FILE_NAME
    if direct.is_file():
        return direct
    found = sorted(folder.rglob(FILE_NAME), key=lambda p: (len(p.parts), str(p)))
    return found[0] if found else None


def model_tags(reference: PredictionReference) -> dict[str, str]:
    """The register step's tags for a model that carries ``reference``."""
    return {TAG_FILE: FILE_NAME, TAG_ROWS: str(reference.rows)}


def has_reference(tags: Mapping[str, str]) -> bool:
    """Whether a model's tags say it carries a reference (what the drift submission asks)."""
    return bool(str(tags.get(TAG_FILE, "")).strip())
