"""Shared helpers for the benchmark scripts: databases, the trained fraud model, timing, load, tables, results.

Every benchmark runs the product path and its bare baseline in the same process run, alternating the order
of the variants between repeats, and reports medians over repeats and the ratio product / bare.

Databases: PostgreSQL at ``RQ_BENCH_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/rq_bench``),
never the test suite's ``test`` database; SQLite files under ``bench/results/tmp``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/x.py` puts bench/ first on sys.path, not the repository root
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"
CACHE = RESULTS / "cache"
TMP = RESULTS / "tmp"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/rq_bench"
console = Console(width=160)


# --------------------------------------------------------------------------------------------- arguments
def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--pg-url", default=os.environ.get("RQ_BENCH_PG_URL", DEFAULT_PG_URL),
                   help="SQLAlchemy URL of the benchmark's own PostgreSQL database (never `test`)")
    p.add_argument("--repeats", type=int, default=3, help="repeats per variant; medians are reported")
    p.add_argument("--out", type=Path, default=None, help="results JSON (default bench/results/<name>.json)")
    return p


def pg_url_checked(url: str) -> str:
    name = url.rsplit("/", 1)[-1].split("?", 1)[0]
    if name in ("test", "postgres", "template0", "template1", ""):
        raise SystemExit(f"refusing to benchmark in database {name!r}: use your own (createdb rq_bench)")
    return url


def psycopg_dsn(url: str) -> str:
    """SQLAlchemy URL → libpq URL for a bare psycopg connection."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


# --------------------------------------------------------------------------------------------- timing
def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def med(values: Iterable[float]) -> float:
    vals = [v for v in values if v is not None and not (isinstance(v, float) and np.isnan(v))]
    return float(statistics.median(vals)) if vals else float("nan")


def ms(seconds: float) -> float:
    return seconds * 1000.0


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


class Stopwatch:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def lap(self) -> float:
        now = time.perf_counter()
        elapsed, self.t0 = now - self.t0, now
        return elapsed


def rotate(items: Sequence[Any], i: int) -> list[Any]:
    """Repeat i runs the variants in a rotated order, so drift on a noisy machine hits every variant alike."""
    k = i % len(items)
    return list(items[k:]) + list(items[:k])


# --------------------------------------------------------------------------------------------- machine
def _commit_sha() -> str:
    """Read the checked-out commit from .git without running git."""
    git = ROOT / ".git"
    try:
        if git.is_file():  # worktree: "gitdir: …"
            git = Path(git.read_text().split(":", 1)[1].strip())
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head
        ref = head.split(" ", 1)[1]
        for base in (git, Path(str(git).split("/worktrees/")[0])):
            if (base / ref).exists():
                return (base / ref).read_text().strip()
            packed = base / "packed-refs"
            if packed.exists():
                for line in packed.read_text().splitlines():
                    if line.endswith(" " + ref):
                        return line.split(" ", 1)[0]
    except OSError:
        pass
    return "unknown"


