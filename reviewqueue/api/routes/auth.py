from __future__ import annotations

from fastapi import APIRouter

from reviewqueue.api.deps import Ctx, CurrentActor
from reviewqueue.schemas import PrincipalOut, SignInRequest, SignInResponse
from reviewqueue.services import auth

router = APIRouter(prefix="/v1", tags=["auth"])


def _principal(actor: auth.Actor) -> PrincipalOut:
    return PrincipalOut(id=actor.id, name=actor.name, role=actor.role.value, queues=list(actor.queues))


@router.post("/sessions", response_model=SignInResponse)
def sign_in(body: SignInRequest, ctx: Ctx) -> SignInResponse:
    """Exchange a name and password for a session token (expires after session_hours)."""
    token, actor = auth.sign_in(ctx, body.name, body.password)
    return SignInResponse(token=token, principal=_principal(actor))


@router.get("/me", response_model=PrincipalOut)
def me(actor: CurrentActor) -> PrincipalOut:
    return _principal(actor)
