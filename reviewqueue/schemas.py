"""Request and response bodies of the HTTP API, shared by the server and the typed client (and so the UI)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from reviewqueue.features import text_problem


class Strict(BaseModel):
    """A request body: unknown fields are refused (422 naming them)."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """A response body. Services return these; they build from a named query's typed row with
    ``model_validate(row)`` (attributes, not ``**row.__dict__``)."""

    model_config = ConfigDict(from_attributes=True)




def _storable(value: Any) -> Any:
    problem = text_problem(value) if isinstance(value, str) else None
    if problem:
        raise ValueError(problem)
    return value


# Text that reaches the database: no NUL characters (PostgreSQL refuses them), no lone surrogates (they cannot be
# encoded as UTF-8, so they could be stored but never shown or sent on); refused here, by field.
SafeStr = Annotated[str, BeforeValidator(_storable)]  # before the length checks, which choke on them
LeaseToken = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class EventIn(Strict):
    external_id: SafeStr = Field(min_length=1, max_length=200, description="Your id; re-sending it is a no-op.")
    features: dict[str, Any] = Field(description="The model's declared input features.")
    context: dict[str, Any] = Field(default_factory=dict, description="Declared non-feature fields for actions.")


class PredictRequest(Strict):
    events: list[EventIn] = Field(min_length=1, description="One event, or a batch up to the batch limit.")


class PredictionOut(Out):
    external_id: str
    prediction_id: int
    score: float
    route: str
    route_label: str = Field("", description="the route as this model names it (\"auto: decline\" for a "
                             "stored auto_flag): the verdict an automatic decision records, or the model's "
                             "declared route_labels")
    audited: bool
    item_id: int | None
    model_version: int
    duplicate: bool


class PredictResponse(Out):
    model: str
    predictions: list[PredictionOut]


class SignInRequest(Strict):
    name: SafeStr = Field(min_length=1, max_length=120)
    password: SafeStr = Field(min_length=1, max_length=200)


class PrincipalOut(Out):
    id: int
    name: str
    role: str
    queues: list[str] = Field(description="the queues this principal was given (reviewers work only these)")
    permissions: list[str] = Field(default_factory=list, description="what the authorization table grants")
    pages: list[str] = Field(default_factory=list, description="the UI pages this principal may open")
    review_queues: list[str] = Field(default_factory=list, description="the declared queues this principal may triage")


class SignInResponse(Out):
    token: str
    principal: PrincipalOut


class TokenRequest(Strict):
    label: SafeStr = Field("api", min_length=1, max_length=120)
    expires_in_hours: int | None = Field(None, ge=1, le=24 * 3650,
                                         description="lifetime; default: the token_days setting")
    no_expiry: bool = Field(False, description="a token that never expires (admins only)")
    principal: SafeStr | None = Field(None, min_length=1, max_length=120,
                                      description="whose token (admins only; default: yours)")


class TokenOut(Out):
    id: int
    principal: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked: bool
    revoked_at: datetime | None = None
    state: str = Field(description="active | expired | revoked")


class TokenIssued(Out):
    token: str = Field(description="the bearer token, shown once (only its hash is stored)")
    info: TokenOut


class PrincipalStatus(Out):
    name: str
    role: str
    disabled: bool
    tokens_revoked: int = Field(0, description="tokens revoked by this change")


class AuditEntryOut(Out):
    id: int
    at: datetime
    actor: str
    actor_id: int | None
    action: str
    target: str
    detail: dict[str, Any]


class QueueOut(Out):
    queue: str
    model: str | None
    pending: int
    claimed: int
    oldest_pending_at: datetime | None
    oldest_age_seconds: float | None
    overdue: int = 0
    kind: str = Field(default="decision", description="decision (ranked by risk), learning (by uncertainty) or "
                                                      "escalation (items reviewers escalated, for seniors)")
    sla_minutes: float | None = Field(default=None, description="the queue's SLA for high-risk items, if any")


class Contribution(Out):
    feature: str
    value: Any
    contribution: float
    start: int | None = Field(default=None, description="for text models: where the word starts in the text")
    end: int | None = None


class EscalationOut(Out):
    item_id: int
    from_queue: str
    queue: str = Field(description="the escalation queue the item now waits in")
    note: str
    by: str
    at: datetime


class ActionEffect(Out):
    connector: str
    automatic: bool = Field(description="may an automatic (model) decision fire it")
    irreversible: bool = Field(description="nothing undoes it once delivered (e.g. a refund)")
    compensation: str | None = Field(description="the connector that undoes it when the decision is reversed")
    summary: str


class VerdictEffects(Out):
    """What a verdict does, said before it is chosen."""

    verdict: str
    undo_seconds: float = Field(description="how long a person's decision waits, undoable, before its actions fire")
    actions: list[ActionEffect]
    irreversible: bool = Field(description="some action of it cannot be undone once delivered")
    label: str = Field(description="for its button, e.g. 'Fraud — refunds $954.14, irreversible'")
    reviewers: int = Field(1, description="agreeing reviewers it needs on this event before it acts (four-eyes)")
    preview: str = Field("", description="everything it will do on this event, and whether it can be undone, e.g. "
                         "'refunds $954.14 on ch_1 (irreversible), posts to #fraud-alerts · undo within 30 s'")


class VoteOut(Out):
    """One reviewer's four-eyes vote on an item: who, what, why, when; open until the round's decision."""

    by: str
    verdict: str
    note: str
    at: datetime
    decision_id: int | None = Field(description="the decision that closed its round; None: still open")


class ItemOut(Out):
    id: int
    queue: str
    kind: str
    status: str
    priority: float
    created_at: datetime
    prediction_id: int
    external_id: str
    model: str
    model_version: int
    score: float
    route: str
    route_label: str = Field("", description="the route as this model names it (\"auto: decline\" for a "
                             "stored auto_flag): the verdict an automatic decision records, or the model's "
                             "declared route_labels")
    features: dict[str, Any]
    context: dict[str, Any]
    verdicts: list[str]
    explanation: list[Contribution]
    verdict_effects: list[VerdictEffects] = []
    lease_token: str | None
    lease_expires_at: datetime | None
    claimed_by_me: bool
    sla_due_at: datetime | None = None
    overdue: bool = False
    escalation: EscalationOut | None = Field(default=None, description="who escalated it here, and why")
    votes: list[VoteOut] = Field(default=[], description="four-eyes votes on it, oldest first (open: this round)")


class ItemSummary(Out):
    id: int
    queue: str
    kind: str
    status: str
    priority: float
    created_at: datetime
    prediction_id: int
    lease_expires_at: datetime | None
    sla_due_at: datetime | None = None
    overdue: bool = False


class LeaseRequest(Strict):
    lease_token: LeaseToken


class LeaseOut(Out):
    item_id: int
    lease_expires_at: datetime


class ReleaseOut(Out):
    item_id: int
    queue: str
    status: str
    skipped_for_you_until: datetime = Field(description="your claims do not hand it back to you before this")


class EscalationRequest(Strict):
    lease_token: LeaseToken
    note: SafeStr = Field(min_length=1, max_length=2000, description="why a senior reviewer should decide it")


class DecisionRequest(Strict):
    verdict: SafeStr = Field(min_length=1, max_length=64)
    lease_token: LeaseToken
    note: SafeStr = Field(default="", max_length=2000)


class DecisionOut(Out):
    decision_id: int | None = Field(description="None: your verdict was recorded as a four-eyes vote")
    label_id: int | None
    item_id: int
    verdict: str
    action_ids: list[str]
    outcome: str = Field("decided", description="decided | vote (waits for another reviewer) | adjudication "
                                                "(reviewers disagreed: the item went to the escalation queue)")
    votes: list[VoteOut] = Field(default=[], description="this round's four-eyes votes, yours included")
    queue: str | None = Field(None, description="where the item waits now, unless decided")
    undo_until: datetime | None = Field(
        None, description="until when you may undo it (its actions wait until then); None: no undo window")


class ReverseRequest(Strict):
    reason: SafeStr = Field(min_length=1, max_length=2000, description="why the decision is reversed (recorded)")


class DecisionChangeOut(Out):
    """An undo (within the window: nothing fired) or a reversal (after it: compensations fired)."""

    decision_id: int
    item_id: int | None
    verdict: str
    change: str = Field(description="undone | reversed")
    at: datetime
    by: str
    cancelled_action_ids: list[str] = Field(description="actions that were waiting and will never fire")
    compensation_action_ids: list[str] = Field(description="compensations queued for delivered actions")
    irreversible_action_ids: list[str] = Field(description="delivered actions nothing can undo (e.g. a refund)")


class ActionOut(Out):
    id: str
    decision_id: int | None
    connector: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    done_at: datetime | None
    outcome: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    item_id: int | None = Field(None, description="the item its decision was on (None: an automatic decision)")
    model: str | None = Field(None, description="the model whose prediction the decision was on")
    external_id: str | None = Field(None, description="the business system's id of that prediction")
    verdict: str | None = Field(None, description="the decision's verdict")


class ActionCounts(Out):
    pending: int
    in_flight: int
    done: int
    dead: int
    total: int
    refused: int = Field(0, description="never fired: an automatic decision may not (domain.authority)")
    cancelled: int = Field(0, description="never fired: the decision was undone within its window (domain.undo)")
    done_estimated: bool = Field(
        False, description="done (and so total) estimated from table statistics: exact counts only below 100k rows")


class VersionOut(Out):
    id: int
    version: int
    status: str
    sha256: str
    metrics: dict[str, Any]
    data_fingerprint: str
    lineage: dict[str, Any]
    created_at: datetime
    promoted_at: datetime | None



class ServingProfileOut(Out):
    """What `reviewqueue bench-model` measured for a version on the host it ran on (``profile``: per
    configuration latency p50/p99 ms, rows/s per batch size, parity vs the stored graph) and the serving config
    applied from it (``config``: file, sha256, providers, threads); None when never measured / nothing applied."""

    model: str
    version: int
    profile: dict[str, Any] | None
    config: dict[str, Any] | None


class RunOut(Out):
    id: int
    trigger: str
    status: str
    n_labels: int
    candidate_version_id: int | None
    champion_version_id: int | None
    candidate_metrics: dict[str, Any]
    champion_metrics: dict[str, Any]
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    decision: str = ""
    """The promotion decision in words, with its figures (e.g. "promoted: +0.031 AUC [+0.012, +0.050] on …")."""
    warnings: list[str] = []
    """What the fit reported (e.g. a ConvergenceWarning)."""
    stage: str = ""
    """While running: the stage it is in ("training", "evaluating", "exporting to ONNX" …); "done" or "failed"."""
    progress: float | None = None
    """While running: the fraction done, 0..1 (None for runs that train nothing)."""
    model_name: str = ""


class PromotionGate(Out):
    """How a model's retrain decides (domain.promotion.decide), so a decision can be explained in full."""

    metric: str = Field(description="the metric shown first; the gate judges the weighted ROC AUC")
    require_improvement: bool = Field(description="promote only when better with `confidence`; else when not "
                                      "worse than −tolerance")
    tolerance: float
    confidence: float = Field(description="one-sided: the interval's lower end is the (1 − confidence) quantile")
    min_eval_per_class: int = Field(description="fewer fresh labels of a class: not enough evidence, kept")
    sanity_floor: float = Field(description="a candidate AUC at or below this is never promoted")


