"""The registered models as the API lists them: schema, queue, champion and how close the next retrain is."""

from __future__ import annotations

from reviewqueue.domain.cron_words import describe_cron
from reviewqueue.domain.policies import Route
from reviewqueue.domain.promotion import SANITY_FLOOR
from reviewqueue.registry import ModelSpec
from reviewqueue.schemas import ModelOut, PromotionGate
from reviewqueue.services import training, versions
from reviewqueue.services.context import AppContext
from reviewqueue.services.effects import verdict_effects


def list_models(ctx: AppContext) -> list[ModelOut]:
    """Every registered model with its input schema, queue, verdicts and serving champion."""
    specs = ctx.registry.models()
    with ctx.read() as conn:
        champions = {spec.name: versions.find_champion(conn, spec.name) for spec in specs}
    out = []
    for spec in specs:
        champ = champions[spec.name]
        out.append(ModelOut(
            name=spec.name, description=spec.description, queue=spec.queue, verdicts=list(spec.verdicts),
            features=spec.features.to_json(), champion_version=champ.version if champ else None,
            labels_since_last_run=training.labels_since_last_run(ctx, spec.name),
            retrain_min_new_labels=spec.retrain.min_new_labels, retrain_cron=spec.retrain.cron,
            verdict_effects=verdict_effects(spec),
            route_labels={route.value: spec.route_label(route.value) for route in Route},
            retrain_schedule=describe_cron(spec.retrain.cron) if spec.retrain.cron else None,
            promotion_gate=promotion_gate(spec),
        ))
    return out


def promotion_gate(spec: ModelSpec) -> PromotionGate:
    """The gate a retrain of ``spec`` applies, as the Models page explains each decision with it."""
    r = spec.retrain
    return PromotionGate(metric=r.metric, require_improvement=r.require_improvement, tolerance=r.tolerance,
                         confidence=r.confidence, min_eval_per_class=r.min_eval_per_class, sanity_floor=SANITY_FLOOR)
