"""The real outbox dispatcher with the real connectors, which SIGKILLs itself at one chosen point.

Run as ``python -m tests.faults.killable_worker`` with the usual ``REVIEWQUEUE_*`` settings plus:

- ``FAULT_CONNECTOR``: the connector whose ``FAULT_NTH`` call (1-based) is the victim;
- ``FAULT_POINT``: where the process dies while handling that action —
  ``before_call`` (the connector is about to call the provider), ``after_call`` (the provider answered and
  committed; nothing recorded yet), ``before_record`` (the dispatcher opened the transaction that marks the
  action done, nothing written yet), ``before_commit`` (the done-mark UPDATE ran, the commit did not);
- no ``FAULT_POINT`` (or ``none``): a plain worker, no fault.

Before dying it prints ``FAULT <point> <connector> <action id>`` (flushed), so the test knows the kill came
from the chosen point and which action was the victim; after each pass that leased actions it prints
``HANDLED <n>``. With no fault it drains the outbox until SIGTERM.
Only the model-free parts are imported (no training stack), so it starts in about two seconds.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

from connectors.base import ActionContext, Connector
from connectors.registry import build_connectors
from reviewqueue.db import queries
from reviewqueue.db.engine import make_engine
from reviewqueue.registry import Registry
from reviewqueue.services.context import AppContext
from reviewqueue.services.outbox import Dispatcher
from reviewqueue.settings import Settings

POINTS = ("before_call", "after_call", "before_record", "before_commit")


def die(point: str, connector: str, action_id: str) -> None:
    sys.stdout.write(f"FAULT {point} {connector} {action_id}\n")
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class Killing:
    """Wraps a real connector; counts its calls and kills the process around the chosen one."""

    def __init__(self, inner: Connector, point: str, nth: int, victims: set[str]) -> None:
        self.inner = inner
        self.name = inner.name
        self.point = point
        self.nth = nth
        self.calls = 0
        self.victims = victims
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
        if victim and self.point == "after_call":
            die(self.point, self.name, action.action_id)
        return outcome

    def close(self) -> None:
        self.inner.close()


def main() -> None:
    settings = Settings()
    point = os.environ.get("FAULT_POINT", "none")
    connectors = build_connectors(settings)
    if point != "none":
        if point not in POINTS:
            raise SystemExit(f"FAULT_POINT must be one of {POINTS}")
        target = os.environ["FAULT_CONNECTOR"]
        victims: set[str] = set()
        connectors[target] = Killing(connectors[target], point, int(os.environ.get("FAULT_NTH", "1")), victims)
        real_finish = queries.finish_action

        def finish_action(conn: Any, action_id: str, worker_id: str, values: dict[str, Any]) -> bool:
            # the dispatcher looks queries.finish_action up at call time, inside its own transaction
            if action_id in victims and point == "before_record":
                die(point, target, action_id)
            done = real_finish(conn, action_id, worker_id, values)
            if action_id in victims and point == "before_commit":
                die(point, target, action_id)
            return done

        queries.finish_action = finish_action
    ctx = AppContext(settings=settings, engine=make_engine(settings.database_url), registry=Registry().freeze())
    dispatcher = Dispatcher(ctx, connectors, f"killable:{os.getpid()}")
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