class ModelOut(Out):
    name: str
    description: str
    queue: str
    verdicts: list[str]
    features: list[dict[str, Any]]
    champion_version: int | None
    labels_since_last_run: int
    retrain_min_new_labels: int
    retrain_cron: str | None
    retrain_schedule: str | None = Field(None, description="retrain_cron in words, as the worker runs it (UTC); "
                                         "the cron itself when it cannot be said exactly")
    promotion_gate: PromotionGate | None = None
    verdict_effects: list[VerdictEffects] = Field(
        [], description="each verdict's actions: which are irreversible, what undoes the others, its undo window")
    route_labels: dict[str, str] = Field(
        {}, description="what each stored route means for this model: review, auto_flag, auto_pass → its label "
                        "(e.g. auto_flag → \"auto: decline\")")


class WebhookAck(Out):
    received: bool
    duplicate: bool
    event_id: str
    outcome: str | None = None


class ErrorBody(Out):
    type: str
    message: str
    field: str | None = None


class ErrorResponse(Out):
    error: ErrorBody


class InboundAck(Out):
    received: bool
    duplicate: bool
    event_id: str
    predictions: list[PredictionOut]


class PrecisionAtK(Out):
    k: int
    precision: float
    labelled: int


class VersionQuality(Out):
    version: int
    labels_used: int
    holdout: dict[str, Any]
    precision_at_k: list[PrecisionAtK]


