"""File-store primitives of the local mode, one definition for every local store (standard library only).

The local model registry, the local data assets (both importable by pipeline steps, whose code root is
``ml_assets/``), and the app's local job records, event outbox, alert state and endpoint state files all
write small JSON documents that another process may read at any time, and the two versioned stores claim
version numbers that concurrent writers must never share.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

# Azure ML's rule for model and data asset names, used for the local stores' folder names.
NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
MAX_VERSION_ATTEMPTS: Final = 1000


def utc_stamp(moment: datetime | None = None) -> str:
    """``moment`` (default: now) as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write_json_atomic(
    path: Path, doc: Mapping[str, Any], *, fsync: bool = True, default: Callable[[Any], Any] | None = None
) -> None:
    """Write ``doc`` (indented, sorted keys) so a reader sees the old or the new document, never a part.

    A temporary file in the same folder (created with the folder) is renamed over ``path``; ``fsync`` also
    makes the content durable before the rename (for documents that must survive a crash of the machine).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(doc, handle, indent=2, sort_keys=True, default=default)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def claim_version_folder(folder: Path) -> Path | None:
    """Create the next free integer-named version folder in ``folder`` and return it (None after
    :data:`MAX_VERSION_ATTEMPTS` lost races). ``os.mkdir`` is atomic: concurrent claimers never share a number,
    and a number whose folder exists (even one left without metadata by a crash) is never reused."""
    numbers = [int(c.name) for c in folder.iterdir() if c.name.isdigit()]
    candidate = max(numbers, default=0) + 1
    for _ in range(MAX_VERSION_ATTEMPTS):
        path = folder / str(candidate)
        try:
            os.mkdir(path)
        except FileExistsError:
            candidate += 1
            continue
        return path
    return None
