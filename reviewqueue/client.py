"""The typed HTTP client: business systems (the SDK), the Streamlit UI and the tests all use this one.

Errors come back as reviewqueue.errors classes, carrying the server's message and the field at fault.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import httpx
from pydantic import TypeAdapter

from reviewqueue import errors, schemas
from reviewqueue.schemas import (
    ActionCounts,
    ActionOut,
    AuditEntryOut,
    CalibrationReport,
    DecisionChangeOut,
    DecisionOut,
    DriftReport,
    EscalationOut,
    ItemOut,
    ItemSummary,
    LeaseOut,
    ModelOut,
    MyDecisionOut,
    OpenedItem,
    OutcomeOut,
    OutcomesResponse,
    PredictionOut,
    PredictResponse,
    PrincipalOut,
    PrincipalStatus,
    QueueOut,
    ReleaseOut,
    ReplayOut,
    RunOut,
    ScoreOut,
    ServingProfileOut,
    ShadowOut,
    SignInResponse,
    SubjectHistory,
    TokenIssued,
    TokenOut,
    VersionOut,
    VersionQuality,
    WebhookAck,
)

ERROR_BY_STATUS: dict[int, type[errors.ReviewQueueError]] = {
    400: errors.ValidationFailed, 401: errors.Unauthorized, 403: errors.Forbidden, 404: errors.NotFound,
    409: errors.Conflict, 413: errors.BatchTooLarge, 422: errors.ValidationFailed,
    429: errors.TooManyRequests, 503: errors.DatabaseUnavailable,
}
ERROR_BY_TYPE: dict[str, type[errors.ReviewQueueError]] = {
    "lease_lost": errors.LeaseLost, "already_decided": errors.AlreadyDecided, "no_champion": errors.NoChampion,
    "signature_invalid": errors.SignatureInvalid, "too_late": errors.TooLate,
}


class ApiError(errors.ReviewQueueError):
    """The API answered with an unexpected status."""


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        body = response.json().get("error", {})
    except ValueError:
        body = {}
    cls = ERROR_BY_TYPE.get(body.get("type", "")) or ERROR_BY_STATUS.get(response.status_code, ApiError)
    error = cls(body.get("message") or f"HTTP {response.status_code}", field=body.get("field"))
    error.status_code = response.status_code  # type: ignore[attr-defined]
    raise error


class Client:
    """reviewqueue over HTTP. ``Client(base_url, token=...)``; use as a context manager or call close()."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout,
                                  transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def with_token(self, token: str) -> None:
        self._http.headers["Authorization"] = f"Bearer {token}"

    def _call(self, method: str, path: str, model: Any, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        _raise_for(response)
        if response.status_code == 204:
            return None
        return TypeAdapter(model).validate_python(response.json())

    # auth
    def sign_in(self, name: str, password: str) -> SignInResponse:
        result: SignInResponse = self._call("POST", "/v1/sessions", SignInResponse,
                                            json={"name": name, "password": password})
        self.with_token(result.token)
        return result

    def me(self) -> PrincipalOut:
        return self._call("GET", "/v1/me", PrincipalOut)  # type: ignore[no-any-return]

    def sign_out(self) -> None:
        """Revoke the token this client carries (server side)."""
        self._call("DELETE", "/v1/sessions", None)

    def tokens(self, principal: str | None = None) -> list[TokenOut]:
        params = {"principal": principal} if principal is not None else {}
        return self._call("GET", "/v1/tokens", list[TokenOut], params=params)  # type: ignore[no-any-return]

    def issue_token(self, label: str = "api", expires_in_hours: int | None = None, principal: str | None = None,
                    no_expiry: bool = False) -> TokenIssued:
        body = {"label": label, "expires_in_hours": expires_in_hours, "principal": principal, "no_expiry": no_expiry}
        return self._call("POST", "/v1/tokens", TokenIssued, json=body)  # type: ignore[no-any-return]

    def revoke_token(self, token_id: int) -> TokenOut:
        return self._call("DELETE", f"/v1/tokens/{token_id}", TokenOut)  # type: ignore[no-any-return]

    def disable(self, name: str) -> PrincipalStatus:
        return self._call("POST", f"/v1/principals/{name}/disable", PrincipalStatus)  # type: ignore[no-any-return]

    def enable(self, name: str) -> PrincipalStatus:
        return self._call("POST", f"/v1/principals/{name}/enable", PrincipalStatus)  # type: ignore[no-any-return]

    def audit(self, before_id: int | None = None, action: str | None = None, limit: int = 50) -> list[AuditEntryOut]:
        params: dict[str, Any] = {"limit": limit}
        for key, value in (("before_id", before_id), ("action", action)):
            if value is not None:
                params[key] = value
        return self._call("GET", "/v1/audit", list[AuditEntryOut], params=params)  # type: ignore[no-any-return]

    # ingest
    def predict(self, model: str, events: Iterable[Mapping[str, Any]]) -> list[PredictionOut]:
        body = {"events": [dict(e) for e in events]}
        result: PredictResponse = self._call("POST", f"/v1/models/{model}/predictions", PredictResponse, json=body)
        return result.predictions

    def outcomes(self, model: str, outcomes: Iterable[Mapping[str, Any]]) -> list[OutcomeOut]:
        """Report what really happened to scored events (see OutcomeIn); re-sending an event_id is a no-op."""
        body = {"outcomes": [dict(o) for o in outcomes]}
        result: OutcomesResponse = self._call("POST", f"/v1/models/{model}/outcomes", OutcomesResponse, json=body)
        return result.outcomes

    # models
    def models(self) -> list[ModelOut]:
        return self._call("GET", "/v1/models", list[ModelOut])  # type: ignore[no-any-return]

    def versions(self, model: str) -> list[VersionOut]:
        return self._call("GET", f"/v1/models/{model}/versions", list[VersionOut])  # type: ignore[no-any-return]

    def version_quality(self, model: str, version: int) -> VersionQuality:
        return self._call("GET", f"/v1/models/{model}/versions/{version}/quality",  # type: ignore[no-any-return]
                          VersionQuality)

    def serving_profile(self, model: str, version: int) -> ServingProfileOut:
        """What `reviewqueue bench-model` measured for a version, and the serving config applied from it."""
        return self._call("GET", f"/v1/models/{model}/versions/{version}/serving-profile",  # type: ignore[no-any-return]
                          ServingProfileOut)

    def drift(self, model: str, days: int = 14) -> DriftReport:
        """PSI per input and for the score, per UTC day, of the champion's traffic against its training data."""
        return self._call("GET", f"/v1/models/{model}/drift", DriftReport,  # type: ignore[no-any-return]
                          params={"days": days})

    def calibration(self, model: str, version: int | None = None) -> CalibrationReport:
        """Reliability bins, Brier score and ECE of a version's labelled predictions (the champion's by default)."""
        params = {"version": version} if version is not None else {}
        return self._call("GET", f"/v1/models/{model}/calibration",  # type: ignore[no-any-return]
                          CalibrationReport, params=params)

    def runs(self, model: str) -> list[RunOut]:
        return self._call("GET", f"/v1/models/{model}/runs", list[RunOut])  # type: ignore[no-any-return]

    def retrain(self, model: str, wait: bool = True, timeout: float = 600, poll_seconds: float = 0.5) -> RunOut:
        """Start a retrain; with ``wait``, poll the run until it ends (at most ``timeout`` seconds) and return it
        finished, else return it running at once (``run(model, id)`` then shows its stage and progress)."""
        run: RunOut = self._call("POST", f"/v1/models/{model}/retrain", RunOut)
        deadline = time.monotonic() + timeout
        while wait and run.status == "running" and time.monotonic() < deadline:
            time.sleep(poll_seconds)
            run = self.run(model, run.id)
        return run

    def run(self, model: str, run_id: int) -> RunOut:
        """One training run: its stage and progress while running, its decision once finished."""
        return self._call("GET", f"/v1/models/{model}/runs/{run_id}", RunOut)  # type: ignore[no-any-return]

    def promote(self, model: str, version: int, reason: str) -> RunOut:
        return self._call("POST", f"/v1/models/{model}/versions/{version}/promote",  # type: ignore[no-any-return]
                          RunOut, json={"reason": reason})

    def rollback(self, model: str, reason: str) -> RunOut:
        return self._call("POST", f"/v1/models/{model}/rollback", RunOut,  # type: ignore[no-any-return]
                          json={"reason": reason})

    def score(self, model: str, version: int, features: Iterable[Mapping[str, Any]]) -> ScoreOut:
        """Scores from any version; nothing is stored or routed."""
        return self._call("POST", f"/v1/models/{model}/versions/{version}/score",  # type: ignore[no-any-return]
                          ScoreOut, json={"features": [dict(f) for f in features]})

    def start_shadow(self, model: str, version: int, reason: str) -> RunOut:
        return self._call("POST", f"/v1/models/{model}/versions/{version}/shadow",  # type: ignore[no-any-return]
                          RunOut, json={"reason": reason})

    def stop_shadow(self, model: str, reason: str) -> RunOut:
        return self._call("POST", f"/v1/models/{model}/shadow/stop", RunOut,  # type: ignore[no-any-return]
                          json={"reason": reason})

    def shadow(self, model: str) -> ShadowOut:
        return self._call("GET", f"/v1/models/{model}/shadow", ShadowOut)  # type: ignore[no-any-return]

    # queues and items
    def queues(self) -> list[QueueOut]:
        return self._call("GET", "/v1/queues", list[QueueOut])  # type: ignore[no-any-return]

    def claim_next(self, queue: str) -> ItemOut | None:
        return self._call("POST", f"/v1/queues/{queue}/claim", ItemOut)  # type: ignore[no-any-return]

    def items(self, queue: str, status: str | None = None, before_id: int | None = None,
              limit: int = 50) -> list[ItemSummary]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        if before_id:
            params["before_id"] = before_id
        return self._call("GET", f"/v1/queues/{queue}/items", list[ItemSummary],  # type: ignore[no-any-return]
                          params=params)

    def item(self, item_id: int) -> ItemOut:
        return self._call("GET", f"/v1/items/{item_id}", ItemOut)  # type: ignore[no-any-return]

    def claim_item(self, item_id: int) -> ItemOut:
        """Lease this item to you, as claim-next would (409 says why it is not pending for you)."""
        return self._call("POST", f"/v1/items/{item_id}/claim", ItemOut)  # type: ignore[no-any-return]

    def open_item(self, item_id: int) -> OpenedItem:
        """A deep link: the item claimed for you when you may take it, else read-only with why."""
        return self._call("POST", f"/v1/items/{item_id}/open", OpenedItem)  # type: ignore[no-any-return]

    def item_history(self, item_id: int, limit: int = 20) -> SubjectHistory:
        """The same subject's other predictions (the model's history key), newest first, with their decisions."""
        return self._call("GET", f"/v1/items/{item_id}/history", SubjectHistory,  # type: ignore[no-any-return]
                          params={"limit": limit})

    def my_decisions(self, external_id: str | None = None, before_id: int | None = None,
                     limit: int = 25) -> list[MyDecisionOut]:
        """Your decisions, newest first; ``external_id`` keeps those whose external id starts with it."""
        params: dict[str, Any] = {"limit": limit}
        if external_id:
            params["external_id"] = external_id
        if before_id:
            params["before_id"] = before_id
        return self._call("GET", "/v1/me/decisions", list[MyDecisionOut],  # type: ignore[no-any-return]
                          params=params)

    def renew(self, item_id: int, lease_token: str) -> LeaseOut:
        return self._call("POST", f"/v1/items/{item_id}/renew", LeaseOut,  # type: ignore[no-any-return]
                          json={"lease_token": lease_token})

    def release(self, item_id: int, lease_token: str) -> ReleaseOut:
        """Give the item back undecided; your claims skip it for a while."""
        return self._call("POST", f"/v1/items/{item_id}/release", ReleaseOut,  # type: ignore[no-any-return]
                          json={"lease_token": lease_token})

    def escalate(self, item_id: int, lease_token: str, note: str) -> EscalationOut:
        """Move the item to its model's escalation queue, with why (required)."""
        return self._call("POST", f"/v1/items/{item_id}/escalate", EscalationOut,  # type: ignore[no-any-return]
                          json={"lease_token": lease_token, "note": note})

    def decide(self, item_id: int, verdict: str, lease_token: str, note: str = "") -> DecisionOut:
        body = {"verdict": verdict, "lease_token": lease_token, "note": note}
        return self._call("POST", f"/v1/items/{item_id}/decision", DecisionOut,  # type: ignore[no-any-return]
                          json=body)

    def undo(self, decision_id: int) -> DecisionChangeOut:
        """Undo your decision within its window: nothing fires, the item goes back to its queue (409: too late)."""
        return self._call("POST", f"/v1/decisions/{decision_id}/undo",  # type: ignore[no-any-return]
                          DecisionChangeOut)

    def reverse(self, decision_id: int, reason: str) -> DecisionChangeOut:
        """Reverse your decision after its window: each delivered action's compensation fires."""
        return self._call("POST", f"/v1/decisions/{decision_id}/reverse",  # type: ignore[no-any-return]
                          DecisionChangeOut, json={"reason": reason})

    # actions
    def actions(self, status: str | None = None, decision_id: int | None = None, before: ActionOut | None = None,
                limit: int = 50, *, connector: str | None = None, model: str | None = None,
                error: str | None = None) -> list[ActionOut]:
        """Actions newest first; the next page: ``before=`` the last action of this one."""
        params: dict[str, Any] = {"limit": limit}
        for key, value in (("status", status), ("decision_id", decision_id), ("connector", connector),
                           ("model", model), ("error", error)):
            if value is not None:
                params[key] = value
        if before is not None:
            params.update(before_created_at=before.created_at.isoformat(), before_id=before.id)
        return self._call("GET", "/v1/actions", list[ActionOut], params=params)  # type: ignore[no-any-return]

    def action_counts(self) -> ActionCounts:
        return self._call("GET", "/v1/actions/counts", ActionCounts)  # type: ignore[no-any-return]

    def replay(self, action_id: str) -> ActionOut:
        return self._call("POST", f"/v1/actions/{action_id}/replay", ActionOut)  # type: ignore[no-any-return]

    def replay_matching(self, connector: str | None = None, model: str | None = None, error: str | None = None,
                        *, dry_run: bool = False, expected: int | None = None) -> ReplayOut:
        """Replay every dead action matching the filter (admin); ``dry_run`` only counts them, ``expected`` is
        the count you confirmed (409 when another number matches now)."""
        body = {"connector": connector, "model": model, "error": error, "dry_run": dry_run, "expected": expected}
        return self._call("POST", "/v1/actions/replay", ReplayOut, json=body)  # type: ignore[no-any-return]

    # webhooks
    def stripe_webhook(self, body: bytes, signature: str) -> WebhookAck:
        """POST a Stripe event as Stripe sends it: the raw body and its ``Stripe-Signature`` header."""
        return self._call("POST", "/v1/webhooks/stripe", WebhookAck, content=body,  # type: ignore[no-any-return]
                          headers={"Stripe-Signature": signature, "Content-Type": "application/json"})

    def health(self) -> bool:
        try:
            return self._http.get("/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    # operations: routing-policy versions, threshold what-if, reviewer statistics, queue health
    def routing_policies(self, model: str) -> schemas.RoutingPoliciesOut:
        return self._call("GET", f"/v1/models/{model}/routing-policies",  # type: ignore[no-any-return]
                          schemas.RoutingPoliciesOut)

    def apply_routing_policy(self, model: str, review_low: float, review_high: float, reason: str,
                             audit_fraction: float | None = None) -> schemas.RoutingPolicyOut:
        """Admin: route the model's next predictions with these thresholds (a new, recorded policy version)."""
        body = {"review_low": review_low, "review_high": review_high, "audit_fraction": audit_fraction,
                "reason": reason}
        return self._call("POST", f"/v1/models/{model}/routing-policies",  # type: ignore[no-any-return]
                          schemas.RoutingPolicyOut, json=body)

    def activate_routing_policy(self, model: str, version: int, reason: str) -> schemas.RoutingPolicyOut:
        return self._call("POST", f"/v1/models/{model}/routing-policies/{version}/activate",  # type: ignore[no-any-return]
                          schemas.RoutingPolicyOut, json={"reason": reason})

    def rollback_routing_policy(self, model: str, reason: str) -> schemas.RoutingPolicyOut:
        """Admin: back to the decorator's policy."""
        return self._call("POST", f"/v1/models/{model}/routing-policies/rollback",  # type: ignore[no-any-return]
                          schemas.RoutingPolicyOut, json={"reason": reason})

    def what_if(self, model: str, review_low: float, review_high: float, days: int = 7) -> schemas.WhatIfOut:
        params = {"review_low": review_low, "review_high": review_high, "days": days}
        return self._call("GET", f"/v1/models/{model}/what-if",  # type: ignore[no-any-return]
                          schemas.WhatIfOut, params=params)

    def reviewer_stats(self, model: str, days: int = 7) -> schemas.ReviewersOut:
        return self._call("GET", f"/v1/models/{model}/reviewer-stats",  # type: ignore[no-any-return]
                          schemas.ReviewersOut, params={"days": days})

    def queue_health(self, model: str, days: int = 2, step: str = "hour") -> schemas.QueueHealthOut:
        return self._call("GET", f"/v1/models/{model}/queue-health",  # type: ignore[no-any-return]
                          schemas.QueueHealthOut, params={"days": days, "step": step})
