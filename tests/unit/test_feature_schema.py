"""The feature schema's record rules: impossible values refused by name, unusual ones allowed and counted, every
wrong type or string that is not valid Unicode refused by name (never another exception), and the real data, the
sample request and the synthetic generator all possible under the rules."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_assets.src.contracts import feature_schema as fs
from ml_assets.src.training import synthetic
from ml_assets.src.training.curated_data import read_curated_file
from tests.conftest import SHARED_DATA

SAMPLE_REQUEST = Path(__file__).resolve().parents[2] / "ml_assets" / "endpoints" / "sample-request.json"
RECORD = json.loads(SAMPLE_REQUEST.read_text())["data"][0]


def _refusal(record: object, index: int = 0) -> fs.RecordError:
    with pytest.raises(fs.RecordError) as caught:
        fs.validate_record(index, record)
    return caught.value


# --- the data the project ships and reads: possible, and (the real data) inside the training range ------------


def _records_of(path: Path) -> list[dict]:
    return read_curated_file(path, require_target=False)[list(fs.FEATURES)].to_dict(orient="records")


@pytest.mark.parametrize("name", ["curated.csv", "inference-sample.csv"])
def test_every_real_row_is_possible(name: str) -> None:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real data not available at {path}")
    outside = [fs.values_outside_training_range(fs.validate_record(i, r)) for i, r in enumerate(_records_of(path))]
    if name == "curated.csv":  # the training range is this data's span: nothing outside, both ends reached
        assert sum(outside) == 0
    else:  # the drift-test sample: ages shifted by up to 5 years, limits doubled in some rows
        assert 0 < sum(outside) < len(outside)


def test_the_training_range_is_the_real_datas_span(real_data_csv: Path) -> None:
    frame = read_curated_file(real_data_csv, require_target=False)
    for name, rule in fs.VALUE_RULES.items():
        kind = name.rsplit("_", 1)[0] if name[-1].isdigit() else name
        columns = [c for c in fs.NUMERIC_FEATURES if c == name or c.rsplit("_", 1)[0] == kind]
        assert (frame[columns].min().min(), frame[columns].max().max()) == rule.training, name


def test_sample_request_and_synthetic_data_are_possible_and_in_range() -> None:
    records = [
        *json.loads(SAMPLE_REQUEST.read_text())["data"],
        *synthetic.generate(3000, seed=11, with_target=False).to_dict(orient="records"),
    ]
    assert sum(fs.values_outside_training_range(fs.validate_record(i, r)) for i, r in enumerate(records)) == 0


def test_shifted_synthetic_data_stays_possible() -> None:
    shift = {"age": "+45", "credit_limit": "*4", "payment_amount_1": "-900", "bill_amount_2": "-60000"}
    records = synthetic.generate(2000, seed=3, with_target=False, shift=shift).to_dict(orient="records")
    outside = [fs.values_outside_training_range(fs.validate_record(i, r)) for i, r in enumerate(records)]
    assert sum(outside) > 0


# --- impossible values: refused, naming the record and the field -----------------------------------------------


def _impossible(rule: fs.ValueRule) -> st.SearchStrategy[float]:
    low, high = rule.possible
    return st.one_of(
        st.floats(max_value=low, exclude_max=True, allow_nan=False, allow_infinity=False),
        st.floats(min_value=high, exclude_min=True, allow_nan=False, allow_infinity=False),
        st.integers(max_value=math.ceil(low) - 1),
        st.integers(min_value=math.floor(high) + 1),
        st.integers(min_value=10**300, max_value=10**1000),  # beyond any float: compared exactly
    )


@settings(max_examples=200, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(fs.VALUE_RULES)), index=st.integers(0, 999))
def test_an_impossible_value_is_refused_naming_the_field(data: st.DataObject, name: str, index: int) -> None:
    value = data.draw(_impossible(fs.VALUE_RULES[name]))
    error = _refusal({**RECORD, name: value}, index)
    assert (error.index, error.field) == (index, name)
    assert str(error).startswith(f"record {index}, field {name!r}: ") and len(str(error)) < 200


def test_impossible_values_say_why() -> None:
    assert "never negative" in str(_refusal({**RECORD, "credit_limit": -1}))
    assert "younger than 15" in str(_refusal({**RECORD, "age": 14}))
    assert "older than 120" in str(_refusal({**RECORD, "age": 121}))
    assert "not a whole number" in str(_refusal({**RECORD, "age": 33.5}))
    assert "amount paid is never negative" in str(_refusal({**RECORD, "payment_amount_3": -0.01}))
    assert "NT$ 2e14" in str(_refusal({**RECORD, "bill_amount_1": -2e13}))
    assert "an integer of about 401 digits" in str(_refusal({**RECORD, "age": 10**400}))
    assert "is not one of duly_paid" in str(_refusal({**RECORD, "repayment_status_2": "delay_10_months"}))


def test_the_bounds_are_the_domains_and_contain_the_training_range() -> None:
    assert (fs.MIN_CARDHOLDER_AGE, fs.MAX_CARDHOLDER_AGE) == (15, 120)
    for name, rule in fs.VALUE_RULES.items():
        assert rule.possible[0] <= rule.training[0] < rule.training[1] <= rule.possible[1], name
    assert fs.VALUE_RULES["bill_amount_1"].possible[0] < 0  # a credit balance is a negative bill


# --- unusual but possible: allowed, and counted --------------------------------------------------------------


def _unusual(rule: fs.ValueRule) -> st.SearchStrategy[float]:
    (low, high), (train_low, train_high) = rule.possible, rule.training
    if rule.whole:
        return st.one_of(st.integers(int(low), int(train_low) - 1), st.integers(int(train_high) + 1, int(high)))
    below = st.floats(min_value=low, max_value=train_low, exclude_max=True) if low < train_low else st.nothing()
    return st.one_of(below, st.floats(min_value=train_high, max_value=high, exclude_min=True))


@settings(max_examples=150, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(fs.VALUE_RULES)))
def test_a_possible_value_outside_the_training_range_is_allowed_and_counted(data: st.DataObject, name: str) -> None:
    value = data.draw(_unusual(fs.VALUE_RULES[name]))
    clean = fs.validate_record(0, {**RECORD, name: value})
    assert clean[name] == value
    assert fs.values_outside_training_range(clean) == 1


def test_unusual_values_examples() -> None:
    for name, value in [
        ("age", 95),
        ("age", 17),
        ("credit_limit", 250_000),
        ("credit_limit", 0),
        ("bill_amount_4", -2e5),
    ]:
        assert fs.values_outside_training_range(fs.validate_record(0, {**RECORD, name: value})) == 1, (name, value)
    clean = fs.validate_record(0, {**RECORD, "age": 95, "credit_limit": 250_000, "bill_amount_1": -100.0})
    assert fs.values_outside_training_range(clean) == 2  # a small credit balance is in the training range


def test_numbers_come_back_as_their_schema_type() -> None:
    clean = fs.validate_record(0, {**RECORD, "age": 33.0, "credit_limit": 18000})
    assert type(clean["age"]) is int and type(clean["credit_limit"]) is float


# --- wrong types, invalid Unicode, odd keys: refused by name, nothing else raised ------------------------------

_NOT_A_NUMBER = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.floats(allow_nan=True, allow_infinity=True).filter(lambda v: not math.isfinite(v)),
)
_NOT_A_STRING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.lists(st.text(max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
)
_SURROGATE = st.integers(0xD800, 0xDFFF).map(chr)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), name=st.sampled_from(fs.FEATURES))
def test_a_wrong_type_at_any_field_is_refused_naming_it(data: st.DataObject, name: str) -> None:
    value = data.draw(_NOT_A_STRING if name in fs.CATEGORIES else _NOT_A_NUMBER)
    error = _refusal({**RECORD, name: value})
    assert error.field == name and "expected a" in str(error)


@settings(max_examples=100, deadline=None)
@given(name=st.sampled_from(fs.CATEGORICAL_FEATURES), prefix=st.text(max_size=5), surrogate=_SURROGATE)
def test_a_category_that_is_not_valid_unicode_is_refused(name: str, prefix: str, surrogate: str) -> None:
    error = _refusal({**RECORD, name: prefix + surrogate})
    assert error.field == name and "not valid Unicode" in str(error)


def test_odd_keys_are_refused_naming_the_first() -> None:
    error = _refusal({**RECORD, 1: "x", None: 2, (3,): 4, "zeta": 5})  # keys of mixed types cannot be sorted
    assert error.field == "1" and "and 3 more" in str(error)
    error = _refusal({**RECORD, "se\udc80x": "male"})
    assert "not valid Unicode" in str(error)
    error = _refusal({**RECORD, **{f"extra_{i}": i for i in range(50_000)}})
    assert error.field == "extra_0" and "and 49999 more" in str(error)
    assert len(str(_refusal({**RECORD, "k" * 1_000_000: 1}))) < 200


def test_not_an_object_is_refused() -> None:
    for value in (None, [], "x", 3, [RECORD]):
        assert _refusal(value, 4).field is None


def test_unknown_categories_count_any_value_outside_the_vocabularies() -> None:
    assert fs.unknown_categories(RECORD) == 0
    assert fs.unknown_categories({**RECORD, "sex": ["male"], "education": {"a": 1}, "marriage": None}) == 3
    assert fs.unknown_categories({**RECORD, "education": "doctorate"}) == 1
    clean = fs.validate_record(0, {**RECORD, "education": "doctorate", "sex": "diverse"})
    assert fs.unknown_categories(clean) == 2


def test_json_names_of_types() -> None:
    names = [fs.json_type(v) for v in ({}, [], "", True, None, 1, 1.5, b"")]
    assert names == ["object", "array", "string", "boolean", "null", "number", "number", "bytes"]
