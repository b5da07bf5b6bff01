"""Identity: sign-in and sign-out, "who am I", tokens (list, issue with an expiry, revoke), disabling a
principal, and the audit log of admin acts."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials

from reviewqueue.api.deps import Ctx, CurrentActor, DbId, OptionalDbIdQuery, bearer
from reviewqueue.domain.permissions import Permission, authorize
from reviewqueue.schemas import (
    AuditEntryOut,
    PrincipalOut,
    PrincipalStatus,
    SignInRequest,
    SignInResponse,
    TokenIssued,
    TokenOut,
    TokenRequest,
)
from reviewqueue.services import audit, auth, identity, principals

router = APIRouter(prefix="/v1", tags=["auth"])
PrincipalName = Annotated[str, Path(min_length=1, max_length=120)]


@router.post("/sessions", response_model=SignInResponse, responses={429: {"description": "Too many attempts"}})
def sign_in(body: SignInRequest, request: Request, ctx: Ctx) -> SignInResponse:
    """Exchange a name and password for a session token (expires after session_hours). Throttled per name and
    per client address: 429 with Retry-After."""
    address = request.client.host if request.client else ""
    token, actor = auth.sign_in(ctx, body.name, body.password, address)
    return SignInResponse(token=token, principal=principals.principal_out(ctx, actor))


@router.delete("/sessions", status_code=204)
def sign_out(ctx: Ctx, actor: CurrentActor,
             credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Response:
    """Sign out: the token this request carries is revoked at once."""
    if credentials is not None:
        auth.revoke_token(ctx, credentials.credentials)
    return Response(status_code=204)


@router.get("/me", response_model=PrincipalOut)
def me(ctx: Ctx, actor: CurrentActor) -> PrincipalOut:
    """You, what you may do, the UI pages you may open and the queues you may triage."""
    return principals.principal_out(ctx, actor)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(
    ctx: Ctx, actor: CurrentActor,
    principal: Annotated[str | None, Query(min_length=1, max_length=120, description="admins: whose")] = None,
) -> list[TokenOut]:
    """Your tokens, newest first (admins: everybody's, or one principal's); never the token itself."""
    return identity.list_tokens(ctx, actor, principal)


@router.post("/tokens", response_model=TokenIssued)
def issue_token(body: TokenRequest, ctx: Ctx, actor: CurrentActor) -> TokenIssued:
    """A new token (shown once). It expires after expires_in_hours, by default after the token_days setting;
    only admins may issue one for somebody else or one that never expires (no_expiry)."""
    ttl = timedelta(hours=body.expires_in_hours) if body.expires_in_hours else None
    return identity.issue(ctx, actor, body.label, ttl, body.principal, body.no_expiry)


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def revoke_token(token_id: DbId, ctx: Ctx, actor: CurrentActor) -> TokenOut:
    """Revoke one of your tokens (admins: anybody's); it stops working at once."""
    return identity.revoke(ctx, actor, token_id)


@router.post("/principals/{name}/disable", response_model=PrincipalStatus)
def disable(name: PrincipalName, ctx: Ctx, actor: CurrentActor) -> PrincipalStatus:
    """Admin: the principal can no longer sign in, and every token they hold is revoked at once."""
    authorize(actor, Permission.USERS_MANAGE)
    return identity.set_disabled(ctx, actor, name, True)


@router.post("/principals/{name}/enable", response_model=PrincipalStatus)
def enable(name: PrincipalName, ctx: Ctx, actor: CurrentActor) -> PrincipalStatus:
    """Admin: the principal may sign in again (revoked tokens stay revoked)."""
    authorize(actor, Permission.USERS_MANAGE)
    return identity.set_disabled(ctx, actor, name, False)


@router.get("/audit", response_model=list[AuditEntryOut])
def audit_log(
    ctx: Ctx, actor: CurrentActor,
    before_id: OptionalDbIdQuery = None,
    action: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[AuditEntryOut]:
    """Admin: the audit log of admin acts, newest first; ``before_id`` pages on (entries with a smaller id)."""
    authorize(actor, Permission.AUDIT_READ)
    return audit.entries(ctx, actor, before_id, limit, action)
