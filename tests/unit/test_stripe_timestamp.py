"""The Stripe-Signature t= parser reads ASCII digits only, whatever else int() would take."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reviewqueue.errors import SignatureInvalid
from reviewqueue.services.feedback import stripe_timestamp

PLAIN = re.compile(r"[0-9]{1,12}")


@given(st.integers(min_value=0, max_value=10**12 - 1), st.text(alphabet="0123456789abcdef", max_size=64))
def test_plain_digits_read_back_as_the_number(timestamp, mac):
    assert stripe_timestamp(f"t={timestamp},v1={mac}") == timestamp
    assert stripe_timestamp(f"v1={mac},t={timestamp}") == timestamp


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_characters=","), max_size=16))
def test_any_other_spelling_is_refused_naming_the_header(value):
    header = f"t={value},v1=abc"
    if PLAIN.fullmatch(value):
        assert stripe_timestamp(header) == int(value)
    else:
        with pytest.raises(SignatureInvalid) as refused:
            stripe_timestamp(header)
        assert refused.value.field == "Stripe-Signature"


@given(st.integers(min_value=0, max_value=10**10), st.sampled_from(["+{}", " {}", "{} ", "0_{}", "{}\n"]))
def test_forms_int_accepts_are_refused(timestamp, form):
    value = form.format(timestamp)
    assert int(value) == timestamp  # what stripe-python would have read
    with pytest.raises(SignatureInvalid):
        stripe_timestamp(f"t={value},v1=abc")


@pytest.mark.parametrize("header", ["", "v1=abc", "t=1,t=1,v1=abc", "t=,v1=abc", "t=1=2,v1=abc"])
def test_missing_repeated_or_empty_timestamps_are_refused(header):
    with pytest.raises(SignatureInvalid):
        stripe_timestamp(header)
