"""The Registry: models by name (connectors: connectors.registry). The decorator is sugar over ``Registry.add_model``.

``@reviewqueue.model(...)`` builds a ModelSpec and attaches it to the decorated train function; bootstrap
imports the modules named in Settings.model_modules, collects the specs found there, then freezes the registry.
Tests build a fresh Registry: nothing global to reset.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reviewqueue.byo import Source, anchored, declare_source
from reviewqueue.domain.authority import Authority, authority_for, default_authority
from reviewqueue.domain.four_eyes import FourEyes, four_eyes_rules, required_reviewers
from reviewqueue.domain.policies import ExpectedLoss, RoutingPolicy, ScorePriority
from reviewqueue.domain.route_labels import route_labels as declared_route_labels
from reviewqueue.domain.undo import undo_windows
from reviewqueue.errors import AlreadyRegistered, ConfigurationError, NotFound, RegistryFrozen
from reviewqueue.features import FeatureSchema

if TYPE_CHECKING:  # a plain `import reviewqueue` loads no pandas
    import pandas as pd

SPEC_ATTRIBUTE = "__reviewqueue_model__"
TrainFn = Callable[["pd.DataFrame"], Any]
PriorityFn = Callable[[float, dict[str, Any]], float]


@dataclass(frozen=True)
class ActionSpec:
    """One side effect a verdict fires: a connector name, its static parameters, and what an automatic decision
    may do with it (``authority``; None: the connector's default, domain.authority)."""

    connector: str
    params: dict[str, Any] = field(default_factory=dict)
    authority: Authority | None = None
    compensate: ActionSpec | None = None
    """What undoes this action's effect once delivered (fired when its decision is reversed or overturned)."""
    irreversible: bool = False
    """Nothing undoes it (a refund): the UI and the API say so before the decision."""

    @property
    def rules(self) -> Authority:
        return self.authority if self.authority is not None else default_authority(self.connector)

    @property
    def compensation(self) -> ActionSpec | None:
        """The declared compensation, else the connector's default (a Slack follow-up in the same channel, a
        ``decision.reversed`` webhook to the same URL), else None (the action must be declared irreversible)."""
        if self.compensate is not None or self.irreversible:
            return self.compensate
        if self.connector == "slack_message":
            return ActionSpec("slack_message", {"channel": self.params.get("channel"), "text": REVERSED_TEXT})
        if self.connector == "webhook":
            return ActionSpec("webhook", {k: v for k, v in self.params.items() if k == "url"})
        return None


# The Slack follow-up a reversal posts; every field is the payload's (values escaped by the connector).
REVERSED_TEXT = ("[{model}] {external_id}: the {verdict} decision by {actor} was reversed by {reversed_by} "
                 "({reason})")


def action(
    connector: str, *, automatic: bool | None = None, max_amount: float | None = None,
    daily_total: float | None = None, compensate: ActionSpec | None = None, irreversible: bool = False,
    **params: Any,
) -> ActionSpec:
    """Sugar: ``action("slack_message", channel="#fraud")``.

    ``automatic``: may an automatic (model) decision fire it? Default: yes for slack_message and webhook, no
    for stripe_refund, sql and anything else. ``max_amount`` / ``daily_total`` (with ``automatic=True``): the
    largest amount, and the total per UTC day, automatic decisions may move (domain.authority).
    ``compensate=action(...)``: what undoes it once delivered (slack_message and webhook have a default: a
    follow-up); ``irreversible=True``: nothing does (a refund). A model refuses, at import, an action that has
    neither. A bad declaration (an unknown option, a negative limit) fails here, at import, with the reason.
    """
    rules = authority_for(connector, params, automatic, max_amount, daily_total)
    if not isinstance(irreversible, bool):
        raise ConfigurationError(f"action({connector!r}): irreversible must be True or False, got {irreversible!r}")
    if compensate is not None:
        if not isinstance(compensate, ActionSpec):
            raise ConfigurationError(f"action({connector!r}): compensate must be an action(...), got {compensate!r}")
        if irreversible:
            raise ConfigurationError(f"action({connector!r}): an action with a compensation is not irreversible")
        if compensate.compensate is not None or compensate.irreversible:
            raise ConfigurationError(f"action({connector!r}): a compensation has no compensation of its own")
    return ActionSpec(connector, params, rules, compensate, irreversible)


@dataclass(frozen=True)
class Retrain:
    """When to retrain: on ``cron`` (crontab syntax, UTC) and when ``min_new_labels`` arrived since the last run.

    How a candidate is judged (domain.promotion.decide): a sanity floor (weighted AUC > 0.55, scores not
    constant, the fit converged), then — once each class has ``min_eval_per_class`` labels the champion did
    not train on — the paired-bootstrap interval of Δ = AUC(candidate, out-of-fold) − AUC(champion), both
    weighted by 1/π on the same labels.
    """

    cron: str | None = "0 3 * * *"
    min_new_labels: int = 50
    metric: str = "roc_auc"
    """The metric shown first; the gate itself always judges the weighted ROC AUC."""
    tolerance: float = 0.0
    """With ``require_improvement=False``: promote when the interval's lower bound of Δ is > −tolerance."""
    require_improvement: bool = True
    """Promote only when the candidate is better with ``confidence`` (the interval's lower bound of Δ > 0)."""
    confidence: float = 0.9
    """How sure the gate must be, one-sided: the lower bound it tests is the (1 − confidence) quantile of the
    bootstrap Δ, i.e. the lower end of the central (2·confidence − 1) interval shown in the decision. 0.9 means
    "better with 90% confidence"; raise it where a wrong promotion costs more than a late one."""
    min_eval_per_class: int = 10
    """Fewer fresh labels than this in either class → "not enough evidence", the champion is kept."""


@dataclass(frozen=True)
class ZeroShot:
    """Version 1 of a text model with no labels: similarity to label descriptions, calibrated to 0..1.

    ``positive``/``negative`` are several phrasings per class; ``calibration`` are (text, 1|0) examples used
    for Platt scaling of the similarity difference (1 = the model's positive verdict): both values must
    occur, and the decorator refuses the model at import otherwise.
    """

    positive: tuple[str, ...]
    negative: tuple[str, ...]
    calibration: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class LearningQueue:
    """A separate, budgeted queue for active learning: predictions no human would otherwise see are drawn with
    a probability that grows with their uncertainty, scaled so that about ``budget_per_day`` are drawn a day
    (never more), whatever the request sizes (domain.sampling); the queue is ranked by uncertainty
    (priority = 1 − |2p − 1|) and each label remembers the probability its item was drawn with."""

    queue: str
    budget_per_day: int = 50


@dataclass(frozen=True)
class Sla:
    """Page ``channel`` once when an item of priority ≥ ``min_priority`` waits unclaimed past ``minutes``."""

    minutes: float
    channel: str
    min_priority: float = 0.5


@dataclass(frozen=True)
class ModelSpec:
    name: str
    features: FeatureSchema
    train: TrainFn
    dataset: Callable[[], pd.DataFrame] | None
    routing: RoutingPolicy
    priority: PriorityFn
    verdicts: dict[str, list[ActionSpec]]
    positive_verdict: str
    negative_verdict: str
    queue: str
    context_fields: tuple[str, ...] = ()
    correlation_field: str | None = None
    history_key: str | None = None
    """The context field naming whom an event is about (a customer, a patient): triage lists their other
    predictions (stored as ``predictions.subject``)."""
    retrain: Retrain = field(default_factory=Retrain)
    description: str = ""
    owner: str = ""
    zero_shot: ZeroShot | None = None
    learning: LearningQueue | None = None
    sla: Sla | None = None
    route_labels: dict[str, str] = field(default_factory=dict)
    """Route value → what it means for this model ("auto: decline"); see route_label()."""
    # where a reviewer escalates an item they cannot decide (the senior / adjudication queue)
    escalation_queue: str = ""

    undo_seconds: dict[str, float] = field(default_factory=dict)
    """Verdict → seconds a person's decision's actions wait, during which they may undo it (missing: 0)."""
    four_eyes: dict[str, FourEyes] = field(default_factory=dict)
    """Verdict → how many agreeing reviewers it needs (above which amount) before it acts (domain.four_eyes)."""
    source: Source | None = None
    """A bring-your-own model's ONNX file or transformer folder (reviewqueue.byo); None: reviewqueue trains it."""

    def reviewers_required(self, verdict: str, features: Mapping[str, Any], context: Mapping[str, Any]) -> int:
        """1 (one click decides) or the k agreeing reviewers this event's ``verdict`` needs."""
        return required_reviewers(self.four_eyes.get(verdict), features, context)

    def actions_for(self, verdict: str) -> list[ActionSpec]:
        return list(self.verdicts.get(verdict, []))

    def route_label(self, route: str) -> str:
        """The stored route as people read it for this model (domain.route_labels): "auto: approve", not
        "auto_pass"; labels declared with ``route_labels=`` win over the verdict-derived ones."""
        return declared_route_labels(self.name, self.positive_verdict, self.negative_verdict,
                                     self.route_labels).get(route, route)

    def undo_window(self, verdict: str) -> float:
        return float(self.undo_seconds.get(verdict, 0.0))

    @property
    def kind(self) -> str:
        """'text' (an ONNX text encoder + head), 'tabular' (an sklearn estimator exported with skl2onnx), or a
        bring-your-own source's kind ('onnx_file', 'hf_classifier')."""
        if self.source is not None:
            return self.source.kind
        return "text" if self.features.text_feature else "tabular"

    @property
    def policy_version(self) -> str:
        """A short fingerprint of what decides who sees a prediction — the routing thresholds, the audit rate
        and the learning budget — recorded on every prediction so an estimate can tell policies apart."""
        learning = (self.learning.queue, self.learning.budget_per_day) if self.learning else None
        text = repr((self.routing, learning))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def queues(self) -> list[str]:
        return [self.queue, *([self.learning.queue] if self.learning else [])]


def model(
    *,
    name: str,
    features: Mapping[str, Any] | None = None,
    verdicts: Mapping[str, Iterable[ActionSpec]],
    positive_verdict: str,
    negative_verdict: str,
    routing: RoutingPolicy | None = None,
    route_labels: Mapping[str, str] | None = None,
    priority: PriorityFn | None = None,
    queue: str | None = None,
    context: Iterable[str] = (),
    correlation_field: str | None = None,
    history_key: str | None = None,
    retrain: Retrain | None = None,
    description: str = "",
    dataset: Callable[[], pd.DataFrame] | None = None,
    zero_shot: ZeroShot | None = None,
    learning: LearningQueue | None = None,
    sla: Sla | None = None,
    escalation_queue: str | None = None,
    undo_seconds: float | Mapping[str, float] | None = None,
    four_eyes: Mapping[str, FourEyes] | None = None,
    onnx: str | Path | None = None,
    inputs: Mapping[str, Any] | None = None,
    output: str | int | tuple[str, int] | None = None,
    transformer: str | Path | None = None,
    positive_label: str | None = None,
) -> Callable[[TrainFn], TrainFn]:
    """Register the decorated ``train(df) -> fitted sklearn classifier`` as a reviewqueue model.

    ``route_labels``: what the routes are called for this model, e.g. ``{"auto_flag": "auto-declined"}``;
    by default "review", "auto: <positive verdict>" and "auto: <negative verdict>" (domain.route_labels).
    ``df`` has one column per feature (encoded as served) and a ``label`` column (1 = positive verdict);
    for a text model, one column per embedding dimension (``e0`` … ``e383``) and ``label``, and the returned
    classifier must be linear (``coef_``, ``intercept_``) so it fuses into the ONNX graph as the head.
    ``undo_seconds``: how long a person's decision waits before its actions fire, during which they may undo
    it — one number for every verdict or ``{"fraud": 30, "legit": 0}`` (missing verdicts: 0).
    ``history_key``: the context field naming whom an event is about (``"user_id"``, ``"patient_id"``); the
    triage page then shows that subject's other predictions and how they were decided.
    ``escalation_queue`` (default ``<queue>-senior``): where a reviewer's "escalate" moves an item, claimable
    only by principals granted that queue.
    ``four_eyes``: ``{"fraud": rq.FourEyes(reviewers=2, above=("amount", 500))}`` — that verdict (above that
    numeric feature/context amount) acts only once ``reviewers`` different people agree; a disagreement goes to
    the escalation queue, where a senior decides once (domain.four_eyes).
    Bring your own model (reviewqueue.byo; the decorated function is then never called: reviewqueue does not
    retrain it): ``onnx="models/loan.onnx", inputs={"amount": float, …} or {"float_input": ["amount", …]},
    output="probabilities" | 1 | ("probabilities", 1)``, or ``transformer="models/spam-classifier",
    positive_label="spam"`` (a local ``*ForSequenceClassification`` folder, one ``rq.Text()`` feature).
    ``reviewqueue models register NAME`` validates the file and stores it as a version; a changed file
    registered again is a candidate judged by the promotion gate on fresh labels.
    """
    source, declared = declare_source(name, onnx=onnx, inputs=inputs, output=output, transformer=transformer,
                                      positive_label=positive_label, features=features)
    if declared is None:
        raise ConfigurationError(f"model {name!r}: features=… is required (or onnx=… with inputs=…)")

    def decorate(train: TrainFn) -> TrainFn:
        spec = ModelSpec(
            name=name,
            features=FeatureSchema.declare(declared),
            train=train,
            dataset=dataset,
            routing=routing or RoutingPolicy(),
            priority=priority or ScorePriority(),
            verdicts={k: list(v) for k, v in verdicts.items()},
            positive_verdict=positive_verdict,
            negative_verdict=negative_verdict,
            queue=queue or name,
            context_fields=tuple(context),
            correlation_field=correlation_field,
            history_key=history_key,
            retrain=retrain or Retrain(),
            description=description,
            owner=f"{train.__module__}.{train.__qualname__}",
            zero_shot=zero_shot,
            learning=learning,
            sla=sla,
            escalation_queue=f"{queue or name}-senior" if escalation_queue is None else escalation_queue,
            undo_seconds=undo_windows(name, verdicts, undo_seconds),
            source=anchored(source, train.__module__),
        )
        schema = spec.features
        spec = replace(spec, four_eyes=four_eyes_rules(
            name, spec.verdicts, [f.name for f in schema.features if f.kind in ("float", "int")],
            [f.name for f in schema.features if f.kind not in ("float", "int")], spec.context_fields, four_eyes))
        # what each route means for this model, checked now (domain.route_labels) so a bad label fails at import
        spec = replace(spec, route_labels=declared_route_labels(name, positive_verdict, negative_verdict,
                                                                route_labels))
        _check_spec(spec)
        setattr(train, SPEC_ATTRIBUTE, spec)
        return train

    return decorate


def _check_spec(spec: ModelSpec) -> None:
    for verdict in (spec.positive_verdict, spec.negative_verdict):
        if verdict not in spec.verdicts:
            raise ConfigurationError(f"model {spec.name!r}: verdict {verdict!r} is not in verdicts")
    if spec.correlation_field and spec.correlation_field not in spec.context_fields:
        raise ConfigurationError(f"model {spec.name!r}: correlation_field must be one of the context fields")
    if spec.history_key and spec.history_key not in spec.context_fields:
        raise ConfigurationError(f"model {spec.name!r}: history_key {spec.history_key!r} must be one of the context "
                                 f"fields ({', '.join(spec.context_fields) or 'none declared'})")
    if isinstance(spec.priority, ExpectedLoss) and spec.priority.amount_feature not in spec.features.names:
        raise ConfigurationError(f"model {spec.name!r}: ExpectedLoss needs feature {spec.priority.amount_feature!r}")
    if spec.zero_shot is not None:
        _check_zero_shot(spec, spec.zero_shot)
    for verdict, actions in spec.verdicts.items():
        for a in actions:
            if a.compensation is None and not a.irreversible:
                raise ConfigurationError(
                    f"model {spec.name!r}: action {a.connector!r} of verdict {verdict!r} declares no compensation; "
                    f"add compensate=rq.action(...) (what undoes it) or irreversible=True (nothing does)")
    _check_escalation_queue(spec)
    if not 0.5 < spec.retrain.confidence < 1:
        raise ConfigurationError(f"model {spec.name!r}: Retrain.confidence must be between 0.5 and 1 (e.g. 0.9), "
                                 f"got {spec.retrain.confidence!r}")
    if spec.retrain.min_eval_per_class < 1:
        raise ConfigurationError(f"model {spec.name!r}: Retrain.min_eval_per_class must be at least 1")
    if spec.kind == "text" and spec.zero_shot is None and spec.dataset is None:
        raise ConfigurationError(f"model {spec.name!r}: a text model needs zero_shot=… or a dataset for version 1")
    if spec.kind == "tabular" and spec.dataset is None:
        raise ConfigurationError(f"model {spec.name!r}: a tabular model needs a dataset to train version 1")


def _check_escalation_queue(spec: ModelSpec) -> None:
    """The escalation queue is a queue name of its own: not the model's decision or learning queue."""
    name = spec.escalation_queue
    if (not isinstance(name, str) or not 1 <= len(name) <= 120 or name != name.strip()
            or not all(c.isascii() and (c.isalnum() or c in "-_.") for c in name)):
        raise ConfigurationError(f"model {spec.name!r}: escalation_queue must be 1-120 letters, digits, '-', '_' "
                                 f"or '.', got {name!r}")
    if name in spec.queues:
        raise ConfigurationError(f"model {spec.name!r}: escalation_queue {name!r} is already one of its queues "
                                 f"({', '.join(spec.queues)}); name a queue of its own, "
                                 f"e.g. {spec.queue + '-senior'!r}")


def _check_zero_shot(spec: ModelSpec, zs: ZeroShot) -> None:
    """What zero_shot_head would refuse at registration, refused at import, in the model's own verdicts."""
    pos, neg = spec.positive_verdict, spec.negative_verdict
    where = f"model {spec.name!r}: ZeroShot"
    if spec.kind != "text":
        raise ConfigurationError(f"{where} needs a text feature (rq.Text) to score")
    for phrases, verdict, which in ((zs.positive, pos, "positive"), (zs.negative, neg, "negative")):
        if isinstance(phrases, str) or not phrases or not all(isinstance(p, str) and p.strip() for p in phrases):
            raise ConfigurationError(f"{where}({which}=…) needs at least one non-empty phrase for {verdict!r}")
    values: list[object] = []
    for pair in zs.calibration:
        if (not isinstance(pair, tuple | list) or len(pair) != 2 or not isinstance(pair[0], str)
                or not pair[0].strip() or pair[1] not in (0, 1) or isinstance(pair[1], float)):
            raise ConfigurationError(f"{where}(calibration=…): each example is (text, 1 = {pos!r} | 0 = {neg!r}); "
                                     f"got {pair!r}")
        values.append(int(pair[1]))
    if set(values) != {0, 1}:
        raise ConfigurationError(f"{where}(calibration=…) needs examples of both verdicts: (text, 1) for {pos!r} "
                                 f"and (text, 0) for {neg!r}; have {values.count(1)} {pos!r} and "
                                 f"{values.count(0)} {neg!r}")


class Registry:
    """Models by name, filled at bootstrap, then frozen.

    Connectors are not registered here: connectors.registry.build_connectors(settings) builds the shipped
    ones from Settings, and the worker (``reviewqueue worker``) dispatches through that mapping.
    """

    def __init__(self) -> None:
        self._models: dict[str, ModelSpec] = {}
        self._frozen = False

    def add_model(self, spec: ModelSpec) -> None:
        if self._frozen:
            raise RegistryFrozen()
        first = self._models.get(spec.name)
        if first is not None:
            raise AlreadyRegistered(f"model {spec.name!r} is already registered by {first.owner}")
        self._models[spec.name] = spec

    def load_modules(self, module_names: Iterable[str]) -> None:
        """Import each module and register every model spec defined in it."""
        for module_name in module_names:
            module = _import_model_module(module_name)
            for value in vars(module).values():
                spec = getattr(value, SPEC_ATTRIBUTE, None)
                if isinstance(spec, ModelSpec):
                    self.add_model(spec)

    def freeze(self) -> Registry:
        self._frozen = True
        return self

    def model(self, name: str) -> ModelSpec:
        try:
            return self._models[name]
        except KeyError:
            raise NotFound(f"unknown model {name!r}", field="model") from None

    def models(self) -> list[ModelSpec]:
        return list(self._models.values())


def _import_model_module(module_name: str) -> Any:
    """The module, or a ConfigurationError saying which entry of REVIEWQUEUE_MODEL_MODULES fails and why."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and f"{module_name}.".startswith(f"{exc.name}."):  # the module itself or its package
            raise ConfigurationError(
                f"model module {module_name!r} (REVIEWQUEUE_MODEL_MODULES) was not found: write it as Python "
                f"imports it (models.loan for models/loan.py), from a folder on the import path") from exc
        raise ConfigurationError(f"model module {module_name!r} (REVIEWQUEUE_MODEL_MODULES) does not import: "
                                 f"{exc}") from exc
    except (ImportError, SyntaxError) as exc:
        raise ConfigurationError(f"model module {module_name!r} (REVIEWQUEUE_MODEL_MODULES) does not import: "
                                 f"{type(exc).__name__}: {exc}") from exc
