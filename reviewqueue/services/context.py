"""The objects every use case needs, built once per process and passed in explicitly."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import Connection, Engine

from reviewqueue.artifacts import ArtifactStore, artifact_store
from reviewqueue.db.engine import make_engine, reader
from reviewqueue.db.principals import TokenHolder
from reviewqueue.db.versions import Champion, StoredVersion
from reviewqueue.domain.throttle import Attempts
from reviewqueue.domain.ttl_cache import TtlCache
from reviewqueue.registry import ModelSpec, Registry
from reviewqueue.serving.providers import OrtRuntime
from reviewqueue.serving.scorers import ScorerCache
from reviewqueue.settings import Settings

log = logging.getLogger("reviewqueue")

# How long one process trusts a token holder it has looked up (services.auth.authenticate). A revocation or a
# disabled principal written by this process is obeyed by the next request (db.principals.holder_changes); one
# written by another process (the CLI, another API worker) within this many seconds. Expiry is checked on
# every request.
TOKEN_CACHE_SECONDS = 5.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    registry: Registry
    scorers: ScorerCache = field(default_factory=ScorerCache)
    clock: Callable[[], datetime] = utc_now
    # seconds on a clock that only moves forward: how old this process's cached reads are (tests move it)
    ticks: Callable[[], float] = time.monotonic
    # when claim_next last swept expired leases in this process (see services.queue.LEASE_SWEEP_EVERY)
    last_lease_sweep: datetime | None = None
    # per model: when (monotonic) its champion and shadow were read, and them (services.ingest._serving)
    serving_versions: dict[str, tuple[float, Champion, StoredVersion | None]] = field(default_factory=dict)
    # token hash → its holder, for a few seconds (TOKEN_CACHE_SECONDS)
    token_holders: TtlCache[TokenHolder] = field(default_factory=lambda: TtlCache(TOKEN_CACHE_SECONDS))
    # which claims take a reserved audit first (services.queue); tests seed it
    rng: random.Random = field(default_factory=random.Random)
    # per model: when its day of auto-decided uncertainty was last estimated, and the estimate (services.ingest)
    day_uncertainty: dict[str, tuple[datetime, float, float]] = field(default_factory=dict)
    # per model: when its routing policy was last read (monotonic), the spec it was read for, that spec routed by
    # it and the policy version predictions record (services.policies.routed)
    routing_policies: dict[str, tuple[float, ModelSpec, ModelSpec, str]] = field(default_factory=dict)
    # recent sign-in attempts per name and per client address, in this process only (services.auth)
    sign_in_attempts: Attempts = field(default_factory=Attempts)
    # where model files are written and fetched from (Settings.artifact_store); serving resolves versions through it
    artifacts: ArtifactStore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.artifacts = artifact_store(self.settings, self.engine)
        if self.scorers.store is None:
            self.scorers.store = self.artifacts

    def now(self) -> datetime:
        return self.clock()

    def read(self) -> Connection:
        """A connection for reads. On PostgreSQL it runs in autocommit: psycopg would otherwise send BEGIN
        before the first SELECT and SQLAlchemy a ROLLBACK on return, two round trips that doubled the cost
        of a token lookup. Each statement still reads committed data, as under READ COMMITTED. On SQLite it is
        a reader (db.engine.READER): it reads the last commit beside the writer, outside the writers' queue, and
        a write through it fails ("attempt to write a readonly database")."""
        conn = self.engine.connect()
        if self.engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT")
        elif self.engine.dialect.name == "sqlite":
            reader(conn)
        return conn


def bootstrap(settings: Settings, registry: Registry | None = None, engine: Engine | None = None) -> AppContext:
    """Build the context: import the model modules named in settings, freeze the registry, open the engine."""
    if registry is None:
        registry = Registry()
        registry.load_modules(settings.model_modules)
        registry.freeze()
    return AppContext(settings=settings, engine=engine or make_engine(settings.database_url), registry=registry,
                      scorers=ScorerCache(runtime=OrtRuntime.from_settings(settings)))