OutcomeSource = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]


class DriftDay(Out):
    """One day of one input's (or the score's) drift against the training reference."""

    day: date
    n: int = Field(description="predictions compared (at most drift_rows_per_day of the day's, oldest first)")
    total: int = Field(description="predictions the champion scored that day")
    psi: float | None = Field(description="Population Stability Index against the reference; None: no data")
    psi_low: float | None = Field(description="95% bootstrap interval of the PSI (resampling the day's rows)")
    psi_high: float | None
    noise: float | None = Field(description="the PSI sampling alone gives with this n when nothing moved")
    level: str = Field(description="no data | too few | stable | watch | alert")


class FeatureDrift(Out):
    feature: str = Field(description='an input, "<text> (length)" for a text, or "score"')
    kind: str = Field(description="numeric | category")
    days: list[DriftDay] = Field(description="oldest first")
    latest: DriftDay | None = Field(description="the newest day with data")
    alerted: list[date] = Field([], description="days an alert was sent for")


class DistributionBin(Out):
    bin: str
    order: int
    reference: float = Field(description="share of the reference rows in this bin")
    current: float = Field(description="share of the window's traffic in this bin")


class DriftReport(Out):
    model: str
    version: int | None = Field(description="the champion whose traffic is compared; None: no champion")
    has_reference: bool
    note: str = Field(description="what the figures are compared against, or why there are none")
    reference_rows: int
    days: int
    watch: float
    alert: float
    min_sample: int
    features: list[FeatureDrift] = Field(description="the score first, then the inputs")
    score_bins: list[DistributionBin] = Field(description="the score's distribution: reference vs the window")
    window_n: int = Field(description="predictions in the window's score distribution")


