"""`reviewqueue run`: the whole product on embedded SQLite, with demo data and local sandboxes.

Connectors point at clearly labelled local stand-ins — localstripe on loopback for Stripe, a local sink for
Slack and the business system's webhook receiver, a local SQLite file as the business database — so a
newcomer sees every decision's effects. The sandboxes keep their state in memory, so the demo starts fresh
on each run; point REVIEWQUEUE_* settings at real services for real use (see README).
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import track

from reviewqueue.domain.states import Role
from reviewqueue.settings import Settings
from reviewqueue_dev.instance import RunLock, StartRefused, check_ports_free
from reviewqueue_dev.processes import Child, api_child, child_env, ui_child, wait_http, worker_child
from reviewqueue_dev.sandbox import LocalStripe, Sink

log = logging.getLogger(__name__)
console = Console()
DEMO_USERS = [
    # name, password, role, queues
    ("admin", "admin-demo", Role.ADMIN, []),
    ("ana", "ana-demo", Role.REVIEWER, ["fraud"]),
    ("sam", "sam-demo", Role.REVIEWER, ["fraud", "fraud-senior"]),  # decides what reviewers escalate
    ("cleo", "cleo-demo", Role.REVIEWER, ["clinical", "clinical-learning"]),
    ("dan", "dan-demo", Role.DATA_SCIENTIST, []),
]
DEMO_MODULES = ["models.fraud", "models.self_harm"]
DEMO_MESSAGES = (
    "Can I move my appointment to next Tuesday?", "Please renew my asthma inhaler prescription",
    "I have felt really low for weeks and sometimes wish I wasn't here",
    "What time does the pharmacy close today?", "The new tablets make me feel a bit sick",
    "I don't see the point of anything anymore, I've been thinking about ending it",
    "My back pain is better after the physio", "Is there parking at the clinic?",
    "I've been cutting again, I don't know how to stop", "Could I get a copy of my vaccination record?",
    "Work is stressful but I'm managing with the breathing exercises", "I wrote goodbye letters last night",
    "I'm anxious about my scan results next week", "Thanks for the quick reply yesterday",
    "I can't sleep and my thoughts are getting darker", "How do I update my address?",
)
DEMO_STRIPE_WEBHOOK_SECRET = "whsec_reviewqueue_demo_endpoint"
DEMO_TRANSACTIONS = 300


def settings_env(values: dict[str, Any]) -> dict[str, str]:
    """Settings fields → REVIEWQUEUE_* environment for child processes."""
    return {f"REVIEWQUEUE_{k.upper()}": json.dumps(v) if isinstance(v, list | dict) else str(v)
            for k, v in values.items() if v is not None}


def create_business_db(path: Path, user_ids: list[str]) -> str:
    """The business system's own database, where the `sql` connector bans users."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, email TEXT NOT NULL, "
                     "banned INTEGER NOT NULL DEFAULT 0, banned_reason TEXT, banned_by TEXT)")
        conn.executemany("INSERT OR IGNORE INTO users (id, email) VALUES (?, ?)",
                         [(u, f"{u}@example.com") for u in user_ids])
    return f"sqlite:///{path}"


