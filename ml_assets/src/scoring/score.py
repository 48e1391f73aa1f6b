"""Online scoring script for azmlinfsrv (Azure ML managed online deployment, or ``python -m shared.local serve``).

``init()`` loads the MLflow model found under ``AZUREML_MODEL_DIR``. ``run()`` takes ``{"data": [records]}``
(records in the curated schema, each optionally with its ``record_id``: not a feature, logged with the record so
that its label can be joined later, ``contracts/record_identity.py``) and returns
``{"predictions": [probability of default, ...]}``. Bad input gets a 400 whose
message names the record index and the field; it is never scored and never a 500 (``request_parsing``: every
body is either parsed or refused). Every scored request is printed as console-log lines
(``console_log.format_lines``, with the counts of unknown categories and of values outside the training range)
that the export reads back from Log Analytics. When the deployment enables data collection, the same inputs and
predictions go to Azure ML's data collector under the same request id (``data_collection``: never in the way of
the answer).

azmlinfsrv loads this file by path (module ``entry_module``, no package), so the modules it needs are imported
from the package ``src`` of the deployment's code root (``ml_assets/``, two folders above this file); imported as
part of a package (``ml_assets.src.scoring.score`` in the tests) it uses relative imports.
"""

from __future__ import annotations

import os

# One request is scored on one core: OpenMP thread start-up would cost more than the trees (set before numpy).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import re
import sys
import traceback
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__:
    from ..contracts import console_log, feature_schema
    from ..training.model import find_mlmodel_dir
    from .data_collection import DataCollection
    from .request_parsing import BadRequest, parse_request
else:  # loaded by path: make the code root importable and import the other modules from the package `src`
    _code_root = str(Path(__file__).resolve().parents[2])
    if _code_root not in sys.path:
        sys.path.insert(0, _code_root)
    from src.contracts import console_log, feature_schema  # type: ignore[no-redef]
    from src.scoring.data_collection import DataCollection  # type: ignore[no-redef]
    from src.scoring.request_parsing import BadRequest, parse_request  # type: ignore[no-redef]
    from src.training.model import find_mlmodel_dir  # type: ignore[no-redef]

from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse

__all__ = ["BadRequest", "handle", "init", "parse_request", "run"]

DEFAULT_MAX_RECORDS = 1000
_VERSIONED_DIR = re.compile(r"^\d+$")


class _State:
    model: Any = None
    model_name: str = "unknown"
    model_version: str = "0"
    deployment: str = "local"
    max_records: int = DEFAULT_MAX_RECORDS
    collection: DataCollection = DataCollection()


STATE = _State()


def model_identity(model_dir: str, env: Mapping[str, str]) -> tuple[str, str]:
    """(name, version): from ``AZUREML_MODEL_DIR`` = ``…/<name>/<version>`` (as Azure ML and the local registry lay
    it out), else the ``MODEL_NAME`` / ``MODEL_VERSION`` environment variables."""
    path = Path(model_dir.rstrip("/\\")) if model_dir else None
    if path is not None and _VERSIONED_DIR.match(path.name) and path.parent.name:
        return path.parent.name, path.name
    return env.get("MODEL_NAME") or "unknown", env.get("MODEL_VERSION") or "0"


def deployment_name(env: Mapping[str, str]) -> str:
    return env.get("DEPLOYMENT_NAME") or env.get("AZUREML_DEPLOYMENT_NAME") or "local"


def init() -> None:
    import mlflow.sklearn

    model_dir = os.environ.get("AZUREML_MODEL_DIR", "")
    if not model_dir:
        raise RuntimeError("AZUREML_MODEL_DIR is not set: it must point at the registered model's folder")
    mlmodel_dir = find_mlmodel_dir(model_dir)
    STATE.model = mlflow.sklearn.load_model(str(mlmodel_dir))
    STATE.model_name, STATE.model_version = model_identity(model_dir, os.environ)
    STATE.deployment = deployment_name(os.environ)
    try:
        STATE.max_records = max(1, int(os.environ.get("MAX_RECORDS_PER_REQUEST", DEFAULT_MAX_RECORDS)))
    except ValueError:
        STATE.max_records = DEFAULT_MAX_RECORDS
    STATE.collection = DataCollection()
    collection = STATE.collection.start(os.environ)
    print(
        f"score: loaded {STATE.model_name} version {STATE.model_version} from {mlmodel_dir} "
        f"(deployment {STATE.deployment}, at most {STATE.max_records} records per request, {collection})",
        flush=True,
    )


def request_id_from(headers: Mapping[str, str]) -> str:
    for header in ("x-request-id", "x-ms-request-id", "x-ms-client-request-id"):
        value = headers.get(header)
        if value:
            return value[:128]
    try:  # the id azmlinfsrv generated for this request (returned in its x-request-id response header)
        from flask import g

        generated = getattr(g, "request_id", "")
        if generated:
            return str(generated)
    except (ImportError, RuntimeError):
        pass
    return str(uuid.uuid4())


def score(rows: list[list[Any]]) -> tuple[Any, list[float]]:
    """(the DataFrame scored, the probabilities of default)."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(feature_schema.FEATURES))
    return frame, [float(p) for p in STATE.model.predict_proba(frame)[:, 1]]


def handle(body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    """The request logic without the web server: (status, JSON document)."""
    request_id = request_id_from(headers)
    if STATE.model is None:
        return 503, {"error": "the model is not loaded (init() has not completed)", "request_id": request_id}
    try:
        parsed = parse_request(body, STATE.max_records)
    except BadRequest as exc:
        print(f"score: request {request_id} rejected (400): {exc}", flush=True)
        return 400, {"error": str(exc), "request_id": request_id}
    try:
        frame, predictions = score(parsed.rows)
    except Exception:  # noqa: BLE001 - the client gets a message and the request id, the log gets the traceback
        print(f"score: request {request_id} failed:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
        return 500, {"error": "internal error while scoring; see the deployment logs", "request_id": request_id}
    lines = console_log.format_lines(
        request_id=request_id,
        model_name=STATE.model_name,
        model_version=STATE.model_version,
        deployment=STATE.deployment,
        time=datetime.now(UTC),
        columns=feature_schema.FEATURES,
        rows=parsed.rows,
        predictions=predictions,
        unknown_categories=parsed.unknown_categories,
        values_outside_training_range=parsed.values_outside_training_range,
        record_ids=parsed.record_ids,
    )
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()
    STATE.collection.collect(request_id, frame, predictions)
    return 200, {"predictions": predictions}


@rawhttp
def run(request: Any) -> AMLResponse:
    """azmlinfsrv entry point (raw HTTP: the request id comes from the headers)."""
    if request.method != "POST":
        return AMLResponse({"error": 'POST a JSON body {"data": [records]}'}, 405, json_str=True)
    status, doc = handle(request.get_data(cache=False), {k.lower(): v for k, v in request.headers.items()})
    return AMLResponse(doc, status, json_str=True)
