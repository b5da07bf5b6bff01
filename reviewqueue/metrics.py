"""Prometheus metrics: the counters and histograms every process updates, and their exposition.

Services count what they committed (claims, decisions, predictions); the API's middleware times requests by
route template; the worker's dispatcher counts deliveries. ``render`` writes one process's metrics, or — when
``PROMETHEUS_MULTIPROC_DIR`` is set, as ``api/serve.py`` does for several API worker processes — the sum over
all of them (prometheus-client's multiprocess mode: each process writes its values to files in that folder,
and the scraped process reads them all). Outbox gauges are not process state: ``OutboxCollector`` reads them
from the database at scrape time (``services.outbox.counts``, an index-only count).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from reviewqueue.schemas import ActionCounts

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUEST_SECONDS = Histogram(
    "reviewqueue_http_request_duration_seconds", "API request latency, by route template, method and status class",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CLAIMS = Counter("reviewqueue_claims_total", "Claim requests answered, by queue and outcome (item or empty)",
                 ["queue", "outcome"])
DECISIONS = Counter("reviewqueue_decisions_total",
                    "Decisions committed, by model, verdict and source (human or automatic)",
                    ["model", "verdict", "source"])
PREDICTIONS = Counter("reviewqueue_predictions_total",
                      "Predictions stored (duplicates not counted), by model and route", ["model", "route"])
DELIVERIES = Counter("reviewqueue_outbox_deliveries_total",
                     "Delivery attempts, by connector and outcome: delivered, failed (will retry) or dead",
                     ["connector", "outcome"])
DELIVERY_SECONDS = Histogram(
    "reviewqueue_outbox_delivery_latency_seconds",
    "Decision created → action delivered (includes any undo window the action waited out), by connector",
    ["connector"], buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0),
)
LEASE_BATCH = Histogram("reviewqueue_outbox_lease_batch_size", "Actions leased per non-empty outbox pass",
                        buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500))


class OutboxCollector(Collector):
    """Outbox actions by status, read from the database each time it is collected."""

    def __init__(self, counts: Callable[[], ActionCounts]) -> None:
        self.counts = counts

    def collect(self) -> Iterator[Metric]:
        counts = self.counts()
        family = GaugeMetricFamily("reviewqueue_outbox_actions", "Outbox actions by status, read at scrape time",
                                   labels=["status"])
        for status in ("pending", "in_flight", "dead", "refused"):
            family.add_metric([status], getattr(counts, status))
        yield family


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def render(*extra: Collector) -> bytes:
    """The exposition text: this process's metrics (or all processes' in multiprocess mode), then ``extra``."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    if extra:
        registry = CollectorRegistry(auto_describe=False)
        for collector in extra:
            registry.register(collector)
        body += generate_latest(registry)
    return body


def serve(port: int, host: str = "127.0.0.1") -> WSGIServer:
    """Serve this process's metrics on ``host:port`` from a daemon thread (unauthenticated: bind it to loopback
    or a private interface); ``shutdown()`` then ``server_close()`` stops it."""
    server, _thread = start_http_server(port, addr=host)
    return server
