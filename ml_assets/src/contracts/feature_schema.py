"""The curated credit-card-default schema: the one definition every step, the scoring script, the export
and the drift component import. Standard library only.

23 features and the target ``default_payment_next_month``. Amounts are the UCI NT$ values divided by 20.

What a value may be (:func:`validate_record`, :data:`VALUE_RULES`) is told apart in two kinds of bound:

- **Facts of the domain**: a value outside them cannot describe a credit card client, so a record holding one
  is refused. The UCI definitions (Yeh & Lien 2009: LIMIT_BAL the amount of credit given, AGE in years, PAY_t
  the repayment status on the scale -2..9 where 9 is "nine months and above", BILL_AMTt the bill statement,
  PAY_AMTt the amount paid) and the market the data comes from (Taiwan) give them; the reason for each is
  with its constant below.
- **The training range**: the span of the UCI data (30,000 clients, September 2005) that the curated data
  and the synthetic generator follow. Outside it a value is possible but no training row resembles it: such
  a record is scored, and the value is counted (:func:`values_outside_training_range`).

Of the categories, the repayment status is a closed code set (every code of the UCI scale has its label, so
any other value is not a repayment status and is refused); sex, education and marriage are open (UCI lists
education and marriage as "and so on", and the data holds undocumented codes): an unknown value is scored and
counted (:func:`unknown_categories`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
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


# --- Facts of the domain (a value beyond them is refused) ---------------------------------------------------

# A cardholder's age in whole years. Taiwan issues a primary card to adults only (20 until 2023, 18 since) but a
# supplementary card from 15; nobody has been verified older than 122 and nobody alive is near 120.
MIN_CARDHOLDER_AGE: Final = 15
MAX_CARDHOLDER_AGE: Final = 120
# A credit limit is an amount of credit given: never negative (zero: credit withdrawn, possible).
MIN_CREDIT_LIMIT: Final = 0.0
# An amount paid is never negative (a refund shows as a credit balance, i.e. a negative bill).
MIN_PAYMENT_AMOUNT: Final = 0.0
# Any amount, in NT$/20: 10^13 is NT$ 2 x 10^14, about eight times Taiwan's yearly GDP; no card account holds it.
MAX_AMOUNT: Final = 1e13

# --- The training range (the UCI data's span; outside it a value is scored and counted) ------------------------

TRAINING_CREDIT_LIMIT_RANGE: Final = (500.0, 50_000.0)
TRAINING_AGE_RANGE: Final = (21, 79)
TRAINING_BILL_AMOUNT_RANGE: Final = (-16_980.15, 83_204.45)  # over the six months
TRAINING_PAYMENT_AMOUNT_RANGE: Final = (0.0, 84_212.95)  # over the six months

# The categories whose code set is closed: a value outside it is refused, not counted as unknown.
CLOSED_CATEGORIES: Final = frozenset(f"repayment_status_{i}" for i in range(1, 7))

_FEATURE_SET: Final = frozenset(FEATURES)
_JSON_TYPES: Final[dict[type, str]] = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    type(None): "null",
    int: "number",
    float: "number",
}


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type (``object``, ``array``, …), for messages a client understands."""
    for kind, name in _JSON_TYPES.items():  # bool before int: a bool is an int in Python
        if isinstance(value, kind):
            return name
    return type(value).__name__


