"""The fault rig: real peers on loopback (localstripe, the sink, a business SQLite DB), the real API in
process, real worker processes, and fault proxies in between. Effects are counted at the peers.

The API and the workers serve tests/automatic_fraud.py (every action automatic; tests/faults/conftest.py).
Each event's charge is what the refund connector accepts: in the event's currency, of the event's user
(``metadata.user_id``, the model's ``match``) and of exactly the event's amount, which is what is refunded.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from reviewqueue.client import Client
from reviewqueue.db.tables import OutboxAction
from reviewqueue.services.context import AppContext
from reviewqueue_dev.demo import create_business_db, settings_env
from reviewqueue_dev.processes import Child, child_env, worker_child
from reviewqueue_dev.sandbox import LocalStripe, Sink, wait_until
from tests.automatic_fraud import MODULE as AUTOMATIC_FRAUD
from tests.factories import transaction, uncertain
from tests.faults.proxy import FaultProxy

outbox = OutboxAction.__table__  # type: ignore[attr-defined]
USERS = [f"u{i}" for i in range(5000, 5400)]


@dataclass
class Rig:
    ctx: AppContext
    stripe: LocalStripe
    sink: Sink
    api_url: str
    tmp: Path
    base: dict[str, Any] = field(default_factory=dict)
    children: list[Child] = field(default_factory=list)
    proxies: list[FaultProxy] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.business_db = self.tmp / "business.db"
        create_business_db(self.business_db, USERS)
        self.logs = self.tmp / "logs"
        self.base = {
            "environment": "test", "database_url": self.ctx.settings.database_url,
            "artifact_dir": Path(self.ctx.settings.artifact_dir).resolve(),
            "business_db_url": f"sqlite:///{self.business_db}", "worker_poll_seconds": 0.05,
            "retry_base_seconds": 0.1, "retry_max_seconds": 0.5, "outbox_visibility_seconds": 30,
            "worker_concurrency": 2, "scheduler_enabled": False, "model_modules": [AUTOMATIC_FRAUD],
            **self.stripe.settings_fields(), **self.sink.settings_fields("shop"),
        }

    # -- processes and proxies -----------------------------------------------------------------------------

    def env(self, **overrides: Any) -> dict[str, str]:
        # faulthandler: a child stuck past a deadline is sent SIGABRT and dumps every thread's stack to its log
        return {**child_env(settings_env({**self.base, **overrides})), "PYTHONFAULTHANDLER": "1"}

    def start_worker(self, name: str = "worker", **overrides: Any) -> Child:
        """The product's worker (`reviewqueue worker`) as a child process."""
        child = worker_child(self.env(**overrides), self.logs, name).start()
        self.children.append(child)
        return child

    def start_killable(self, name: str, point: str, connector: str = "", nth: int = 1, **overrides: Any) -> Child:
        """tests/faults/killable_worker.py: the real dispatcher and connectors, dying at ``point``."""
        env = {**self.env(**overrides), "FAULT_POINT": point, "FAULT_CONNECTOR": connector, "FAULT_NTH": str(nth)}
        child = Child(name, [sys.executable, "-m", "tests.faults.killable_worker"], env,
                      self.logs / f"{name}.log").start()
        self.children.append(child)
        return child

    def start_dispatcher(self, name: str, **overrides: Any) -> Child:
        """The same script with no fault: the real Dispatcher and connectors, starting faster than the CLI."""
        return self.start_killable(name, "none", **overrides)

    def proxy(self, upstream: str) -> FaultProxy:
        proxy = FaultProxy(upstream).start()
        self.proxies.append(proxy)
        return proxy

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        for proxy in self.proxies:
            proxy.stop()

    def logs_tail(self, lines: int = 25) -> str:
        return "\n".join(f"--- {c.name} (rc={c.process.poll() if c.process else None})\n{c.log_tail(lines)}"
                         for c in self.children)

    # -- load ------------------------------------------------------------------------------------------------

    def charge_for(self, event: dict[str, Any]) -> dict[str, Any]:
        """Give ``event`` a real charge at localstripe: its amount (in cents), currency and user."""
        context = event["context"]
        context["charge_id"] = self.stripe.create_charge(
            round(event["features"]["amount"] * 100), context["currency"], metadata={"user_id": context["user_id"]})
        return event

    def flagged_events(self, n: int, offset: int) -> list[dict[str, Any]]:
        """``n`` confident-fraud events, each with a real charge at localstripe (not sent yet)."""
        events = []
        for i in range(offset, offset + n):
            event = transaction(i, risky=True)
            event["context"]["user_id"] = USERS[i - offset]
            events.append(self.charge_for(event))
        return events

    def predict(self, token: str, events: list[dict[str, Any]], route: str) -> list[dict[str, Any]]:
        with Client(self.api_url, token) as client:
            routes = {r.route for r in client.predict("fraud", events)}
        assert routes == {route}, routes
        return events

    def ingest_flagged(self, token: str, n: int, offset: int) -> list[dict[str, Any]]:
        """``n`` confident-fraud events with real charges, sent: 4 actions each."""
        return self.predict(token, self.flagged_events(n, offset), "auto_flag")

    def ingest_for_review(self, token: str, n: int, offset: int) -> list[dict[str, Any]]:
        """``n`` uncertain events (review items), each with a real charge at localstripe."""
        events = []
        for i in range(offset, offset + n):
            event = uncertain(i)
            event["context"]["user_id"] = USERS[i - offset]
            events.append(self.charge_for(event))
        with Client(self.api_url, token) as client:
            routes = {r.route for r in client.predict("fraud", events)}
        assert routes == {"review"}, routes
        return events

    def ingest_legit(self, token: str, n: int, offset: int) -> list[dict[str, Any]]:
        """``n`` confident-legit events: one webhook action each."""
        events = [transaction(i) for i in range(offset, offset + n)]
        with Client(self.api_url, token) as client:
            routes = {r.route for r in client.predict("fraud", events)}
        assert routes == {"auto_pass"}, routes
        return events

    # -- our own tables ----------------------------------------------------------------------------------------

    def actions(self) -> list[Any]:
        with self.ctx.engine.connect() as conn:
            return list(conn.execute(select(outbox)).all())

    def status_counts(self) -> Counter[str]:
        return Counter(a.status for a in self.actions())

    def wait_settled(self, total: int, timeout: float = 60, done: int | None = None) -> None:
        """Wait until ``total`` actions exist and all are done (or ``done`` of them are), with diagnostics."""
        want = total if done is None else done
        try:
            wait_until(lambda: self.status_counts()["done"] >= want, timeout=timeout,
                       what=f"{want} of {total} actions done")
        except TimeoutError as exc:
            self.dump_stacks()
            raise AssertionError(f"{exc}: {dict(self.status_counts())}\n{self.logs_tail(60)}") from None

    def dump_stacks(self) -> None:
        """SIGABRT every live child: faulthandler writes where each thread is stuck into the child's log."""
        for child in self.children:
            if child.alive and child.process is not None:
                child.process.send_signal(signal.SIGABRT)
                child.process.wait(timeout=10)

    # -- effects, counted at the peers ---------------------------------------------------------------------

    def refunds_per_charge(self, events: list[dict[str, Any]]) -> dict[str, int]:
        return {e["context"]["charge_id"]: len(self.stripe.refunds_for(e["context"]["charge_id"])) for e in events}

    def verified_webhooks(self) -> Counter[str]:
        """First-time, verified deliveries per external_id (what the business system acted on)."""
        return Counter(h["payload"]["external_id"] for h in self.sink.webhooks)

    def webhook_attempts(self) -> Counter[str]:
        """Every request the receiver got, per webhook-id (= action id), duplicates included."""
        return Counter(a["webhook_id"] for a in self.sink.webhook_attempts if a.get("webhook_id"))

    def slack_per_action(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for message in self.sink.slack_messages:
            metadata = message.get("metadata") or {}
            if isinstance(metadata, str):
                metadata = json.loads(metadata)
            out[metadata.get("event_payload", {}).get("action_id", "?")] += 1
        return out

    def banned_users(self) -> list[str]:
        with sqlite3.connect(self.business_db) as conn:
            rows = conn.execute("SELECT id FROM users WHERE banned = 1 ORDER BY id").fetchall()
        conn.close()
        return [r[0] for r in rows]

    def assert_flagged_effects_once(self, events: list[dict[str, Any]], note: str = "") -> dict[str, int]:
        """Every flagged event's four effects happened exactly once, counted where they live (Slack included:
        a retry whose outcome is unknown finds its earlier message by action id, connectors/slack_message.py);
        each refund is of exactly the event's amount."""
        refunds = self.refunds_per_charge(events)
        off = {c: n for c, n in refunds.items() if n != 1}
        assert not off, f"{note}refunds per charge must be 1; off: {off} of {len(refunds)} charges"
        amounts = {c: [r["amount"] for r in self.stripe.refunds_for(c)] for c in refunds}
        wanted = {e["context"]["charge_id"]: round(e["features"]["amount"] * 100) for e in events}
        wrong = {c: (amounts[c], wanted[c]) for c in refunds if amounts[c] != [wanted[c]]}
        assert not wrong, f"{note}refunds (cents) vs the event's amount, per charge: {wrong}"
        hooks = self.verified_webhooks()
        want = Counter(e["external_id"] for e in events)
        assert hooks == want, f"{note}verified webhooks per event {dict(hooks)} != {dict(want)}"
        by_connector: dict[str, list[str]] = {}
        for a in self.actions():
            by_connector.setdefault(a.connector, []).append(a.id)
        slack = self.slack_per_action()
        slack_off = {a: slack.get(a, 0) for a in by_connector.get("slack_message", [])
                     if slack.get(a, 0) != 1}
        assert not slack_off, f"{note}slack messages per action must be 1; off: {slack_off}"
        banned = self.banned_users()
        assert banned == sorted(e["context"]["user_id"] for e in events), f"{note}banned users: {banned}"
        return {"refunds": sum(refunds.values()), "webhooks": sum(hooks.values()),
                "slack": sum(slack.values()), "banned": len(banned)}