def _newest_source() -> str:
    files = [f for d in ("reviewqueue", "connectors", "models") for f in (ROOT / d).rglob("*.py")]
    if not files:
        return "unknown"
    newest = max(files, key=lambda f: f.stat().st_mtime)
    stamp = datetime.fromtimestamp(newest.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{newest.relative_to(ROOT)} modified {stamp}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return float("nan")


def machine(pg_url: str | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "cpu": _cpu_model(), "cores": os.cpu_count(), "mem_gib": _mem_gib(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(), "kernel": platform.release(), "commit": _commit_sha(),
        # the tree is edited between commits: the newest product source file tells which code state ran
        "newest_product_source": _newest_source(),
    }
    try:
        import onnxruntime
        import sqlalchemy

        info["onnxruntime"] = onnxruntime.__version__
        info["sqlalchemy"] = sqlalchemy.__version__
    except ImportError:
        pass
    if pg_url:
        try:
            import psycopg

            with psycopg.connect(psycopg_dsn(pg_url), autocommit=True) as conn:
                info["postgres"] = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
                for name in ("shared_buffers", "synchronous_commit", "autovacuum", "max_connections"):
                    info[f"pg_{name}"] = conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
        except Exception as exc:  # the machine line must not kill a benchmark
            info["postgres"] = f"unavailable: {exc}"
    info["wrk"] = shutil.which("wrk") or "absent (httpx thread pool used)"
    return info


def print_machine(info: dict[str, Any]) -> None:
    pg = (f"PostgreSQL {info.get('postgres')} (shared_buffers={info.get('pg_shared_buffers')}, "
          f"synchronous_commit={info.get('pg_synchronous_commit')}, autovacuum={info.get('pg_autovacuum')})"
          if "postgres" in info else "")
    console.print(f"[dim]{info['date_utc']} UTC · {info['cpu']} · {info['cores']} cores · {info['mem_gib']} GiB · "
                  f"load {info['loadavg_at_start']} · Python {info['python']} · {pg} · commit {info['commit'][:12]}"
                  "[/dim]")


# --------------------------------------------------------------------------------------------- output
def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    t = Table(title=title, title_justify="left")
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right")
    for r in rows:
        t.add_row(*[fmt(v) for v in r])
    console.print(t)
    return t


def fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if np.isnan(v):
            return "–"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.2f}" if abs(v) >= 0.1 else f"{v:.3f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def verdict(met: bool) -> str:
    return "[green]met[/green]" if met else "[red]NOT met[/red]"


def save(name: str, payload: dict[str, Any], out: Path | None = None) -> Path:
    payload.setdefault("loadavg_at_end", [round(x, 2) for x in os.getloadavg()])
    payload.setdefault("runs_retried_after_db_restart", RETRIES)
    path = out or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=_json_default))
    console.print(f"[dim]results → {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}[/dim]")
    return path


def _json_default(o: Any) -> Any:
    if isinstance(o, datetime):
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, np.generic):
        return o.item()
    return str(o)


# --------------------------------------------------------------------------------------------- database
def reset_pg(url: str) -> None:
    """Empty schema, then the product's migrations (the benchmark database only)."""
    import psycopg

    from reviewqueue.db.migrate import upgrade

    pg_url_checked(url)
    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")
    upgrade(url)


def reset_sqlite(path: Path) -> str:
    from reviewqueue.db.migrate import upgrade

    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


def pg_exec(url: str, *statements: str, params: dict[str, Any] | None = None) -> None:
    """Run statements in autocommit (VACUUM needs it)."""
    import psycopg

    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
        for s in statements:
            conn.execute(s, params)  # type: ignore[arg-type]


def pg_scalar(url: str, sql: str, params: Any = None) -> Any:
    import psycopg

    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
        row = conn.execute(sql, params).fetchone()
        return row[0] if row else None


def registry() -> Any:
    from reviewqueue.registry import Registry

    reg = Registry()
    reg.load_modules(["models.fraud"])
    return reg.freeze()


def make_ctx(url: str, artifact_dir: Path, **overrides: Any) -> Any:
    """An AppContext like the product builds (make_engine: pre-ping, pool 10+20), settings injected."""
    from reviewqueue.db.engine import make_engine
    from reviewqueue.services.context import AppContext
    from reviewqueue.settings import Settings

    values: dict[str, Any] = {"environment": "test", "database_url": url, "artifact_dir": artifact_dir}
    values.update(overrides)
    settings = Settings(**values)
    return AppContext(settings=settings, engine=make_engine(url), registry=registry())


def _fingerprint_sources() -> str:
    digest = hashlib.sha256()
    for rel in ("models/fraud.py", "reviewqueue/features.py", "reviewqueue/services/training.py"):
        p = ROOT / rel
        digest.update(p.read_bytes() if p.exists() else b"")
    return digest.hexdigest()


