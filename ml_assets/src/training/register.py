"""Pipeline step ``register``: register the model if the evaluation decided so.

Tags: the metrics, the training data asset (and version), the pipeline job name and the git commit when known,
the data-quality gate's headline figures (``data_quality``, ``data_quality_findings``, …), and the trial record the
train step wrote into the model (its hyperparameters as ``hp_*``, its validation score: for a sweep, the best
trial's); the gate's report without its per-column figures is the model's ``data_quality`` property.
The evaluate step's scores of the model on the test split (``prediction_reference.json``) are stored inside the
registered model folder, next to ``MLmodel`` (a copy of the model folder is registered: an input is read-only),
and tagged ``prediction_reference`` / ``prediction_reference_rows``: the reference of prediction drift.
On Azure ML through ``azure-ai-ml`` (``Model`` of type ``mlflow_model``); in local mode (``MLOPS_MODE=local``)
into the local registry under ``LOCAL_STATE_DIR``. Output: ``registration/registration.json`` saying what
happened (``registered``, ``name``, ``version``, ``reason``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..contracts import prediction_reference
from ..stores.local_data_assets import DataAssetError, LocalDataAssets, data_assets_root, parse_ref, pinned_version
from ..stores.local_registry import LocalModelRegistry, LocalRegistryError, registry_root
from .data_quality_report import REGISTRY_PROPERTY, ReportError, model_property, model_tags, read_report
from .evaluate import DECISION_FILE
from .model import find_mlmodel_dir, model_metadata
from .trial_record import trial_tags

REGISTRATION_FILE = "registration.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m src.training.register", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_input", required=True, help="the MLflow model folder")
    parser.add_argument("--evaluation", required=True, help="the evaluate step's output folder")
    parser.add_argument("--model_name", required=True)
    parser.add_argument("--training_data_asset", default="", help="name:version or name@latest (for the tags)")
    parser.add_argument("--git_commit", default="")
    parser.add_argument("--data_quality", default="", help="the data-quality step's output folder (quality.json)")
    parser.add_argument("--registration", required=True, help="output folder for registration.json")
    return parser.parse_args(argv)


def read_decision(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / DECISION_FILE
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read the evaluation decision ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("register"), bool):
        raise ValueError(f"{path}: no boolean 'register' in the decision")
    return doc


def build_tags(decision: dict[str, Any], *, training_data: str, pipeline_job: str, git_commit: str) -> dict[str, str]:
    tags = {f"metric_{k}": f"{v:.6f}" for k, v in decision["challenger"]["metrics"].items()}
    champion = decision.get("champion") or {}
    tags["previous_champion"] = str(champion.get("version", "none"))
    tags["gate_reason"] = str(decision.get("reason", ""))[:250]
    if training_data:
        tags["training_data"] = training_data
        name, sep, version = training_data.replace("@", ":").rpartition(":")
        if sep:
            tags["training_data_name"], tags["training_data_version"] = name, version
    if pipeline_job:
        tags["pipeline_job"] = pipeline_job
    if git_commit:
        tags["git_commit"] = git_commit
    return tags


def read_scores(evaluation: str | Path) -> prediction_reference.PredictionReference | None:
    """The evaluate step's reference scores; None (with a warning) when its output has none."""
    path = Path(evaluation) / prediction_reference.FILE_NAME
    if not path.is_file():
        print(f"register: warning: {path} not found; the model gets no reference scores (no prediction drift)")
        return None
    return prediction_reference.read_reference(path)


def stage_model(model_dir: Path, evaluation: str | Path, workdir: Path) -> Path:
    """A copy of ``model_dir`` with the reference scores inside (``model_dir`` itself is an input, read-only)."""
    staged = workdir / model_dir.name
    shutil.copytree(model_dir, staged)
    shutil.copy2(Path(evaluation) / prediction_reference.FILE_NAME, staged / prediction_reference.FILE_NAME)
    return staged


