"""Documented sample inputs, and how the Functions Python worker hands them to a function.

``model-registered.*.json`` and ``model-deployed.*.json`` are the example events of the Azure Machine Learning
Event Grid source page ("Azure Machine Learning as an Event Grid source", example events), in both delivery
schemas: ``event-grid`` (the Event Grid schema) and ``cloudevents`` (CloudEvents 1.0), each a delivered array.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import azure.functions as func

SAMPLES = Path(__file__).resolve().parent
SCHEMAS = ("event-grid", "cloudevents")


def documented_event(name: str, schema: str) -> dict[str, Any]:
    """The one event of the documented array ``<name>.<schema>.json``."""
    (event,) = json.loads((SAMPLES / f"{name}.{schema}.json").read_text(encoding="utf-8"))
    return event


def as_delivered(event: Mapping[str, Any]) -> func.EventGridEvent | func.CloudEvent:
    """The object the worker passes for one event of a delivered array: the host invokes the function once per
    event with its JSON, and the library's Event Grid converter decodes it (a ``func.CloudEvent`` when the
    event has ``specversion``, else a ``func.EventGridEvent``)."""
    from azure.functions.eventgrid import EventGridEventInConverter
    from azure.functions.meta import Datum

    return EventGridEventInConverter.decode(Datum(json.dumps(event), "json"), trigger_metadata={})
