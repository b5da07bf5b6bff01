"""Sign-in and "who am I": the principal with what the authorization table lets them see."""

from __future__ import annotations

from fastapi import APIRouter

from reviewqueue.api.deps import Ctx, CurrentActor
from reviewqueue.schemas import PrincipalOut, SignInRequest, SignInResponse
from reviewqueue.services import auth, principals

router = APIRouter(prefix="/v1", tags=["auth"])


@router.post("/sessions", response_model=SignInResponse)
def sign_in(body: SignInRequest, ctx: Ctx) -> SignInResponse:
    """Exchange a name and password for a session token (expires after session_hours)."""
    token, actor = auth.sign_in(ctx, body.name, body.password)
    return SignInResponse(token=token, principal=principals.principal_out(ctx, actor))


@router.get("/me", response_model=PrincipalOut)
def me(ctx: Ctx, actor: CurrentActor) -> PrincipalOut:
    """You, what you may do, the UI pages you may open and the queues you may triage."""
    return principals.principal_out(ctx, actor)
