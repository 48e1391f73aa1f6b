"""The window's exported predictions of one model version, each with the label that counts for it (if any).

A prediction's key is the contract's (``record_identity.record_key``): its ``record_id`` column, else
``<request_id>/<record_index>`` (files written before the column existed have none: every key is then the
request's). The rows whose ``time`` lies in ``[window_start, window_end)`` are kept; the files are picked by
their partition folders like the drift component picks them (``drift.target_files``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..contracts.export_layout import PREDICTION, RECORD_ID, RECORD_INDEX, REQUEST_ID, TIME
from ..contracts.record_identity import KEY_SEPARATOR
from ..drift.feature_tables import SchemaError
from ..drift.target_files import Selection, Window, select_target_files
from .labels_files import LABEL_ID, LABEL_VALUE, LabelsRead

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

KEY = "record_key"


@dataclass(frozen=True)
class Joined:
    """Per prediction of the window (in no particular order): its probability and its label (-1: none yet)."""

    predictions: np.ndarray  # float64
    labels: np.ndarray  # int8: 1, 0, or -1 (no label)
    selection: Selection
    duplicate_keys: int  # predictions sharing a key with another (a client reusing a record_id)
    unmatched_labels: int  # labels that count but name no prediction of the window


def _read_predictions(file: Path, window: Window) -> pa.Table:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    names = set(pq.read_schema(file).names)
    for column in (REQUEST_ID, RECORD_INDEX, TIME, PREDICTION):
        if column not in names:
            raise SchemaError(column, "missing", str(file))
    columns = [REQUEST_ID, RECORD_INDEX, TIME, PREDICTION, *([RECORD_ID] if RECORD_ID in names else [])]
    table = pq.ParquetFile(file).read(columns=columns, use_threads=False)
    if window.bounded:
        times = table.column(TIME)
        keep = None
        if window.start is not None:
            keep = pc.greater_equal(times, pa.scalar(window.start, times.type))
        if window.end is not None:
            before = pc.less(times, pa.scalar(window.end, times.type))
            keep = before if keep is None else pc.and_(keep, before)
        table = table.filter(keep)
    fallback = pc.binary_join_element_wise(
        pc.cast(table.column(REQUEST_ID), pa.string()), pc.cast(table.column(RECORD_INDEX), pa.string()), KEY_SEPARATOR
    )
    if RECORD_ID in table.column_names:
        own = pc.cast(table.column(RECORD_ID), pa.string())
        key = pc.if_else(pc.fill_null(pc.not_equal(own, ""), False), own, fallback)
    else:
        key = fallback
    prediction = pc.cast(table.column(PREDICTION), pa.float64())
    return pa.table({KEY: key, PREDICTION: prediction})


def join_window(target: Path, model_name: str, model_version: str, window: Window, labels: LabelsRead) -> Joined:
    """The window's predictions with their labels (the labels as read by ``labels_files.read_labels``)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    selection = select_target_files(target, model_name, model_version, window)
    tables = [_read_predictions(f, window) for f in selection.files]
    if tables:
        predictions = pa.concat_tables(tables)
    else:
        predictions = pa.table({KEY: pa.array([], pa.string()), PREDICTION: pa.array([], pa.float64())})
    # The pairs' order does not matter to any figure, so the join's output order is kept as it comes.
    joined = predictions.join(labels.table, keys=KEY, right_keys=LABEL_ID, join_type="left outer", use_threads=True)
    label = joined.column(LABEL_VALUE)
    label_values = pc.fill_null(label, pa.scalar(-1, pa.int8())).to_numpy(zero_copy_only=False).astype(np.int8)
    distinct = pc.unique(predictions.column(KEY)) if predictions.num_rows else pa.array([], pa.string())
    unmatched = 0
    if labels.table.num_rows:
        matched = pc.is_in(labels.table.column(LABEL_ID), value_set=distinct)
        unmatched = labels.table.num_rows - (pc.sum(pc.cast(matched, pa.int64())).as_py() or 0)
    return Joined(
        predictions=joined.column(PREDICTION).to_numpy(zero_copy_only=False).astype(np.float64),
        labels=label_values,
        selection=selection,
        duplicate_keys=predictions.num_rows - len(distinct),
        unmatched_labels=int(unmatched),
    )
