"""The payload text the one-statement write stores (db.single_write): its JSON cut where the ids go and joined
with the ids is exactly json.dumps of the payload holding them — what the ORM stores — whatever the event holds,
text that looks like a marker included."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from reviewqueue.db.single_write import _payload_pieces

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10)


@given(features=st.dictionaries(st.text(max_size=12), json_values, max_size=5), with_item=st.booleans(),
       ids=st.tuples(st.integers(1, 2**62), st.integers(1, 2**62), st.integers(1, 2**62)))
def test_the_cut_payload_joined_with_its_ids_is_the_payload_as_json(features, with_item, ids):
    payload = {"model": "fraud", "external_id": '"x:prediction_id"', "prediction_id": None, "item_id": None,
               "decision_id": 0, "features": features}
    pieces, keys = _payload_pieces(payload, with_item)
    given_ids = dict(zip(("prediction_id", "decision_id", "item_id"), ids, strict=True))
    assert set(keys) == {"prediction_id", "decision_id", *(("item_id",) if with_item else ())}
    joined = pieces[0] + "".join(str(given_ids[k]) + piece for k, piece in zip(keys, pieces[1:], strict=True))
    expected = {**payload, "prediction_id": given_ids["prediction_id"], "decision_id": given_ids["decision_id"],
                "item_id": given_ids["item_id"] if with_item else None}
    assert joined == json.dumps(expected)