def trained_fraud() -> dict[str, Any]:
    """fraud v1 trained once (scratch SQLite), cached under bench/results/cache; returns its version row."""
    from sqlalchemy import select

    from reviewqueue.db.tables import ModelVersion
    from reviewqueue.services import training

    CACHE.mkdir(parents=True, exist_ok=True)
    meta = CACHE / "fraud_v1.json"
    fp = _fingerprint_sources()
    if meta.exists():
        cached = json.loads(meta.read_text())
        if cached.get("fingerprint") == fp and Path(cached["row"]["artifact_path"]).exists():
            return _row_from_json(cached["row"])
    folder = CACHE / "fraud_v1"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    url = reset_sqlite(folder / "scratch.db")
    ctx = make_ctx(url, folder / "artifacts")
    console.print("[dim]training fraud v1 once for the benchmarks (cached in bench/results/cache) …[/dim]")
    result = training.train_version(ctx, ctx.registry.model("fraud"), trigger="register")
    if not result.promoted:
        raise RuntimeError(f"fraud v1 training did not promote: {result}")
    with ctx.engine.connect() as conn:
        row = dict(conn.execute(select(ModelVersion.__table__)).one()._mapping)  # type: ignore[attr-defined]
    ctx.engine.dispose()
    meta.write_text(json.dumps({"fingerprint": fp, "row": row}, default=_json_default))
    return _row_from_json(json.loads(json.dumps(row, default=_json_default)))


def _row_from_json(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("created_at", "promoted_at"):
        if isinstance(out.get(key), str):
            out[key] = datetime.fromisoformat(out[key])
    return out


def install_version(ctx: Any, row: dict[str, Any]) -> int:
    """Register the trained version in ctx's database (artifact copied into its artifact dir); returns its id."""
    from sqlalchemy import insert

    from reviewqueue.db.tables import ModelVersion

    target = Path(ctx.settings.artifact_dir) / row["model_name"] / str(row["version"]) / "model.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(row["artifact_path"], target)
    values = {k: v for k, v in row.items() if k != "id"}
    values["artifact_path"] = str(target.resolve())
    table_ = ModelVersion.__table__  # type: ignore[attr-defined]
    with ctx.engine.begin() as conn:
        return int(conn.execute(insert(table_).values(**values).returning(table_.c.id)).scalar_one())


def principal(ctx: Any, name: str, role: str, queues: list[str] | None = None, token: bool = False) -> Any:
    """Create a principal; returns (Actor, token or None)."""
    from reviewqueue.domain.states import Role
    from reviewqueue.services import auth

    pid = auth.create_principal(ctx, name, Role(role), queues or [])
    tok = auth.issue_token(ctx, pid, label="bench") if token else None
    return auth.Actor(pid, name, Role(role), tuple(queues or ())), tok


CATEGORIES = "ARRAY['grocery','electronics','travel','fuel','restaurants','digital_goods','jewelry']"


def seed_items_pg(url: str, version_id: int, n: int, *, queue: str = "fraud", start: int = 0,
                  status_sql: str = "'pending'") -> None:
    """n predictions with realistic payloads and one review item each, built in SQL (generate_series).

    ``status_sql`` is an SQL expression of ``g`` (the series value) giving the item status.
    """
    sql_pred = f"""
        INSERT INTO predictions (model_name, external_id, version_id, score, route, audited, features, context,
                                 correlation_key, created_at)
        SELECT 'fraud', 'bench-' || g, %(vid)s, 0.15 + (g * 7919 %% 7500) / 10000.0, 'review', false,
               json_build_object('amount', round((5 + (g * 104729 %% 200000) / 100.0)::numeric, 2),
                                 'merchant_category', ({CATEGORIES})[1 + g %% 7],
                                 'country_mismatch', g %% 13 = 0, 'account_age_days', g %% 3650,
                                 'card_present', g %% 2 = 0, 'hour', g %% 24, 'velocity_1h', g %% 5),
               json_build_object('charge_id', 'ch_bench_' || g, 'user_id', 'u' || (g %% 5000), 'currency', 'usd'),
               'ch_bench_' || g, now() - interval '30 days' + g * interval '1 millisecond'
        FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) g"""
    sql_items = f"""
        INSERT INTO review_items (prediction_id, queue, kind, priority, status, created_at, decided_at)
        SELECT id, %(queue)s, 'review', prio, st, created_at, CASE WHEN st = 'decided' THEN created_at END
        FROM (SELECT p.id, p.created_at, {status_sql} AS st,
                     round((p.score * (p.features->>'amount')::float)::numeric, 6)::float AS prio
              FROM (SELECT *, substring(external_id from 7)::int AS g FROM predictions WHERE id > %(after)s) p) x"""
    import psycopg

    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
        after = conn.execute("SELECT coalesce(max(id), 0) FROM predictions").fetchone()[0]  # type: ignore[index]
        conn.execute(sql_pred, {"vid": version_id, "lo": start + 1, "hi": start + n})  # type: ignore[arg-type]
        conn.execute(sql_items, {"queue": queue, "after": after})  # type: ignore[arg-type]


def vacuum_analyze(url: str, *tables: str) -> None:
    pg_exec(url, *[f"VACUUM (ANALYZE) {t}" for t in tables])


# --------------------------------------------------------------------------------------------- processes
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """uvicorn subprocess(es) on loopback. stop() is always called by the benchmarks (try/finally).

    launcher "uvicorn": ``python -m uvicorn APP --workers N`` (what ``reviewqueue api --workers N`` does);
    launcher "reuseport": N single-process servers (bench/serve.py) sharing the port with SO_REUSEPORT.
    """

    name: str
    app: str
    env: dict[str, str]
    workers: int = 1
    launcher: str = "uvicorn"
    port: int = field(default_factory=free_port)
    children: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, health: str = "/healthz", timeout: float = 90.0) -> Server:
        from reviewqueue_dev.processes import Child, wait_http

        TMP.mkdir(parents=True, exist_ok=True)
        if self.launcher == "reuseport":
            argvs = [[sys.executable, str(ROOT / "bench" / "serve.py"), self.app, str(self.port)]
                     for _ in range(self.workers)]
        else:
            argvs = [[sys.executable, "-m", "uvicorn", self.app, "--host", "127.0.0.1", "--port", str(self.port),
                      "--workers", str(self.workers), "--log-level", "warning", "--no-access-log"]]
        for i, argv in enumerate(argvs):
            log = TMP / "logs" / f"{self.name}-{i}.log"
            self.children.append(Child(f"{self.name}-{i}", argv, self.env, log).start())
        for child in self.children:
            wait_http(self.url + health, child, timeout=timeout)
        if self.workers > 1:  # every worker process must have imported the app before load starts
            time.sleep(3.0)
            import httpx

            for _ in range(8 * self.workers):
                httpx.get(self.url + health, timeout=10)
        return self

    def stop(self) -> None:
        for child in self.children:
            child.stop()
        self.children = []


