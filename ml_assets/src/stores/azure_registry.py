"""The Azure ML model registry as the evaluate and register steps use it, on ``azure-ai-ml`` (imported lazily).

Inside an Azure ML job the workspace comes from the ``AZUREML_ARM_*`` environment variables and the credential
from the compute's managed identity (``DefaultAzureCredential``; a user-assigned identity is picked through
``DEFAULT_IDENTITY_CLIENT_ID``, which Azure ML sets). The steps use only a small part of ``MLClient``:
``models.list`` (the champion tag), ``models.download``, ``models.create_or_update`` and ``jobs.get`` — tests
pass a fake with those.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..contracts.champion import pick_champion
from .job_identity import job_credential
from .local_registry import RegisteredModel


class AzureRegistryError(RuntimeError):
    pass


def ml_client_from_environment(env: Mapping[str, str] | None = None) -> Any:
    """``MLClient`` for the workspace the current Azure ML job runs in."""
    env = os.environ if env is None else env
    names = ("AZUREML_ARM_SUBSCRIPTION", "AZUREML_ARM_RESOURCEGROUP", "AZUREML_ARM_WORKSPACE_NAME")
    missing = [n for n in names if not env.get(n)]
    if missing:
        raise AzureRegistryError(
            f"environment variable {missing[0]} is not set: the step is not running in an Azure ML job "
            "(set MLOPS_MODE=local to use the local registry)"
        )
    from azure.ai.ml import MLClient

    return MLClient(
        job_credential(env),
        subscription_id=env["AZUREML_ARM_SUBSCRIPTION"],
        resource_group_name=env["AZUREML_ARM_RESOURCEGROUP"],
        workspace_name=env["AZUREML_ARM_WORKSPACE_NAME"],
    )


@dataclass
class DownloadedModel:
    name: str
    version: str
    path: Path
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    def cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def champion_version(client: Any, name: str) -> str | None:
    """The version tagged champion (the one serving, see ``contracts/champion.py``), None when no version is."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        versions = list(client.models.list(name=name))
    except ResourceNotFoundError:
        return None
    tagged = ((str(m.version), {str(k): str(v) for k, v in (getattr(m, "tags", None) or {}).items()}) for m in versions)
    return pick_champion(tagged)


def download_champion(client: Any, name: str) -> DownloadedModel | None:
    """Download the champion into a temporary folder; None when no version is the champion."""
    version = champion_version(client, name)
    if version is None:
        return None
    tmp = tempfile.TemporaryDirectory(prefix="champion-")
    client.models.download(name=name, version=version, download_path=tmp.name)
    return DownloadedModel(name=name, version=version, path=Path(tmp.name), _tmp=tmp)


def build_model_entity(
    *, name: str, model_dir: str | Path, tags: Mapping[str, str], description: str, properties: Mapping[str, str]
) -> Any:
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Model

    return Model(
        name=name,
        path=str(model_dir),
        type=AssetTypes.MLFLOW_MODEL,
        description=description,
        tags=dict(tags),
        properties=dict(properties),
    )


def register_model(
    client: Any,
    *,
    name: str,
    model_dir: str | Path,
    tags: Mapping[str, str],
    description: str,
    properties: Mapping[str, str] | None = None,
) -> RegisteredModel:
    """Register ``model_dir`` as the next version of ``name`` (the service assigns the version)."""
    entity = build_model_entity(
        name=name, model_dir=model_dir, tags=tags, description=description, properties=properties or {}
    )
    created = client.models.create_or_update(entity)
    return RegisteredModel(
        name=str(created.name),
        version=int(created.version),
        path=Path(str(getattr(created, "path", model_dir) or model_dir)),
        tags=dict(getattr(created, "tags", None) or tags),
        description=description,
        created=str(getattr(getattr(created, "creation_context", None), "created_at", "") or ""),
    )


def pipeline_context(client: Any, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Best effort: the pipeline job name, its training data input and git commit, from the job's records.

    Never raises: these only feed the model's tags.
    """
    env = os.environ if env is None else env
    out: dict[str, str] = {}
    root = env.get("AZUREML_ROOT_RUN_ID") or ""
    try:
        if not root and env.get("AZUREML_RUN_ID"):
            step = client.jobs.get(env["AZUREML_RUN_ID"])
            properties = getattr(step, "properties", None) or {}
            root = properties.get("azureml.rootpipelinerunid") or properties.get("azureml.pipelinerunid") or ""
        if root:
            out["pipeline_job"] = root
            job = client.jobs.get(root)
            properties = getattr(job, "properties", None) or {}
            commit = properties.get("mlflow.source.git.commit") or properties.get("azureml.git.commit")
            if commit:
                out["git_commit"] = str(commit)
            data = (getattr(job, "inputs", None) or {}).get("training_data")
            path = getattr(data, "path", None)
            if path:
                out["training_data"] = str(path).removeprefix("azureml:")
    except Exception as exc:  # noqa: BLE001 - informative tags only
        out.setdefault("context_error", f"{type(exc).__name__}: {str(exc)[:200]}")
    return out