class CalibrationBin(Out):
    low: float
    high: float
    n: int = Field(description="labelled predictions scored in [low, high)")
    mean_score: float
    observed: float = Field(description="share labelled positive (weighted by 1/π)")
    observed_low: float = Field(description="Wilson 95% interval of the observed share (effective n)")
    observed_high: float
    effective_n: float


class CalibrationReport(Out):
    model: str
    version: int | None
    n: int = Field(description="labelled predictions of this version")
    positives: int
    brier: float | None = Field(description="mean squared error of the score (weighted by 1/π)")
    ece: float | None = Field(description="expected calibration error: Σ share of weight × |mean score − observed|")
    weighted: bool = Field(description="whether labels are weighted by 1/π (some were gathered by sampling)")
    bins: list[CalibrationBin]
    note: str


class OutcomeIn(Strict):
    """What really happened to a scored event (a chargeback, a follow-up, a clinician's later finding)."""

    event_id: SafeStr = Field(min_length=1, max_length=200,
                              description="The sender's id for this outcome: re-sending it (same source) is a no-op.")
    external_id: SafeStr | None = Field(default=None, min_length=1, max_length=200,
                                        description="The event's external_id, or give correlation_key instead.")
    correlation_key: SafeStr | None = Field(default=None, min_length=1, max_length=200,
                                            description="The model's correlation field value (e.g. a charge id).")
    label: SafeStr = Field(min_length=1, max_length=64, description="One of the model's verdicts.")
    source: OutcomeSource = Field(default="outcome", description="Which system observed it, e.g. 'followup'.")
    occurred_at: datetime | None = Field(default=None, description="When it happened (default: now); "
                                         "the latest outcome of a prediction wins.")
    observed_probability: float = Field(default=1.0, gt=0.0, le=1.0,
                                        description="The chance this outcome is observed at all (weights 1/p).")

    @model_validator(mode="after")
    def _one_key(self) -> OutcomeIn:
        if (self.external_id is None) == (self.correlation_key is None):
            raise ValueError("give exactly one of external_id or correlation_key")
        return self


class OutcomesRequest(Strict):
    outcomes: list[OutcomeIn] = Field(min_length=1, max_length=1000)


class OutcomeOut(Out):
    event_id: str
    duplicate: bool = Field(description="this source already sent this event_id: nothing changed")
    matched: bool = Field(description="a prediction was found and labelled")
    prediction_id: int | None = None
    label_id: int | None = None