def show_value(value: Any) -> str:
    """A short rendering of a value for a message: never a 400-digit integer, never a megabyte of text."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    text = repr(value[:40] + "…" if isinstance(value, str) and len(value) > 40 else value)
    return text if len(text) <= 80 else text[:80] + "…"


@dataclass(frozen=True)
class ValueRule:
    """The bounds of one numeric feature: ``possible`` (a fact of the domain; outside: refused, with ``below`` or
    ``above`` as the reason) and ``training`` (the training range; outside: scored and counted)."""

    possible: tuple[float, float]
    training: tuple[float, float]
    whole: bool
    below: str
    above: str

    def problem(self, value: float) -> str | None:
        """Why ``value`` (a finite int or float) is impossible, or None."""
        if self.whole and isinstance(value, float) and not value.is_integer():
            return f"{show_value(value)} is not a whole number"
        low, high = self.possible
        if value < low:
            return f"{show_value(value)} is below {low:g}: {self.below}"
        if value > high:
            return f"{show_value(value)} is above {high:g}: {self.above}"
        return None


_TOO_LARGE = "no card account holds more than NT$ 2e14 (in NT$/20)"
VALUE_RULES: Final[dict[str, ValueRule]] = {
    "credit_limit": ValueRule(
        (MIN_CREDIT_LIMIT, MAX_AMOUNT),
        TRAINING_CREDIT_LIMIT_RANGE,
        False,
        "a credit limit is never negative",
        _TOO_LARGE,
    ),
    "age": ValueRule(
        (MIN_CARDHOLDER_AGE, MAX_CARDHOLDER_AGE),
        TRAINING_AGE_RANGE,
        True,
        f"no card is issued to anyone younger than {MIN_CARDHOLDER_AGE}",
        f"nobody alive is older than {MAX_CARDHOLDER_AGE}",
    ),
    **{
        f"bill_amount_{i}": ValueRule(
            (-MAX_AMOUNT, MAX_AMOUNT), TRAINING_BILL_AMOUNT_RANGE, False, _TOO_LARGE, _TOO_LARGE
        )
        for i in range(1, 7)
    },
    **{
        f"payment_amount_{i}": ValueRule(
            (MIN_PAYMENT_AMOUNT, MAX_AMOUNT),
            TRAINING_PAYMENT_AMOUNT_RANGE,
            False,
            "an amount paid is never negative",
            _TOO_LARGE,
        )
        for i in range(1, 7)
    },
}


# Per numeric feature: (lowest possible, highest possible, whole numbers only, stored as int).
_PLAIN_BOUNDS: Final[dict[str, tuple[float, float, bool, bool]]] = {
    name: (rule.possible[0], rule.possible[1], rule.whole, NUMERIC[name] == "int") for name, rule in VALUE_RULES.items()
}
_TRAINING_BOUNDS: Final = tuple((name, rule.training[0], rule.training[1]) for name, rule in VALUE_RULES.items())
_PLAIN_NUMBERS: Final = (int, float)  # exact types: a bool is an int, and is refused by the full check


class RecordError(ValueError):
    """A record does not fit the schema. ``field`` names the column (None: the record itself)."""

    def __init__(self, index: int, field: str | None, message: str) -> None:
        self.index = index
        self.field = field
        where = f"record {index}" + (f", field {show_value(field)}" if field is not None else "")
        super().__init__(f"{where}: {message}")


def validate_record(index: int, record: Any, *, allow_extra: bool = False) -> dict[str, Any]:
    """Check one input record (a decoded JSON object) against the schema; return it with numbers as float or int
    (:data:`NUMERIC`).

    Missing columns, wrong types, strings that are not valid Unicode, impossible values (:data:`VALUE_RULES`,
    :data:`CLOSED_CATEGORIES`) and (unless ``allow_extra``) unknown columns raise :class:`RecordError` naming the
    record and the field. Unknown values of the open categories and values outside the training range are
    allowed: the model handles them, and the caller counts them.
    """
    if not isinstance(record, dict):
        raise RecordError(index, None, f"expected an object with the {len(FEATURES)} features, got {json_type(record)}")
    missing = [f for f in FEATURES if f not in record]
    if missing:
        raise RecordError(
            index, missing[0], f"missing (and {len(missing) - 1} more)" if len(missing) > 1 else "missing"
        )
    if not allow_extra and len(record) > len(FEATURES):
        _refuse_extra_columns(index, record)
    out: dict[str, Any] = {}
    for name in FEATURES:
        value = record[name]
        # Every value of every request passes here: a value that is plainly fine is settled inline, and only
        # the rest goes through the checks that name what is wrong.
        bounds = _PLAIN_BOUNDS.get(name)
        if bounds is not None and type(value) in _PLAIN_NUMBERS and bounds[0] <= value <= bounds[1]:
            if not bounds[2] or type(value) is int:
                out[name] = int(value) if bounds[3] else float(value)
                continue
        elif bounds is None and type(value) is str and value.isascii() and name not in CLOSED_CATEGORIES:
            out[name] = value
            continue
        out[name] = _category(index, name, value) if name in CATEGORIES else _number(index, name, value)
    return out


def _refuse_extra_columns(index: int, record: dict[Any, Any]) -> None:
    extra = [key for key in record if not isinstance(key, str) or key not in _FEATURE_SET]
    more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
    first = extra[0]
    if not isinstance(first, str):
        raise RecordError(index, str(first), f"unknown column{more}: a column name is a string")
    if not is_valid_unicode(first):
        raise RecordError(index, first, f"unknown column{more}, and not valid Unicode")
    raise RecordError(index, first, f"unknown column{more}")


def _category(index: int, name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise RecordError(index, name, f"expected a string category, got {json_type(value)}")
    if not is_valid_unicode(value):
        raise RecordError(index, name, "not valid Unicode (a lone surrogate, or bytes that are not UTF-8)")
    if name in CLOSED_CATEGORIES and value not in CATEGORIES[name]:
        raise RecordError(index, name, f"{show_value(value)} is not one of {', '.join(CATEGORIES[name])}")
    return value


def _number(index: int, name: str, value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(index, name, f"expected a number, got {json_type(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise RecordError(index, name, "expected a finite number (not NaN, Infinity or beyond a 64-bit float)")
    rule = VALUE_RULES[name]
    # The bounds first: almost every value is inside them, and this runs for every number of every request.
    if not rule.possible[0] <= value <= rule.possible[1] or (rule.whole and not float(value).is_integer()):
        raise RecordError(index, name, rule.problem(value) or f"{show_value(value)} is not possible")
    return int(value) if NUMERIC[name] == "int" else float(value)


def is_valid_unicode(text: str) -> bool:
    """False for a string holding a lone surrogate (an escape like ``\\ud800``, or bytes that were not UTF-8):
    it cannot be written as UTF-8, so the export could not store it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unknown_categories(record: dict[str, Any]) -> int:
    """How many categorical values of ``record`` are outside the known vocabularies (a non-string is unknown)."""
    return sum(
        1
        for name, values in CATEGORIES.items()
        if not isinstance(value := record.get(name), str) or value not in values
    )


def values_outside_training_range(record: dict[str, Any]) -> int:
    """How many numeric values of a validated ``record`` lie outside the training range (:data:`VALUE_RULES`)."""
    return sum(1 for name, low, high in _TRAINING_BOUNDS if not low <= record[name] <= high)
