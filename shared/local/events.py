"""The local Event Grid topic's outbox: the local registry's ModelRegistered events, queued as files.

In Azure, registering a model makes the workspace's system topic publish
``Microsoft.MachineLearningServices.ModelRegistered``, and an Event Grid subscription delivers it to
``deploy_registered_model``. Locally, :func:`publish_model_registered` is the local registry's hook
(``MLOPS_LOCAL_REGISTRY_HOOK``, set by ``LocalJobPlatform.from_settings`` for the register step, which runs in a
pipeline subprocess). It writes the event, in the Event Grid schema with camelCase data keys as the workspace topic
sends it, into an outbox folder ``<LOCAL_STATE_DIR>/events/outbox/`` (one JSON file per event, written
atomically). A failure to publish is raised to the register step, never swallowed. Delivering the outbox to the
app's handler is the demo's part (``demo/event_delivery.py``), which moves each event to ``delivered/`` or
``dead-letter/`` beside the outbox.

Standard library only at import (the register step imports this module in its subprocess).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ml_assets.src.stores.atomic_files import utc_stamp, write_json_atomic

MODEL_REGISTERED = "Microsoft.MachineLearningServices.ModelRegistered"
LOCAL_TOPIC = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local"
    "/providers/Microsoft.MachineLearningServices/workspaces/local"
)
HOOK = "shared.local.events:publish_model_registered"
# the outbox, and beside it where the delivery moves each event when it is done with it
OUTBOX, DELIVERED, DEAD_LETTER = "outbox", "delivered", "dead-letter"


def events_root(state_dir: str | Path) -> Path:
    return Path(state_dir) / "events"


def model_registered_event(
    name: str,
    version: int | str,
    *,
    tags: Mapping[str, str] | None = None,
    properties: Mapping[str, str] | None = None,
    event_id: str | None = None,
    event_time: datetime | None = None,
    topic: str = LOCAL_TOPIC,
) -> dict[str, Any]:
    """A ModelRegistered event in the Event Grid schema, as a workspace system topic sends it."""
    return {
        "id": event_id or str(uuid.uuid4()),
        "topic": topic,
        "subject": f"models/{name}:{version}",
        "eventType": MODEL_REGISTERED,
        "eventTime": utc_stamp(event_time),
        "data": {
            "modelName": name,
            "modelVersion": str(version),
            "modelTags": dict(tags or {}),
            "modelProperties": dict(properties or {}),
        },
        "dataVersion": "2",
        "metadataVersion": "1",
    }


def publish(state_dir: str | Path, event: Mapping[str, Any]) -> Path:
    """Queue ``event`` in the outbox; returns its file. File names sort in publication order."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    path = events_root(state_dir) / OUTBOX / f"{stamp}-{event['id']}.json"
    write_json_atomic(path, {"event": dict(event), "attempts": 0, "next_attempt": 0.0, "errors": []})
    return path


def publish_model_registered(model: Any) -> None:
    """The local registry hook: queue a ModelRegistered event for ``model`` (a ``RegisteredModel``).

    Runs in the process that registered the model; the outbox is under ``LOCAL_STATE_DIR``.
    """
    state_dir = os.environ.get("LOCAL_STATE_DIR", "").strip() or ".local"
    properties = {"created": str(getattr(model, "created", "")), "description": str(getattr(model, "description", ""))}
    event = model_registered_event(model.name, model.version, tags=dict(model.tags), properties=properties)
    path = publish(state_dir, event)
    print(f"events: published {MODEL_REGISTERED} for {model.name}:{model.version} ({path.name})", flush=True)
