"""Only one worker leads the scheduler; the label-count trigger retrains once enough labels arrived."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select

from reviewqueue.db.tables import TrainingRun
from reviewqueue.registry import Retrain
from reviewqueue.testing import RecordingConnector
from reviewqueue.worker import Leadership, Worker
from tests.clock import FakeClock
from tests.integration.test_training import label_items


def test_one_leader_at_a_time_and_takeover_after_expiry(ctx):
    ctx.clock = clock = FakeClock()
    a, b = Leadership(ctx, "worker-a"), Leadership(ctx, "worker-b")
    assert a.renew() and a.is_leader
    assert not b.renew() and not b.is_leader
    clock.advance(ctx.settings.leader_lease_seconds / 2)
    assert a.renew(), "the holder renews its own lease"
    assert not b.renew()
    clock.advance(ctx.settings.leader_lease_seconds + 1)  # a stopped renewing (crashed)
    assert not a.is_leader, "a leader whose lease lapsed stops acting as one"
    assert b.renew() and b.is_leader
    assert not a.renew()


def test_label_trigger_retrains_only_past_the_threshold_and_only_on_the_leader(ctx, people):
    # the fraud model asks for 50 new labels; this test uses the same model with a threshold of 3
    spec = dataclasses.replace(ctx.registry.model("fraud"), retrain=Retrain(min_new_labels=3))
    worker = Worker(ctx, {"webhook": RecordingConnector("webhook")}, scheduler=False)
    follower = Worker(ctx, {}, scheduler=False)
    label_items(ctx, people, 3)
    try:
        assert worker.leadership.renew() and not follower.leadership.renew()
        follower._leader_only(follower._retrain_job(spec, "labels"), "labels")()
        with ctx.engine.connect() as conn:
            assert conn.execute(select(TrainingRun)).all() == [], "a follower never runs jobs"
        worker._leader_only(worker._retrain_job(spec, "labels"), "labels")()
        worker._leader_only(worker._retrain_job(spec, "labels"), "labels")()  # nothing new: no second run
        with ctx.engine.connect() as conn:
            runs = conn.execute(select(TrainingRun.trigger, TrainingRun.n_labels)).all()
        assert runs == [("labels", 3)]
    finally:
        worker.dispatcher.close()
        follower.dispatcher.close()


def test_scheduler_jobs_come_from_the_decorator(ctx):
    worker = Worker(ctx, {}, scheduler=False)
    worker.start_scheduler()
    try:
        assert worker.scheduler is not None
        jobs = {job.id: job for job in worker.scheduler.get_jobs()}
        assert {"leader", "release-leases", "retrain-labels:fraud", "retrain-cron:fraud"} <= set(jobs)
        cron = jobs["retrain-cron:fraud"].trigger
        assert str(cron.fields[cron.FIELD_NAMES.index("hour")]) == "3"  # models/fraud.py: "0 3 * * *"
    finally:
        worker.scheduler.shutdown(wait=False)
        worker.dispatcher.close()
