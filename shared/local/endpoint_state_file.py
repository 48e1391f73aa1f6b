"""The state file of a local endpoint: ``<state_dir>/endpoints/<endpoint>.json``, what other processes and humans
see of it.

Written atomically after every change by :class:`shared.local.endpoint_platform.LocalEndpointPlatform`: the
traffic and mirror, each deployment's model, port, pid, provisioning state and error
(:meth:`shared.local.endpoint_deployment.LocalDeployment.to_json`), the requests each deployment answered through
the router, and whether the platform that owns the processes still runs. It is a view, not a store: nothing
reads it back to rebuild an endpoint (the object that started the processes owns them).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ml_assets.src.stores.atomic_files import write_json_atomic
from shared.local.endpoint_deployment import LocalDeployment, now
from shared.local.endpoint_router import EndpointRouter


def endpoint_document(
    name: str, router: EndpointRouter, deployments: Mapping[str, LocalDeployment], *, created_at: str, running: bool
) -> dict[str, Any]:
    """The state file's content for the endpoint ``name`` as it is now."""
    return {
        "name": name,
        "provisioning_state": "Succeeded",
        "running": running,
        "scoring_uri": router.scoring_uri,
        "owner_pid": os.getpid(),
        "created_at": created_at,
        "updated_at": now(),
        "traffic": dict(router.traffic),
        "mirror_traffic": dict(router.mirror),
        "deployments": {key: deployments[key].to_json() for key in sorted(deployments)},
        "served": dict(sorted(router.served.items())),
        "mirrored": dict(sorted(router.mirrored.items())),
    }


def write_state_file(path: Path, document: Mapping[str, Any]) -> None:
    """Replace the state file at ``path`` atomically (without fsync: it is a view, not a record). OSError when it
    cannot be written."""
    write_json_atomic(path, document, fsync=False)
