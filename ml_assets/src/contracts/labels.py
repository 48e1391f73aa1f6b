"""The ground-truth labels: what a labels file holds and which label of a record counts. Standard library only.

Labels arrive weeks or months after the prediction (a credit default is known when payments stop), in any number
of batches: files under the labels location (``LABELS_CONTAINER``/``LABELS_PREFIX``, or the data asset
``LABELS_DATA_ASSET``), CSV (``.csv``, UTF-8, header row) or Parquet (``.parquet``), in any sub-folder. Each row:

- :data:`ID` ``id``: the record's key (``record_identity.record_key``: the ``record_id`` the client sent, else
  ``<request_id>/<record_index>``);
- :data:`LABEL` ``label``: whether the client defaulted: ``1``/``0``, ``true``/``false`` (any case, as the
  training data spells the target), or a boolean;
- :data:`LABEL_TIME` ``label_time``: when the label became known (ISO-8601; naive times are UTC).

**Which label counts** (:func:`winner_order`): the same record may be labelled in several batches, duplicated or
revised. Only labels known at the job's ``labels_as_of`` count (a later one is *late*: the next job sees it).
Among those, the latest ``label_time`` wins; on a tie, the file whose path (relative to the labels location)
sorts last, and within it the last row. So the result never depends on the order in which files are listed or
read. A row whose id, label or time cannot be read is counted (``invalid_label_rows``) and ignored; a record
without a label counts against the coverage. A label whose id matches no prediction of the window is ignored
(``unmatched_labels``).
"""

from __future__ import annotations

from typing import Any, Final

ID: Final = "id"
LABEL: Final = "label"
LABEL_TIME: Final = "label_time"
COLUMNS: Final = (ID, LABEL, LABEL_TIME)
SUFFIXES: Final = (".csv", ".parquet")

# A label's text, trimmed and lower-cased (what a CSV cell, a boolean or a 0/1 number reads as).
TRUE_TEXTS: Final = ("1", "true", "1.0")
FALSE_TEXTS: Final = ("0", "false", "0.0")


def parse_label(value: Any) -> int | None:
    """1 (defaulted), 0, or None when ``value`` is not a label."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and value in (0, 1):
        return int(value)
    if isinstance(value, str):
        text = value.strip().casefold()
        if text in TRUE_TEXTS:
            return 1
        if text in FALSE_TEXTS:
            return 0
    return None


def winner_order(label_time: Any, file_path: str, row: int) -> tuple[Any, str, int]:
    """The sort key of one label among the labels of its record: the largest wins."""
    return (label_time, file_path, row)


def is_labels_file(name: str) -> bool:
    return name.lower().endswith(SUFFIXES)


__all__ = [
    "COLUMNS",
    "FALSE_TEXTS",
    "ID",
    "LABEL",
    "LABEL_TIME",
    "SUFFIXES",
    "TRUE_TEXTS",
    "is_labels_file",
    "parse_label",
    "winner_order",
]
