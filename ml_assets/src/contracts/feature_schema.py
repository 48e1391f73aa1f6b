"""The curated credit-card-default schema: the one definition every step, the scoring script, the export
and the drift component import. Standard library only.

23 features and the target ``default_payment_next_month``. Amounts are the UCI NT$ values divided by 20.
"""

from __future__ import annotations

import math
from typing import Any, Final

TARGET: Final = "default_payment_next_month"

REPAYMENT_STATUS_VALUES: Final = (
    "duly_paid",
    "no_delay",
    "delay_1_month",
    *(f"delay_{n}_months" for n in range(2, 10)),
)

CATEGORIES: Final[dict[str, tuple[str, ...]]] = {
    "sex": ("female", "male"),
    "education": ("graduate_school", "university", "high_school", "other"),
    "marriage": ("married", "single", "other"),
    **{f"repayment_status_{i}": REPAYMENT_STATUS_VALUES for i in range(1, 7)},
}

# Numeric features and whether they are integers in the data (credit_limit and age are; amounts have cents).
NUMERIC: Final[dict[str, str]] = {
    "credit_limit": "float",
    "age": "int",
    **{f"bill_amount_{i}": "float" for i in range(1, 7)},
    **{f"payment_amount_{i}": "float" for i in range(1, 7)},
}

# Column order of the curated files (and of every model input).
FEATURES: Final[tuple[str, ...]] = (
    "credit_limit",
    "sex",
    "education",
    "marriage",
    "age",
    *(f"repayment_status_{i}" for i in range(1, 7)),
    *(f"bill_amount_{i}" for i in range(1, 7)),
    *(f"payment_amount_{i}" for i in range(1, 7)),
)
CATEGORICAL_FEATURES: Final[tuple[str, ...]] = tuple(f for f in FEATURES if f in CATEGORIES)
NUMERIC_FEATURES: Final[tuple[str, ...]] = tuple(f for f in FEATURES if f in NUMERIC)
COLUMNS: Final[tuple[str, ...]] = (*FEATURES, TARGET)

_TRUE = {"true", "1", "1.0", "yes"}
_FALSE = {"false", "0", "0.0", "no"}


def parse_target(value: Any) -> int:
    """The target as 0/1 from ``True``/``False`` strings, booleans or 0/1 (numbers or strings)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and value in (0, 1):
        return int(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return 1
    if text in _FALSE:
        return 0
    raise ValueError(f"{TARGET}: {value!r} is not True/False, a boolean or 0/1")


class RecordError(ValueError):
    """A record does not fit the schema. ``field`` names the column (None: the record itself)."""

    def __init__(self, index: int, field: str | None, message: str) -> None:
        self.index = index
        self.field = field
        where = f"record {index}" + (f", field {field!r}" if field else "")
        super().__init__(f"{where}: {message}")


def validate_record(index: int, record: Any, *, allow_extra: bool = False) -> dict[str, Any]:
    """Check one input record (a JSON object) against the schema; return it with numbers as float/int.

    Unknown categories are allowed (the model's encoder ignores them); missing columns, wrong types and
    (unless ``allow_extra``) unknown columns raise :class:`RecordError` naming the record and field.
    """
    if not isinstance(record, dict):
        raise RecordError(
            index, None, f"expected an object with the {len(FEATURES)} features, got {type(record).__name__}"
        )
    missing = [f for f in FEATURES if f not in record]
    if missing:
        raise RecordError(
            index, missing[0], f"missing (and {len(missing) - 1} more)" if len(missing) > 1 else "missing"
        )
    if not allow_extra:
        extra = sorted(set(record) - set(FEATURES))
        if extra:
            raise RecordError(index, extra[0], "unknown column")
    out: dict[str, Any] = {}
    for name in FEATURES:
        value = record[name]
        if name in CATEGORIES:
            if not isinstance(value, str):
                raise RecordError(index, name, f"expected a string category, got {type(value).__name__}")
            out[name] = value
        else:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise RecordError(index, name, f"expected a number, got {type(value).__name__}")
            if not math.isfinite(value):
                raise RecordError(index, name, "expected a finite number")
            out[name] = value
    return out


def unknown_categories(record: dict[str, Any]) -> int:
    """How many categorical values of ``record`` are outside the known vocabularies."""
    return sum(1 for name, values in CATEGORIES.items() if record.get(name) not in values)
