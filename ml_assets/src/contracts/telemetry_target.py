"""Where a monitoring job sends its telemetry: the one Application Insights resource the alert rules watch.

A job in an Azure ML workspace sends to that workspace's Application Insights unless the submission names another
resource with the pipeline input :data:`TELEMETRY_RESOURCE_INPUT`. The deployment names the app's own resource (the
app setting ``JOB_TELEMETRY_RESOURCE_ID``), so an existing workspace with an Application Insights of its own does not
take the jobs' metrics away from the rules. The submitter (the app's settings) and the job (its argument) read the
value with :func:`parse_resource_id`. Standard library only.
"""

from __future__ import annotations

import re
from typing import Final

TELEMETRY_RESOURCE_INPUT: Final = "telemetry_resource"
UNSET: Final = "none"  # a pipeline input cannot be left empty: "none" means the workspace's own resource

_RESOURCE_ID: Final = re.compile(
    r"/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[-\w._()]{1,90}"
    r"/providers/microsoft\.insights/components/[-\w._()]{1,260}",
    re.IGNORECASE,
)


def parse_resource_id(text: str | None) -> str | None:
    """The resource ID of an Application Insights component, or None for an unset value (empty or ``none``).
    Raises ValueError for anything else, naming what is expected."""
    value = (text or "").strip()
    if value.lower() in ("", UNSET):
        return None
    if not _RESOURCE_ID.fullmatch(value):
        raise ValueError(
            f"{value[:120]!r} is not an Application Insights resource ID "
            "(/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Insights/components/<name>)"
        )
    return value