def seed(settings: Settings, stripe: LocalStripe, n: int = DEMO_TRANSACTIONS) -> dict[str, str]:
    """Users, fraud v1 and `n` scored demo transactions (each with a real charge at localstripe)."""
    from models.fraud import synthetic_transactions
    from reviewqueue.db.migrate import upgrade
    from reviewqueue.services import auth, ingest, training
    from reviewqueue.services.context import bootstrap

    upgrade(settings.database_url)
    ctx = bootstrap(settings)
    for name, password, role, queues in DEMO_USERS:
        auth.create_principal(ctx, name, role, queues, password=password)
    shop_id = auth.create_principal(ctx, "shop", Role.INTEGRATION)
    shop_token = auth.issue_token(ctx, shop_id, label="demo business system")
    spec = ctx.registry.model("fraud")
    with console.status("training fraud v1 on synthetic transactions …"):
        training.train_version(ctx, spec, trigger="register")
    # a review team's day: mostly ordinary traffic plus the risky tail, so every queue band has work in it
    pool = synthetic_transactions(n=20 * n, seed=2026)
    risky = pool[pool["label"] == 1].head(n // 3)
    frame = pd.concat([pool[pool["label"] == 0].head(n - len(risky)), risky]).sample(frac=1, random_state=1)
    events = []
    for i, row in track(list(enumerate(frame.to_dict("records"))), description="creating demo charges",
                        console=console):
        features = {k: row[k] for k in spec.features.names}
        features = {k: (v.item() if hasattr(v, "item") else v) for k, v in features.items()}
        user = f"user-{i % 120:03d}"
        # the charge carries its user: the fraud model's refund checks it is the event's (match=metadata.user_id)
        charge = stripe.create_charge(int(round(features["amount"] * 100)), metadata={"user_id": user})
        events.append({"external_id": f"demo-{i:04d}", "features": features,
                       "context": {"charge_id": charge, "user_id": user, "currency": "usd"}})
    system = auth.Actor(shop_id, "shop", Role.INTEGRATION, ())
    results = ingest.ingest(ctx, system, "fraud", events)
    with console.status("exporting the sentence encoder to ONNX and building self_harm v1 (zero-shot) …"):
        training.train_version(ctx, ctx.registry.model("self_harm"), trigger="register")
    messages = [{"external_id": f"msg-{i:03d}", "features": {"text": text},
                 "context": {"patient_id": f"patient-{i % 40:02d}", "channel": "portal"}}
                for i, text in enumerate(DEMO_MESSAGES * 4)]
    results += ingest.ingest(ctx, system, "self_harm", messages)
    for extra in ctx.registry.models():  # models from REVIEWQUEUE_MODEL_MODULES / --models: v1 each, no demo data
        if extra.name not in ("fraud", "self_harm"):
            with console.status(f"training {extra.name} v1 …"):
                training.train_version(ctx, extra, trigger="register")
    ctx.engine.dispose()
    routes: dict[str, int] = {}
    for r in results:
        routes[r.route_label] = routes.get(r.route_label, 0) + 1  # "auto: legit", not the stored auto_pass
    console.print(f"scored {len(results)} demo events: {routes}")
    return {"shop_token": shop_token}


def demo_modules(extra: list[str]) -> list[str]:
    """The demo's model modules: the shipped two, then each extra once (JSON list or comma-separated entries)."""
    names: list[str] = list(DEMO_MODULES)
    for entry in extra:
        entry = entry.strip()
        parsed = json.loads(entry) if entry.startswith("[") else entry.split(",")
        names += [n.strip() for n in parsed if n.strip() and n.strip() not in names]
    return names


def run_demo(api_port: int, ui_port: int, data_dir: Path, ready: threading.Event | None = None,
             stop: threading.Event | None = None, model_modules: list[str] | None = None) -> int:
    """Refuse (exit 1, one line, nothing touched) while another run holds the data dir or a port; else run."""
    lock = RunLock(data_dir)
    try:
        lock.acquire(f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{ui_port}")
        check_ports_free({"REVIEWQUEUE_API_PORT": api_port, "REVIEWQUEUE_UI_PORT": ui_port})
    except StartRefused as refused:
        lock.release()
        print(refused, file=sys.stderr)
        return 1
    try:
        return _run_demo(api_port, ui_port, data_dir, ready, stop, model_modules or list(DEMO_MODULES))
    finally:
        lock.release()


def _run_demo(api_port: int, ui_port: int, data_dir: Path, ready: threading.Event | None,
              stop: threading.Event | None, model_modules: list[str]) -> int:
    demo_dir = data_dir / "demo"
    if demo_dir.exists():
        shutil.rmtree(demo_dir)  # the sandboxes forget on exit, so the demo starts fresh each run
    demo_dir.mkdir(parents=True)
    stop = stop or threading.Event()
    signalled: list[int] = []  # a handler must not take locks (Event.set does): it only appends
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: signalled.append(signum))
    children: list[Child] = []
    with LocalStripe() as stripe, Sink() as sink:
        business_url = create_business_db(demo_dir / "business.db", [f"user-{i:03d}" for i in range(120)])
        values: dict[str, Any] = {
            "environment": "dev",
            "model_modules": model_modules,
            "database_url": f"sqlite:///{(demo_dir / 'reviewqueue.db').resolve()}",
            "artifact_dir": (demo_dir / "artifacts").resolve(),
            "api_url": f"http://127.0.0.1:{api_port}",
            "ui_base_url": f"http://127.0.0.1:{ui_port}",
            "stripe_webhook_secret": DEMO_STRIPE_WEBHOOK_SECRET,
            "business_db_url": business_url,
            **stripe.settings_fields(),
            **sink.settings_fields("business-system"),
        }
        settings = Settings(**values)
        secrets = seed(settings, stripe)
        env = child_env({**settings_env(values), "REVIEWQUEUE_SANDBOX_URL": sink.url, "REVIEWQUEUE_DEMO": "1",
                         "REVIEWQUEUE_DEMO_ACCOUNTS": demo_accounts_json(),
                         "REVIEWQUEUE_BUSINESS_DB_HINT": f"sqlite3 {demo_dir / 'business.db'} "
                                                         "'select * from users where banned = 1'"})
        logs = demo_dir / "logs"
        api = api_child(api_port, env, logs).start()
        children.append(api)
        children.append(worker_child(env, logs).start())
        ui = ui_child(ui_port, env, logs).start()
        children.append(ui)
        try:
            # READY only off this run's own children: each must hold its port, not merely see it answer
            wait_http(f"http://127.0.0.1:{api_port}/healthz", api, port=api_port)
            wait_http(f"http://127.0.0.1:{ui_port}/_stcore/health", ui, timeout=90, port=ui_port)
            # The UI takes longest to start: a child that died meanwhile (the API after its health check) must
            # not be announced as running. Every child alive, and the API still answering on its own port.
            dead = [c for c in children if not c.alive]
            if dead:
                console.print(f"[red]{dead[0].name} exited while the others started[/red]; the end of its log:")
                console.print(dead[0].log_tail(), markup=False, highlight=False)
                return 1
            wait_http(f"http://127.0.0.1:{api_port}/healthz", api, timeout=30, port=api_port)
            _print_banner(api_port, ui_port, stripe, sink, demo_dir, secrets["shop_token"])
            if ready is not None:
                ready.set()
            while not signalled and not stop.is_set():
                time.sleep(0.5)
                dead = [c for c in children if not c.alive]
                if dead:
                    console.print(f"[red]{dead[0].name} exited[/red] (code {dead[0].returncode}); "
                                  f"the end of {dead[0].log_path}:")
                    console.print(dead[0].log_tail(), markup=False, highlight=False)
                    return 1
            return 0
        finally:
            for child in reversed(children):
                child.stop()


def demo_accounts_json() -> str:
    """DEMO_USERS for the UI's sign-in page (REVIEWQUEUE_DEMO_ACCOUNTS): the accounts this seeder creates, so
    the page lists exactly them and no second list can drift."""
    return json.dumps([[name, password, role.value, list(queues)] for name, password, role, queues in DEMO_USERS])


def _print_banner(api_port: int, ui_port: int, stripe: LocalStripe, sink: Sink, demo_dir: Path,
                  shop_token: str) -> None:
    console.rule("[bold green]reviewqueue is running")
    console.print(f"  UI        http://127.0.0.1:{ui_port}")
    console.print(f"  API       http://127.0.0.1:{api_port}   (docs: http://127.0.0.1:{api_port}/docs)")
    console.print("  sign in   " + "   ".join(f"{n} / {p} ({r.value})" for n, p, r, _ in DEMO_USERS))
    console.print(f"  API token for the demo business system (integration role): {shop_token}")
    console.print("[dim]  sandboxes (local stand-ins, not the real services):[/dim]")
    console.print(f"[dim]    Stripe    localstripe at {stripe.url}[/dim]")
    console.print(f"[dim]    Slack + business webhooks   sink at {sink.url}/sandbox/messages[/dim]")
    console.print(f"[dim]    business DB   {demo_dir / 'business.db'}[/dim]")
    console.print(f"[dim]  logs in {demo_dir / 'logs'}; Ctrl-C stops everything[/dim]")
    console.print("READY", style="bold")
