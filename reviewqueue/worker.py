"""The worker: drains the outbox and runs the scheduler jobs (retraining, lease sweeping).

Several workers may run at once: outbox batches are leased with SKIP LOCKED, and only the worker holding the
'scheduler' lease (a row in `leases`, renewed every few seconds) runs scheduled jobs, so a retrain never
runs twice because two workers started.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any
from wsgiref.simple_server import WSGIServer

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.exc import IntegrityError, OperationalError

from connectors.base import Connector
from reviewqueue import metrics
from reviewqueue.db import leases
from reviewqueue.errors import Conflict
from reviewqueue.logs import error_fields
from reviewqueue.registry import ModelSpec
from reviewqueue.services import drift, queue, registration, sla, training
from reviewqueue.services.context import AppContext
from reviewqueue.services.outbox import Dispatcher

log = logging.getLogger(__name__)
LEADER_LEASE = "scheduler"


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Leadership:
    """Holds the named lease while this worker is alive; `is_leader` is true only within the lease window."""

    def __init__(self, ctx: AppContext, holder: str) -> None:
        self.ctx = ctx
        self.holder = holder
        self._valid_until = ctx.now() - timedelta(seconds=1)

    def renew(self) -> bool:
        now = self.ctx.now()
        seconds = self.ctx.settings.leader_lease_seconds
        try:
            with self.ctx.engine.begin() as conn:
                held = leases.acquire_lease(conn, LEADER_LEASE, self.holder, now, seconds)
        except IntegrityError:  # another worker inserted the lease row first
            held = False
        if held:
            # keep a safety margin: stop acting as leader before the row says the lease ends
            self._valid_until = now + timedelta(seconds=seconds * 0.8)
        return held

    @property
    def is_leader(self) -> bool:
        return self.ctx.now() < self._valid_until


class Worker:
    def __init__(self, ctx: AppContext, connectors: Mapping[str, Connector], scheduler: bool | None = None) -> None:
        self.ctx = ctx
        self.id = worker_id()
        self.dispatcher = Dispatcher(ctx, connectors, self.id)
        self.connectors = connectors
        self.leadership = Leadership(ctx, self.id)
        self.stop_event = threading.Event()
        self._scheduler_enabled = ctx.settings.scheduler_enabled if scheduler is None else scheduler
        self.scheduler: BackgroundScheduler | None = None
        self._training_lock = threading.Lock()
        self._signalled = False
        self.metrics_server: WSGIServer | None = None

    # scheduler -----------------------------------------------------------------
    def _leader_only(self, job: Callable[[], Any], name: str) -> Callable[[], None]:
        def run() -> None:
            if not self.leadership.is_leader:
                return
            try:
                job()
            except OperationalError as exc:
                log.warning("job skipped: database unavailable", extra={"action": "job_db_down", "job": name,
                                                                       **error_fields(exc)})
        return run

    def _retrain_job(self, spec: ModelSpec, trigger: str) -> Callable[[], None]:
        def run() -> None:
            if trigger == "labels":
                new = training.labels_since_last_run(self.ctx, spec.name)
                if new < spec.retrain.min_new_labels:
                    return
            if not self._training_lock.acquire(blocking=False):
                return  # a run is already going in this worker
            try:
                log.info("scheduled retrain", extra={"action": "retrain_scheduled", "model": spec.name,
                                                     "trigger": trigger})
                training.train_version(self.ctx, spec, trigger=trigger)
            except Conflict as exc:  # another process is retraining this model: its run is the one
                log.info("scheduled retrain skipped", extra={"action": "retrain_skipped", "model": spec.name,
                                                             "reason": exc.message})
            finally:
                self._training_lock.release()
        return run

    def start_scheduler(self) -> None:
        s = self.ctx.settings
        scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1,
                                                                      "misfire_grace_time": 300})
        scheduler.add_job(self.leadership.renew, "interval", seconds=max(1, s.leader_lease_seconds // 3),
                          id="leader", next_run_time=self.ctx.now())
        scheduler.add_job(self._leader_only(lambda: queue.release_expired(self.ctx), "leases"), "interval",
                          seconds=2, id="release-leases")
        if any(spec.sla for spec in self.ctx.registry.models()):
            scheduler.add_job(self._leader_only(lambda: sla.page_overdue(self.ctx), "sla"), "interval",
                              seconds=s.sla_check_seconds, id="sla-pages")
        # once a day: Slack alerts for inputs (and scores) drifted past drift_alert_psi, once per input and day
        scheduler.add_job(self._leader_only(lambda: drift.alert_drift(self.ctx), "drift"),
                          CronTrigger.from_crontab(s.drift_alert_cron, timezone="UTC"), id="drift-alerts")
        for spec in self.ctx.registry.models():
            if registration.brings_its_own(spec):
                continue  # its owner registers new files (models register); labels never retrain it
            scheduler.add_job(self._leader_only(self._retrain_job(spec, "labels"), f"labels:{spec.name}"),
                              "interval", seconds=s.retrain_check_seconds, id=f"retrain-labels:{spec.name}")
            if spec.retrain.cron:
                scheduler.add_job(self._leader_only(self._retrain_job(spec, "cron"), f"cron:{spec.name}"),
                                  CronTrigger.from_crontab(spec.retrain.cron, timezone="UTC"),
                                  id=f"retrain-cron:{spec.name}")
        scheduler.start()
        self.scheduler = scheduler

    # outbox loop ---------------------------------------------------------------
    def run(self) -> None:
        """Drain the outbox until stopped (SIGTERM/SIGINT or stop())."""
        if self._scheduler_enabled:
            self.start_scheduler()
        if self.ctx.settings.worker_metrics_port:
            self.metrics_server = metrics.serve(self.ctx.settings.worker_metrics_port)
        log.info("worker started", extra={"action": "worker_started", "worker_id": self.id})
        try:
            while not self.stop_event.is_set() and not self._signalled:
                try:
                    handled = self.dispatcher.run_once()
                except OperationalError as exc:
                    log.warning("outbox pass failed: database unavailable",
                                extra={"action": "outbox_db_down", **error_fields(exc)})
                    handled = 0
                if handled == 0:
                    self.stop_event.wait(min(self.ctx.settings.worker_poll_seconds, 0.5))
        finally:
            self.shutdown()

    def stop(self) -> None:
        self.stop_event.set()

    def shutdown(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.dispatcher.close()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
        for connector in self.connectors.values():
            connector.close()
        log.info("worker stopped", extra={"action": "worker_stopped", "worker_id": self.id})

    def install_signal_handlers(self) -> None:
        # A handler must not take locks (Event.set does, and may interrupt a thread holding it): set a flag.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: setattr(self, "_signalled", True))
