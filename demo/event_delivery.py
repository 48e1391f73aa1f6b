"""The local Event Grid subscription: the outbox's ModelRegistered events delivered to the app's handler.

In Azure, an Event Grid subscription delivers the workspace topic's ``ModelRegistered`` events to
``deploy_registered_model``, retrying with back-off and dead-lettering after the last attempt. Here
:class:`EventDelivery` delivers the local outbox (``shared/local/events.py``) to a handler (the function's own user
function, called with the real ``func.EventGridEvent`` that :func:`to_function_event` builds, as the Functions host
would) oldest first. A handler that raises is retried on a later call after a back-off; after ``max_attempts`` the
event moves to ``dead-letter/`` with the error. Delivered events move to ``delivered/``. Like Event Grid, delivery
is at least once: the handler must be idempotent (it is).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ml_assets.src.stores.atomic_files import utc_stamp, write_json_atomic
from shared.local.events import DEAD_LETTER, DELIVERED, OUTBOX, events_root

log = logging.getLogger(__name__)


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
