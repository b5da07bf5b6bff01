"""The one check of what may be stored (reviewqueue.features.check_storable): any JSON-like value is either
accepted — and then it encodes as UTF-8 JSON and decodes back equal — or refused naming the path of a value at
fault that really is at fault there."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reviewqueue.errors import ValidationFailed
from reviewqueue.features import FeatureSchema, check_storable, printable

ANY_TEXT = st.one_of(st.text(st.characters(exclude_categories=()), max_size=12),
                     st.sampled_from(["\x00", "\ud800", "a\udfffb", "ok", "\U0001f600"]))
SCALARS = st.one_of(st.none(), st.booleans(), ANY_TEXT, st.floats(),
                    st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([10**400, -(10**400)]))
# names without "." or "[" so that a path reads back unambiguously
NAMES = st.one_of(st.text(st.characters(exclude_categories=(), exclude_characters=".[]\\"), max_size=6),
                  st.sampled_from(["\x00", "n\ud800"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(NAMES, inner, max_size=4)), max_leaves=12)


def fine(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" not in value and not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(fine(v) for v in value)
    return all(fine(k) and fine(v) for k, v in value.items())


def at(value: Any, path: str) -> Any:
    """The value that ``path`` (below "v") names; for a bad name, the name itself."""
    for name, index in re.findall(r"\.([^.\[]*)|\[(\d+)\]", path[1:]):
        if index:
            value = value[int(index)]
            continue
        [key] = [k for k in value if printable(k) == name]
        if not fine(key):
            return key
        value = value[key]
    return value


@given(VALUES)
def test_accepted_values_round_trip_as_utf8_json_and_refusals_name_a_bad_value(value):
    try:
        check_storable(value, "v")
    except ValidationFailed as exc:
        assert not fine(value)
        assert exc.field and exc.message.startswith(exc.field)
        culprit = at(value, exc.field)
        assert not isinstance(culprit, list | dict) and not fine(culprit), (exc.field, culprit)
        exc.message.encode("utf-8")  # the message itself can be sent
        return
    assert fine(value)
    assert json.loads(json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")) == value


@pytest.mark.parametrize(("value", "problem"), [
    (10**400, "out of range"), (2**63, "out of range"), (-(2**63) - 1, "out of range"),
    (float("nan"), "finite"), (float("inf"), "finite"),
])
def test_numbers_beyond_range_are_refused_by_an_int_feature_naming_it_not_raised(value, problem):
    schema = FeatureSchema.declare({"hour": int, "amount": float})
    with pytest.raises(ValidationFailed) as refused:
        schema.validate({"hour": value, "amount": 1.0}, where="events[0].features")
    assert refused.value.field == "events[0].features.hour" and problem in refused.value.message