def bench_env(extra: dict[str, str]) -> dict[str, str]:
    """Child environment: no inherited REVIEWQUEUE_*, the repository importable, one ORT thread per process."""
    from reviewqueue_dev.processes import child_env

    env = child_env(extra)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "bench"), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    env.setdefault("REVIEWQUEUE_ORT_INTRA_OP_THREADS", "1")
    return env


# --------------------------------------------------------------------------------------------- load
@dataclass
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int
    tool: str

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "seconds": self.seconds, "rps": self.rps, "p50_ms": self.p50_ms,
                "p90_ms": self.p90_ms, "p99_ms": self.p99_ms, "errors": self.errors, "tool": self.tool}


WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""


def wrk_script(method: str, path: str, headers: dict[str, str], body: str | None = None,
               body_lua: str | None = None, lua_prelude: str = "") -> str:
    """A wrk Lua script: a fixed request, or one built per request by ``body_lua``.

    ``body_lua`` is a Lua expression that may use ``n`` (a per-request counter) and whatever ``lua_prelude``
    defines; make values unique across runs in the prelude (LuaJIT's math.random is seeded the same each run).
    """
    lines = [f'wrk.method = "{method}"', f'wrk.path = "{path}"']
    for k, v in headers.items():
        lines.append(f'wrk.headers["{k}"] = "{v}"')
    if body_lua:
        lines.append(lua_prelude)
        lines.append("local n = 0")
        lines.append("request = function()\n  n = n + 1\n"
                     f"  return wrk.format(nil, nil, nil, {body_lua})\nend")
    elif body is not None:
        lines.append(f"wrk.body = {json.dumps(body)}")
    return "\n".join(lines) + "\n" + WRK_DONE