def pin_local_training_data(asset: str, env: Mapping[str, str] | None = None) -> str:
    """Local mode: ``name@latest`` → ``name:<version>``, so the model records the exact data it was trained on.

    The version is the one the pipeline job resolved its data inputs to at submission (from the local job record,
    like Azure ML's pipeline context), else the latest local data asset version. Anything else is returned as is;
    an unresolvable reference too, with a warning (the tags are informative: registration must not fail on them).
    """
    env = os.environ if env is None else env
    text = asset.strip()
    if not text.endswith("@latest"):
        return asset
    state_dir = env.get("LOCAL_STATE_DIR", ".local")
    try:
        name, _ = parse_ref(text)
        version = pinned_version(state_dir, env.get("MLOPS_PIPELINE_JOB_NAME", ""), name)
        if version is None:
            latest = LocalDataAssets(data_assets_root(state_dir)).latest(name)
            if latest is None:
                raise DataAssetError(f"no version of data asset {name} in {data_assets_root(state_dir)}")
            version = latest.version
    except DataAssetError as exc:
        print(f"register: warning: training data {asset!r} not resolved to a version, tagged as given ({exc})")
        return asset
    return f"{name}:{version}"


def main(args: argparse.Namespace, *, ml_client: Any = None) -> int:
    out = Path(args.registration)
    out.mkdir(parents=True, exist_ok=True)
    try:
        decision = read_decision(args.evaluation)
        model_dir = find_mlmodel_dir(args.model_input)
        quality = read_report(args.data_quality) if args.data_quality else None
        trial = trial_tags(model_metadata(model_dir))
        scores = read_scores(args.evaluation) if decision["register"] else None
    except (ValueError, FileNotFoundError, ReportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not decision["register"]:
        result = {"registered": False, "name": args.model_name, "version": None, "reason": decision.get("reason")}
        (out / REGISTRATION_FILE).write_text(json.dumps(result, indent=2))
        print(f"register: not registered: {decision.get('reason')}")
        return 0

    with tempfile.TemporaryDirectory(prefix="register-") as workdir:
        if scores is not None:
            model_dir = stage_model(model_dir, args.evaluation, Path(workdir))
            trial = {**trial, **prediction_reference.model_tags(scores)}
        return _register(args, decision, model_dir, quality=quality, extra_tags=trial, ml_client=ml_client)


def _register(
    args: argparse.Namespace,
    decision: dict[str, Any],
    model_dir: Path,
    *,
    quality: dict[str, Any] | None,
    extra_tags: dict[str, str],
    ml_client: Any,
) -> int:
    """Register ``model_dir`` with its tags (Azure ML, or the local registry) and write registration.json."""
    out = Path(args.registration)
    trial = extra_tags
    description = f"credit-default classifier; {decision.get('reason', '')}"
    quality_tags = model_tags(quality) if quality is not None else {}
    quality_properties = {REGISTRY_PROPERTY: model_property(quality)} if quality is not None else {}
    mode = os.environ.get("MLOPS_MODE", "azure").strip().lower()
    if mode == "local":
        tags = (
            build_tags(
                decision,
                training_data=pin_local_training_data(args.training_data_asset),
                pipeline_job=os.environ.get("MLOPS_PIPELINE_JOB_NAME", ""),
                git_commit=args.git_commit or os.environ.get("GIT_COMMIT", ""),
            )
            | quality_tags
        )
        tags.update(trial)
        try:
            registry = LocalModelRegistry(registry_root(os.environ.get("LOCAL_STATE_DIR", ".local")))
            registered = registry.register(
                args.model_name, model_dir, tags=tags, description=description, properties=quality_properties
            )
        except LocalRegistryError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    else:
        from ..stores.azure_registry import ml_client_from_environment, pipeline_context, register_model

        client = ml_client if ml_client is not None else ml_client_from_environment()
        context = pipeline_context(client)
        tags = (
            build_tags(
                decision,
                training_data=args.training_data_asset
                if args.training_data_asset
                else context.get("training_data", ""),
                pipeline_job=context.get("pipeline_job", ""),
                git_commit=args.git_commit or os.environ.get("GIT_COMMIT", "") or context.get("git_commit", ""),
            )
            | quality_tags
        )
        tags.update(trial)
        if "context_error" in context:
            print(f"register: warning: pipeline context incomplete ({context['context_error']})")
        registered = register_model(
            client,
            name=args.model_name,
            model_dir=model_dir,
            tags=tags,
            description=description,
            properties={"decision": json.dumps(decision)[:2000], **quality_properties},
        )
    result = {
        "registered": True,
        "name": registered.name,
        "version": str(registered.version),
        "reason": decision.get("reason"),
        "tags": tags,
    }
    (out / REGISTRATION_FILE).write_text(json.dumps(result, indent=2))
    print(f"register: registered {registered.name} version {registered.version} with tags {json.dumps(tags)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(parse_args()))
