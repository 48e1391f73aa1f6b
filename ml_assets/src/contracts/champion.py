"""The champion: the model version that serves, as the rollout marks it and the training pipeline's gate reads it.

The app's reconcile timer keeps the tag ``champion`` on exactly one version of the model: the one the last rollout
that ended well left serving (``succeeded``, or ``skipped`` because that version was found serving). Its value is
the time the version became champion (ISO 8601 UTC). A rollout that fails or is rolled back never moves it, so a
version that failed is never the champion. The evaluate step compares the challenger with the version carrying it;
with none (nothing has been rolled out successfully yet) there is no champion and the challenger passes the gate.

While the timer moves the tag, two versions may carry it for a moment; :func:`pick_champion` then takes the one
that became champion last. Standard library only (imported by the app and by the pipeline steps alike).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

CHAMPION_TAG = "champion"


def _version_number(version: str) -> int:
    try:
        return int(version)
    except (TypeError, ValueError):
        return -1


def pick_champion(versions: Iterable[tuple[str, Mapping[str, str]]]) -> str | None:
    """The champion among ``(version, tags)`` pairs: the version tagged :data:`CHAMPION_TAG` most recently
    (ties: the highest version), or None when no version carries the tag."""
    tagged = [
        (str(tags[CHAMPION_TAG]), _version_number(str(v)), str(v)) for v, tags in versions if CHAMPION_TAG in tags
    ]
    if not tagged:
        return None
    return max(tagged)[2]
