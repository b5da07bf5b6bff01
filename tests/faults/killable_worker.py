"""The real outbox dispatcher with the real connectors, which SIGKILLs itself at one chosen point.

Run as ``python -m tests.faults.killable_worker`` with the usual ``REVIEWQUEUE_*`` settings plus:

- ``FAULT_CONNECTOR``: the connector whose ``FAULT_NTH`` call (1-based) is the victim;
- ``FAULT_POINT``: where the process dies while handling that action —
  ``before_call`` (the connector is about to call the provider), ``after_call`` (the provider answered and
  committed; nothing recorded yet), ``before_record`` (the dispatcher opened the transaction that records
  the group holding the victim's outcome, nothing written yet), ``before_commit`` (that group's UPDATEs ran,
  the commit did not);
- no ``FAULT_POINT`` (or ``none``): a plain worker, no fault.

The dispatcher records outcomes in groups. At ``before_record`` and ``before_commit`` this worker widens the
group to the whole leased batch, so the kill always takes down a group of several delivered actions — every
connector's, Slack's included — and each of them must be found, not redone, after the restart. At
``before_call`` and ``after_call`` it keeps the product's flush timing: outcomes of the last few
milliseconds, not yet flushed, die with it.

Before dying it prints ``FAULT <point> <connector> <action id> group=<n> <connector>=<n>…`` (flushed), so
the test knows the kill came from the chosen point, which action was the victim and what died with it;
after each pass that leased actions it prints ``HANDLED <n>``. With no fault it drains the outbox until
SIGTERM. Only the model-free parts are imported (no training stack), so it starts in about two seconds.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import Counter
from typing import Any

from connectors.base import ActionContext, Connector
from connectors.registry import build_connectors
from reviewqueue.db import outbox as outbox_queries
from reviewqueue.db.engine import make_engine
from reviewqueue.registry import Registry
from reviewqueue.services.context import AppContext
from reviewqueue.services.outbox import Dispatcher
from reviewqueue.settings import Settings

POINTS = ("before_call", "after_call", "before_record", "before_commit")
RECORD_POINTS = ("before_record", "before_commit")


def die(point: str, connector: str, action_id: str, note: str = "") -> None:
    sys.stdout.write(f"FAULT {point} {connector} {action_id}{' ' + note if note else ''}\n")
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class Killing:
    """Wraps a real connector; counts its calls and kills the process around the chosen one.

    Every wrapped connector notes which connector delivered which action (``delivered_by``), so a kill at
    a group flush can say what died in the group."""

    def __init__(self, inner: Connector, point: str, nth: int, victims: set[str],
                 delivered_by: dict[str, str]) -> None:
        self.inner = inner
        self.name = inner.name
        self.point = point
        self.nth = nth
        self.calls = 0
        self.victims = victims
        self.delivered_by = delivered_by
        self._lock = threading.Lock()

    def deliver(self, action: ActionContext) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
            victim = self.calls == self.nth
        if victim:
            self.victims.add(action.action_id)
            if self.point == "before_call":
                die(self.point, self.name, action.action_id)
        outcome = self.inner.deliver(action)
        self.delivered_by[action.action_id] = self.name
        if victim and self.point == "after_call":
            die(self.point, self.name, action.action_id)
        return outcome

    def close(self) -> None:
        self.inner.close()


def kill_in_group_flush(point: str, target: str, victims: set[str], delivered_by: dict[str, str]) -> None:
    """Patch ``outbox_queries.record_outcomes`` (the dispatcher looks it up at call time, inside the transaction of
    a group flush) to die in the flush of the group that holds the victim's outcome."""
    real_record = outbox_queries.record_outcomes

    def record_outcomes(conn: Any, worker_id: str, outcomes: dict[str, dict[str, Any]]) -> set[str]:
        victim = next((a for a in outcomes if a in victims), None)
        if victim is not None and point == "before_record":
            die(point, target, victim, describe(outcomes, delivered_by))
        recorded = real_record(conn, worker_id, outcomes)
        if victim is not None and point == "before_commit":
            die(point, target, victim, describe(outcomes, delivered_by))
        return recorded

    outbox_queries.record_outcomes = record_outcomes


def describe(outcomes: dict[str, dict[str, Any]], delivered_by: dict[str, str]) -> str:
    per_connector = Counter(delivered_by.get(a, "?") for a in outcomes)
    return f"group={len(outcomes)} " + " ".join(f"{c}={n}" for c, n in sorted(per_connector.items()))


def main() -> None:
    settings = Settings()
    point = os.environ.get("FAULT_POINT", "none")
    connectors = build_connectors(settings)
    if point != "none":
        if point not in POINTS:
            raise SystemExit(f"FAULT_POINT must be one of {POINTS}")
        target = os.environ["FAULT_CONNECTOR"]
        victims: set[str] = set()
        delivered_by: dict[str, str] = {}
        nth = int(os.environ.get("FAULT_NTH", "1"))
        for name, inner in connectors.items():  # the others only note what they delivered
            armed = name == target
            connectors[name] = Killing(inner, point if armed else "none", nth if armed else 0,
                                       victims if armed else set(), delivered_by)
        if point in RECORD_POINTS:
            kill_in_group_flush(point, target, victims, delivered_by)
    ctx = AppContext(settings=settings, engine=make_engine(settings.database_url), registry=Registry().freeze())
    dispatcher = Dispatcher(ctx, connectors, f"killable:{os.getpid()}")
    if point in RECORD_POINTS:
        # one group per batch: the flush that dies holds every action the pass delivered (see the docstring)
        dispatcher.flush_after_seconds = 3600
        dispatcher.flush_max_outcomes = settings.outbox_batch_size
    stopping: list[int] = []  # a signal handler must not take locks (Event.set does): it only appends
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    print("READY", flush=True)
    try:
        while not stopping:
            handled = dispatcher.run_once()
            if handled:
                print(f"HANDLED {handled}", flush=True)  # the racing test adds these up per process
            else:
                time.sleep(settings.worker_poll_seconds)  # the worker's poll interval
    finally:
        dispatcher.close()
        for connector in connectors.values():
            connector.close()


if __name__ == "__main__":
    main()