def run_load(base_url: str, script: str, connections: int, seconds: float,
             fallback: Callable[[int, float], LoadResult] | None = None) -> LoadResult:
    """wrk (one thread, ``connections`` keep-alive connections, closed loop) when installed, else ``fallback``."""
    if shutil.which("wrk") is None:
        if fallback is None:
            raise RuntimeError("wrk is not installed and no fallback load generator was given")
        return fallback(connections, seconds)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False, dir=TMP) as handle:
        handle.write(script)
        script_path = handle.name
    try:
        proc = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", script_path,
             base_url], capture_output=True, text=True, timeout=seconds + 60,
        )
    finally:
        os.unlink(script_path)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed:\n{proc.stdout}\n{proc.stderr}")
    d = json.loads(line[len("WRKJSON "):])
    errors = d["status"] + d["connect"] + d["read"] + d["write"] + d["timeout"]
    return LoadResult(d["requests"], d["duration_us"] / 1e6, d["p50_us"] / 1000, d["p90_us"] / 1000,
                      d["p99_us"] / 1000, errors, "wrk")


def httpx_load(make_request: Callable[[Any, int], Any], connections: int, seconds: float) -> LoadResult:
    """Fallback load: ``connections`` threads, each its own keep-alive httpx.Client, closed loop."""
    import httpx

    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    stop = time.perf_counter() + seconds
    start = threading.Barrier(connections + 1)

    def loop(i: int) -> None:
        with httpx.Client(timeout=10) as client:
            start.wait()
            n = 0
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                resp = make_request(client, i * 10_000_000 + n)
                latencies[i].append(time.perf_counter() - t0)
                if resp.status_code >= 400:
                    errors[i] += 1
                n += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    allv = [x for lat in latencies for x in lat]
    return LoadResult(len(allv), wall, ms(pct(allv, 50)), ms(pct(allv, 90)), ms(pct(allv, 99)), sum(errors), "httpx")


# --------------------------------------------------------------------------------------------- resilience
class LoadErrors(RuntimeError):
    """An HTTP load run saw server errors (e.g. the database restarted mid-run): rerun it."""


def checked(load: LoadResult) -> LoadResult:
    if load.errors > max(5, 0.02 * load.requests):
        raise LoadErrors(f"{load.errors} failed requests of {load.requests}")
    return load


def _db_errors() -> tuple[type[BaseException], ...]:
    import psycopg
    import sqlalchemy.exc

    return (psycopg.OperationalError, sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, LoadErrors)


def wait_for_pg(url: str, timeout: float = 180.0) -> None:
    """Block until PostgreSQL answers again (the machine is shared; fault tests restart it)."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(psycopg_dsn(url), connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)  # polling a restarting server, with a deadline


def retry(what: str, fn: Callable[[], Any], url: str, on_retry: Callable[[], None] | None = None,
          attempts: int = 4) -> Any:
    """Run ``fn``; when the database went away under it (a restart by someone else), wait, clean up, rerun.

    Retried runs are counted in ``RETRIES`` and reported in the results, so nothing is hidden.
    """
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except _db_errors() as exc:
            if attempt == attempts:
                raise
            RETRIES.append({"what": what, "error": str(exc).splitlines()[0][:200],
                            "at": datetime.now(UTC).isoformat()})
            console.print(f"[yellow]  {what}: database connection lost ({str(exc).splitlines()[0][:80]}); "
                          "waiting for PostgreSQL and rerunning this run[/yellow]")
            time.sleep(2.0)
            wait_for_pg(url)
            if on_retry is not None:
                on_retry()
    raise AssertionError("unreachable")


RETRIES: list[dict[str, Any]] = []
