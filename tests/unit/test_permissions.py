"""The one authorization table: what each role may do, queue scoping for reviewers, and what /v1/me reports."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reviewqueue.domain.permissions import (
    GRANTS,
    Actor,
    Permission,
    allowed,
    authorize,
    pages_for,
    queue_scope,
    queues_for,
)
from reviewqueue.domain.states import Role
from reviewqueue.errors import Forbidden


def actor(role: Role, *queues: str) -> Actor:
    return Actor(1, role.value, role, tuple(queues))


def test_every_role_has_a_row_and_admins_hold_everything() -> None:
    assert set(GRANTS) == set(Role)
    assert GRANTS[Role.ADMIN] == frozenset(Permission)


@pytest.mark.parametrize(("role", "permission", "expected"), [
    (Role.INTEGRATION, Permission.EVENTS_INGEST, True),
    (Role.INTEGRATION, Permission.MODELS_READ, True),  # the input schema it must send
    (Role.INTEGRATION, Permission.VERSIONS_READ, False),  # no versions, runs or quality
    (Role.INTEGRATION, Permission.ITEMS_READ, False),
    (Role.INTEGRATION, Permission.ACTIONS_READ, False),
    (Role.REVIEWER, Permission.EVENTS_INGEST, False),
    (Role.REVIEWER, Permission.VERSIONS_READ, False),
    (Role.REVIEWER, Permission.ACTIONS_REPLAY, False),
    (Role.DATA_SCIENTIST, Permission.ITEMS_REVIEW, False),
    (Role.DATA_SCIENTIST, Permission.MODELS_RETRAIN, True),
    (Role.DATA_SCIENTIST, Permission.ACTIONS_REPLAY, False),
])
def test_role_grants(role: Role, permission: Permission, expected: bool) -> None:
    assert allowed(actor(role, "fraud"), permission) is expected


def test_reviewers_hold_queue_permissions_only_on_their_queues() -> None:
    ana = actor(Role.REVIEWER, "fraud")
    assert allowed(ana, Permission.ITEMS_REVIEW, "fraud")
    assert not allowed(ana, Permission.ITEMS_REVIEW, "clinical")
    assert not allowed(ana, Permission.QUEUES_READ, "clinical")
    with pytest.raises(Forbidden) as refused:
        authorize(ana, Permission.ITEMS_READ, "clinical")
    assert refused.value.field == "queue" and "clinical" in refused.value.message
    # admins and data scientists are not queue-scoped
    assert allowed(actor(Role.ADMIN), Permission.ITEMS_REVIEW, "clinical")
    assert allowed(actor(Role.DATA_SCIENTIST), Permission.ITEMS_READ, "clinical")


def test_a_refusal_names_the_permission_and_the_role() -> None:
    with pytest.raises(Forbidden, match=r"actions\.replay: role 'reviewer'"):
        authorize(actor(Role.REVIEWER, "fraud"), Permission.ACTIONS_REPLAY)


def test_pages_and_review_queues_follow_the_table() -> None:
    declared = ["fraud", "clinical", "clinical-learning"]
    assert pages_for(actor(Role.ADMIN)) == ["queues", "triage", "actions", "models", "monitor", "audit"]
    assert pages_for(actor(Role.REVIEWER, "fraud")) == ["queues", "triage", "actions"]
    assert pages_for(actor(Role.DATA_SCIENTIST)) == ["queues", "actions", "models", "monitor"]
    assert pages_for(actor(Role.INTEGRATION)) == ["queues"]
    assert queues_for(actor(Role.ADMIN), Permission.ITEMS_REVIEW, declared) == declared
    assert queues_for(actor(Role.REVIEWER, "kyc", "clinical"), Permission.ITEMS_REVIEW, declared) == [
        "clinical", "kyc"]
    assert queues_for(actor(Role.DATA_SCIENTIST), Permission.ITEMS_REVIEW, declared) == []


def test_queue_scope_is_what_list_reads_filter_by() -> None:
    """None: every queue; a reviewer: their own queues, for reads (actions included) as for writes."""
    assert queue_scope(actor(Role.ADMIN), Permission.ACTIONS_READ) is None
    assert queue_scope(actor(Role.DATA_SCIENTIST), Permission.ACTIONS_READ) is None
    assert queue_scope(actor(Role.REVIEWER, "clinical"), Permission.ACTIONS_READ) == ("clinical",)
    assert queue_scope(actor(Role.INTEGRATION), Permission.ACTIONS_READ) == ()
    assert not allowed(actor(Role.REVIEWER, "clinical"), Permission.ACTIONS_READ, "fraud")
    assert queue_scope(actor(Role.REVIEWER, "fraud"), Permission.AUDIT_READ) == ()


@given(role=st.sampled_from(list(Role)), permission=st.sampled_from(list(Permission)),
       own=st.lists(st.sampled_from(["a", "b", "c"]), unique=True), queue=st.sampled_from(["a", "b", "c"]))
def test_allowed_and_authorize_agree_and_queue_access_never_exceeds_role_access(
        role: Role, permission: Permission, own: list[str], queue: str) -> None:
    who = actor(role, *own)
    for scope in (None, queue):
        if allowed(who, permission, scope):
            authorize(who, permission, scope)
        else:
            with pytest.raises(Forbidden):
                authorize(who, permission, scope)
    assert not allowed(who, permission, queue) or allowed(who, permission)
    assert set(queues_for(who, permission, ["a", "b", "c"])) <= {"a", "b", "c", *own}
