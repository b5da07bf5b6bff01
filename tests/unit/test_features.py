"""Feature validation names the field at fault; encoding is one function for training and serving."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reviewqueue.errors import ValidationFailed
from reviewqueue.features import Category, FeatureSchema

SCHEMA = FeatureSchema.declare({"amount": float, "count": int, "flag": bool, "kind": Category("a", "b")})
VALID = {"amount": 1.5, "count": 2, "flag": True, "kind": "b"}


def test_valid_values_pass_and_encode_in_declaration_order() -> None:
    assert SCHEMA.validate(VALID) == VALID
    assert SCHEMA.encode([VALID]).tolist() == [[1.5, 2.0, 1.0, 1.0]]


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({k: v for k, v in VALID.items() if k != "count"}, "features.count", "missing"),
        ({**VALID, "extra": 1}, "features.extra", "unknown feature"),
        ({**VALID, "amount": "12"}, "features.amount", "expected a number"),
        ({**VALID, "amount": True}, "features.amount", "expected a number"),
        ({**VALID, "amount": float("nan")}, "features.amount", "finite"),
        ({**VALID, "amount": float("inf")}, "features.amount", "finite"),
        ({**VALID, "count": 2.5}, "features.count", "integer"),
        ({**VALID, "flag": 1}, "features.flag", "true or false"),
        ({**VALID, "kind": "c"}, "features.kind", "one of"),
        ({**VALID, "amount": 1e13}, "features.amount", "out of range"),
    ],
)
def test_invalid_values_name_the_field(values: dict, field: str, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message) as caught:
        SCHEMA.validate(values)
    assert caught.value.field == field


def test_non_object_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        SCHEMA.validate([1, 2])
    assert caught.value.field == "features"


@given(st.dictionaries(st.text(max_size=8), st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
                       max_size=6))
def test_validate_accepts_only_well_typed_complete_objects(values: dict) -> None:
    try:
        clean = SCHEMA.validate(values)
    except ValidationFailed as exc:
        assert exc.field and exc.field.startswith("features")
        return
    assert set(clean) == set(SCHEMA.names)
    assert isinstance(clean["flag"], bool) and clean["kind"] in ("a", "b")
    assert math.isfinite(clean["amount"]) and not isinstance(clean["amount"], bool)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
       st.integers(min_value=-10**6, max_value=10**6), st.booleans(), st.sampled_from(["a", "b"]))
def test_every_valid_row_encodes_to_finite_floats(amount: float, count: int, flag: bool, kind: str) -> None:
    row = SCHEMA.validate({"amount": amount, "count": count, "flag": flag, "kind": kind})
    encoded = SCHEMA.encode([row])
    assert encoded.shape == (1, 4)
    assert all(math.isfinite(float(v)) for v in encoded[0])


def test_schema_round_trips_through_json() -> None:
    assert FeatureSchema.from_json(SCHEMA.to_json()) == SCHEMA


def test_bad_declarations_are_refused() -> None:
    with pytest.raises(ValueError, match="declare float"):
        FeatureSchema.declare({"x": list})
    with pytest.raises(ValueError, match="distinct"):
        Category("a", "a")