class OutcomesResponse(Out):
    model: str
    outcomes: list[OutcomeOut]


class PromoteRequest(Strict):
    reason: SafeStr = Field(min_length=1, max_length=500, description="Why: recorded on the run with who did it.")


class ScoreRequest(Strict):
    features: list[dict[str, Any]] = Field(min_length=1, description="Rows of the model's input features.")


class ScoreOut(Out):
    model: str
    version: int
    scores: list[float]
    would_route: list[str] = Field(description="the route each row would take under today's policy (nothing "
                                   "is stored or routed)")


class ShadowOut(Out):
    """The shadow challenger against the champion on the labelled predictions both scored."""

    model: str
    shadow_version: int | None = Field(description="None: no version is in shadow")
    champion_version: int
    scored: int = Field(description="predictions the shadow scored beside the champion")
    labelled: int = Field(description="of those, how many carry a label now (one per prediction, by precedence)")
    positives: int
    champion_auc: float | None = Field(description="weighted by 1/π, on the same labels")
    shadow_auc: float | None
    difference: float | None = Field(description="shadow − champion")
    low: float | None = Field(description="95% paired-bootstrap interval of the difference")
    high: float | None
    summary: str


# --- triage that informs (issue 11): the subject's history, deep links, my decisions ---------------------------

class HistoryEntry(Out):
    """One of the subject's other predictions, and how it was decided (if it was)."""

    prediction_id: int
    external_id: str
    created_at: datetime
    score: float
    route: str
    route_label: str = Field("", description="the route as this model names it (\"auto: decline\" for a "
                             "stored auto_flag): the verdict an automatic decision records, or the model's "
                             "declared route_labels")
    features: dict[str, Any]
    context: dict[str, Any]
    item_id: int | None = Field(description="None: the model decided it alone (nobody reviewed it)")
    item_status: str | None
    verdict: str | None = Field(description="the standing decision's verdict; None: not decided yet")
    decided_by: str | None = Field(description="the reviewer's name, or 'model' for an automatic decision")
    decided_at: datetime | None
    decision_source: str | None = Field(description="reviewer | model")


class SubjectHistory(Out):
    """The other predictions of the same subject (the model's history key), newest first."""

    item_id: int
    key: str | None = Field(description="the context field the model declares as its history key; None: none")
    subject: str | None = Field(description="its value on this item")
    entries: list[HistoryEntry]
    limit: int


class DecisionBrief(Out):
    """The standing decision on an item: what, who, when."""

    id: int
    verdict: str
    source: str
    actor: str
    note: str
    created_at: datetime


class OpenedItem(Out):
    """A deep link's answer: the item, leased to you when you could claim it, else read-only with the reason."""

    item: ItemOut
    leased: bool
    read_only_reason: str | None = Field(description="why it is not yours to decide (decided, held by someone "
                                         "else, not your queue to review); None when leased")
    decision: DecisionBrief | None = Field(description="its standing decision, when decided")


class MyDecisionOut(Out):
    """One of the signed-in reviewer's decisions (newest first)."""

    id: int
    created_at: datetime
    verdict: str
    note: str
    item_id: int | None
    queue: str | None
    model: str
    external_id: str
    score: float
    undo_until: datetime | None
    undone_at: datetime | None
    reversed_at: datetime | None


class ReplayRequest(Strict):
    """Which dead actions to send again: all that match every given filter (none given: every dead action)."""

    connector: SafeStr | None = Field(None, min_length=1, max_length=64, description="e.g. slack_message")
    model: SafeStr | None = Field(None, min_length=1, max_length=120, description="the decision's model")
    error: SafeStr | None = Field(None, min_length=1, max_length=200,
                                  description="a substring of the last error (case-sensitive)")
    dry_run: bool = Field(False, description="only count the matches; replay nothing")
    expected: int | None = Field(None, ge=0, description="the count the caller confirmed (from a dry run): "
                                 "refused with 409 when a different number matches now")


class ReplayOut(Out):
    matched: int = Field(description="dead actions matching the filter when asked")
    replayed: int = Field(description="sent back to pending (0 on a dry run)")
    dry_run: bool
    action_ids: list[str] = Field([], description="the replayed actions, oldest first")


