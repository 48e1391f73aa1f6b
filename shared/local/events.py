"""Local Event Grid: the local registry's ModelRegistered events, queued and delivered at least once.

In Azure, registering a model makes the workspace's system topic publish
``Microsoft.MachineLearningServices.ModelRegistered`` and an Event Grid subscription delivers it to
``deploy_registered_model``, retrying with back-off and dead-lettering after the last attempt. Locally:

- :func:`publish_model_registered` is the local registry's hook (``MLOPS_LOCAL_REGISTRY_HOOK``, set by
  ``LocalJobPlatform.from_settings`` and by the demo for the register step, which runs in a pipeline
  subprocess). It writes the event, in the Event Grid schema with camelCase data keys as the workspace topic
  sends it, into an outbox folder ``<LOCAL_STATE_DIR>/events/outbox/`` (one JSON file per event, written
  atomically). A failure to publish is raised to the register step, never swallowed.
- :class:`EventDelivery` delivers the outbox to a handler (the function's own user function, called with a
  real ``func.EventGridEvent``) oldest first. A handler that raises is retried on a later call after a
  back-off; after ``max_attempts`` the event moves to ``dead-letter/`` with the error. Delivered events move
  to ``delivered/``. Like Event Grid, delivery is at least once: the handler must be idempotent (it is).

Standard library only at import (the register step imports this module in its subprocess).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ml_assets.src.stores.atomic_files import utc_stamp, write_json_atomic

log = logging.getLogger(__name__)

MODEL_REGISTERED = "Microsoft.MachineLearningServices.ModelRegistered"
LOCAL_TOPIC = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local"
    "/providers/Microsoft.MachineLearningServices/workspaces/local"
)
HOOK = "shared.local.events:publish_model_registered"
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


@dataclass(frozen=True)
class Delivery:
    event_id: str
    subject: str
    outcome: str  # delivered, retry, dead-lettered
    attempts: int
    error: str = ""


Handler = Callable[[Any], None]


class EventDelivery:
    """Delivers the outbox to ``handler`` (called with a ``func.EventGridEvent``), at least once."""

    def __init__(
        self,
        state_dir: str | Path,
        handler: Handler,
        *,
        max_attempts: int = 5,
        backoff_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.root = events_root(state_dir)
        self.handler = handler
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.clock = clock

    def pending(self) -> list[Path]:
        folder = self.root / OUTBOX
        return sorted(folder.glob("*.json")) if folder.is_dir() else []

    def folder(self, which: str) -> list[dict[str, Any]]:
        """The event documents in ``delivered`` / ``dead-letter`` / ``outbox``, oldest first."""
        folder = self.root / which
        if not folder.is_dir():
            return []
        return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]

    def deliver_pending(self) -> list[Delivery]:
        """One delivery attempt for every queued event that is due; returns what happened to each."""
        results = []
        for path in self.pending():
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
                event = doc["event"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                self._move(path, DEAD_LETTER, {"event": None, "errors": [f"unreadable event file: {exc}"]})
                results.append(Delivery(path.stem, "", "dead-lettered", 0, f"unreadable event file: {exc}"))
                continue
            if float(doc.get("next_attempt", 0.0)) > self.clock():
                continue
            results.append(self._attempt(path, doc, event))
        return results

    def _attempt(self, path: Path, doc: dict[str, Any], event: Mapping[str, Any]) -> Delivery:
        attempts = int(doc.get("attempts", 0)) + 1
        event_id, subject = str(event.get("id", "")), str(event.get("subject", ""))
        try:
            self.handler(to_function_event(event))
        except Exception as exc:  # noqa: BLE001 - a failing handler is retried, like Event Grid does
            error = f"{type(exc).__name__}: {exc}"
            doc.update(attempts=attempts, errors=[*doc.get("errors", []), error][-10:])
            if attempts >= self.max_attempts:
                self._move(path, DEAD_LETTER, doc)
                log.error("events: %s dead-lettered after %d attempts: %s", event_id, attempts, error)
                return Delivery(event_id, subject, "dead-lettered", attempts, error)
            doc["next_attempt"] = self.clock() + self.backoff_seconds * 2 ** (attempts - 1)
            write_json_atomic(path, doc)
            log.warning("events: %s delivery attempt %d failed, will retry: %s", event_id, attempts, error)
            return Delivery(event_id, subject, "retry", attempts, error)
        doc.update(attempts=attempts, delivered_at=utc_stamp())
        self._move(path, DELIVERED, doc)
        return Delivery(event_id, subject, "delivered", attempts)

    def _move(self, path: Path, which: str, doc: Mapping[str, Any]) -> None:
        write_json_atomic(self.root / which / path.name, doc)
        path.unlink(missing_ok=True)


def to_function_event(event: Mapping[str, Any]) -> Any:
    """The ``func.EventGridEvent`` the Functions host would pass for ``event`` (Event Grid schema)."""
    import azure.functions as func

    event_time = event.get("eventTime")
    moment = datetime.fromisoformat(str(event_time).replace("Z", "+00:00")) if event_time else None
    return func.EventGridEvent(
        id=str(event.get("id", "")),
        data=event.get("data"),
        topic=str(event.get("topic", "")),
        subject=str(event.get("subject", "")),
        event_type=str(event.get("eventType", "")),
        event_time=moment,
        data_version=str(event.get("dataVersion", "")),
    )
