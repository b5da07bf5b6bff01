"""For tests of the outbox's mechanics that use auto-flagged fraud events as a source of actions: the fraud
model as it was before action authority, every action automatic and unlimited (domain.authority)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reviewqueue.domain.authority import Authority
from reviewqueue.services.context import AppContext


def all_actions_automatic(monkeypatch: pytest.MonkeyPatch, ctx: AppContext, model: str = "fraud") -> None:
    spec = ctx.registry.model(model)
    for verdict, actions in list(spec.verdicts.items()):
        monkeypatch.setitem(spec.verdicts, verdict, [replace(a, authority=Authority(automatic=True)) for a in actions])
