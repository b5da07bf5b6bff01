"""How a principal is presented: who they are and what the authorization table lets them see and do."""

from __future__ import annotations

from reviewqueue.domain.permissions import GRANTS, Actor, Permission, pages_for, queues_for
from reviewqueue.schemas import PrincipalOut
from reviewqueue.services.context import AppContext
from reviewqueue.services.queue import declared_queues


def principal_out(ctx: AppContext, actor: Actor) -> PrincipalOut:
    """The one place an Actor becomes PrincipalOut (sign-in and /v1/me)."""
    return PrincipalOut(
        id=actor.id, name=actor.name, role=actor.role.value, queues=list(actor.queues),
        permissions=sorted(p.value for p in GRANTS.get(actor.role, frozenset())),
        pages=pages_for(actor),
        review_queues=queues_for(actor, Permission.ITEMS_REVIEW, declared_queues(ctx)),
    )
