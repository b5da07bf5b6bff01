"""build_connectors, the recording fake, resolve_param and Retry-After parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors._retry_after import retry_after_seconds
from connectors.base import resolve_param
from connectors.registry import CONNECTOR_NAMES, build_connectors
from reviewqueue.errors import ConnectorNotConfigured, PermanentDeliveryError, RetryableDeliveryError
from reviewqueue.testing import RecordingConnector


def test_build_connectors_returns_every_connector_by_name(make_settings):
    connectors = build_connectors(make_settings())

    assert tuple(connectors) == CONNECTOR_NAMES == ("stripe_refund", "slack_message", "sql", "webhook")
    assert all(connector.name == name for name, connector in connectors.items())


@pytest.mark.parametrize("name", CONNECTOR_NAMES)
def test_an_unconfigured_connector_fails_visibly(make_settings, make_action, name):
    connector = build_connectors(make_settings())[name]
    params = {"channel": "#x", "statement": "SELECT 1"}

    with pytest.raises(ConnectorNotConfigured):
        connector.deliver(make_action(name, params=params))
    connector.close()


def test_recording_connector_records_and_fails_on_demand(make_action):
    fake = RecordingConnector("slack_message")
    fake.fail_next(2)
    fake.fail_next(1, PermanentDeliveryError("nope"))

    for expected in (RetryableDeliveryError, RetryableDeliveryError, PermanentDeliveryError):
        with pytest.raises(expected):
            fake.deliver(make_action("slack_message", action_id="a1"))
    assert fake.deliver(make_action("slack_message", action_id="a1", attempt=4)) == {
        "recorded": True,
        "action_id": "a1",
    }
    assert [call.attempt for call in fake.calls] == [1, 1, 1, 4]
    assert [call.action_id for call in fake.delivered] == ["a1"]


# -- resolve_param, by property --------------------------------------------------------------------------

keys = st.text(st.characters(blacklist_characters="."), max_size=8)
paths = st.lists(keys, min_size=1, max_size=5)
leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.lists(st.integers(), max_size=3)
)


def nest(parts: list[str], leaf: object) -> dict:
    node: object = leaf
    for part in reversed(parts):
        node = {part: node}
    assert isinstance(node, dict)
    return node


@given(paths, leaves)
def test_resolve_param_finds_what_the_path_names(parts, leaf):
    assert resolve_param(nest(parts, leaf), ".".join(parts)) == leaf


@given(paths, leaves, keys)
def test_resolve_param_names_the_whole_path_when_a_part_is_missing(parts, leaf, extra):
    payload = nest(parts, leaf)
    missing = ".".join([*parts[:-1], parts[-1] + "_missing", extra])

    with pytest.raises(KeyError) as caught:
        resolve_param(payload, missing)
    assert caught.value.args == (missing,)


@given(paths, st.one_of(st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=3)), keys)
def test_resolve_param_does_not_descend_into_non_dicts(parts, leaf, extra):
    path = ".".join([*parts, extra])

    with pytest.raises(KeyError):
        resolve_param(nest(parts, leaf), path)


# -- Retry-After ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"RETRY-AFTER": ["3"]}, 3.0),
        ({"Retry-After": "-4"}, 0.0),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": "soon"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_seconds(headers, expected):
    assert retry_after_seconds(headers) == expected


def test_retry_after_as_an_http_date():
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    header = {"Retry-After": format_datetime(now + timedelta(seconds=90), usegmt=True)}

    assert retry_after_seconds(header, now=now) == 90.0