# --- operations (issue 11 point 6): routing-policy versions, threshold what-if, reviewers, queue health --------

class RoutingPolicyIn(Strict):
    """A new routing-policy version for a model: thresholds in [0, 1] with review_low ≤ review_high."""

    review_low: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    review_high: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    audit_fraction: float | None = Field(None, ge=0.0, le=1.0, allow_inf_nan=False,
                                         description="default: the policy routing now")
    reason: SafeStr = Field(min_length=1, max_length=2000, description="why (recorded with who and when)")


class PolicyChangeIn(Strict):
    reason: SafeStr = Field(min_length=1, max_length=2000, description="why (recorded with who and when)")


class RoutingPolicyOut(Out):
    model: str
    version: int | None = Field(description="the stored version's number; None for the decorator's policy")
    source: str = Field(description="'stored' (applied by an admin) or 'decorator' (the model's code)")
    review_low: float
    review_high: float
    audit_fraction: float
    policy_version: str = Field(description="what each prediction it routes records")
    actor: str | None = None
    reason: str | None = None
    active: bool
    created_at: datetime | None = None
    evidence: dict[str, Any] = Field({}, description="the what-if figures it was applied on")


class RoutingPoliciesOut(Out):
    model: str
    active: RoutingPolicyOut = Field(description="the policy routing the model's next predictions")
    decorator: RoutingPolicyOut = Field(description="the model's own policy: what a rollback returns to")
    versions: list[RoutingPolicyOut] = Field(description="stored versions, newest first")
    staleness_seconds: float = Field(description="how long another process may keep routing with the previous "
                                                 "policy after a change")


class ProportionOut(Out):
    value: float | None
    low: float | None = Field(description="95% interval, lower end")
    high: float | None = Field(description="95% interval, upper end")
    n: int = Field(description="observations in the denominator")
    n_effective: float = Field(description="Kish effective size after the 1/π weights (n when unweighted)")


class ThresholdPoint(Out):
    threshold: float
    at_or_above_per_day: float = Field(description="predictions per day scoring at or above the threshold")


class WhatIfOut(Out):
    model: str
    champion_version: int
    days: int = Field(description="the window asked for")
    observed_days: float = Field(description="the span of traffic volumes are divided by (≤ days)")
    predictions: int = Field(description="champion predictions in the window")
    labelled: int = Field(description="of them with a standing label")
    review_low: float
    review_high: float
    audit_fraction: float
    auto_flag_per_day: float
    review_per_day: float
    auto_pass_per_day: float
    audits_per_day: float
    human_per_day: float = Field(description="review band + audits")
    recall: ProportionOut = Field(description="positives auto-flagged or reviewed, of all positives (1/π weighted)")
    precision: ProportionOut = Field(description="auto-flags that are positive")
    missed: ProportionOut = Field(description="auto-passes that are positive")
    curve: list[ThresholdPoint] = Field(description="volume at or above each threshold, 0 to 1 by 0.01")
    current: RoutingPolicyOut


class ReviewerStatsOut(Out):
    reviewer: str
    decisions: int
    decisions_per_day: float
    votes: int = Field(description="four-eyes votes cast (they decide nothing alone)")
    time_to_decision_n: int = Field(description="decisions with a claim time before them")
    median_seconds: float | None = Field(description="claim → decision, median")
    p90_seconds: float | None = Field(description="claim → decision, 90th percentile")
    audit_agreement: ProportionOut = Field(description="audits where they kept the model's verdict")
    vote_agreement: ProportionOut = Field(description="votes matching the round's final verdict")
    overturned: ProportionOut = Field(description="decisions later reversed, or undone by someone else")
    self_undone: int = Field(description="decisions they undid themselves (corrections, not overturns)")


class ReviewersOut(Out):
    model: str
    since: datetime
    until: datetime
    days: float
    reviewers: list[ReviewerStatsOut]


class QueuePointOut(Out):
    queue: str
    at: datetime
    open: int = Field(description="items created and not yet decided at that time (pending or held)")
    oldest_age_seconds: float | None = Field(description="age of the oldest of them")


class QueueHealthOut(Out):
    since: datetime
    until: datetime
    step: str = Field(description="'hour' or 'day'")
    queues: list[str]
    points: list[QueuePointOut]
