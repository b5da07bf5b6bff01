"""Reads on embedded SQLite while single events are ingested: AppContext.read() as a reader (deferred BEGIN, WAL
snapshot, outside the writers' queue) against the same read taking its turn in the writers' queue, as every
SQLite transaction did before.

Eight threads ingest one event per call (``services.ingest.ingest``, closed loop) for ``--seconds``; meanwhile the
main thread reads the queue overview (``services.queue.overview``, what the UI's queue page asks for) at a fixed
rate (``--reads-per-second``, open loop: a few operators' pages, not a flood). Each mode gets a fresh database;
modes alternate per repeat. Prints the reads' latency and the events ingested meanwhile.

    .venv/bin/python bench/sqlite_readers.py
    .venv/bin/python bench/sqlite_readers.py --seconds 10 --repeats 2
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import common as c
import predict_http as ph

MODES = ("queued", "reader")
WRITERS = 8


def run_mode(mode: str, seconds: float, rate: float, trained: dict[str, Any], repeat: int) -> dict[str, float]:
    from sqlalchemy.engine import Connection

    from reviewqueue.domain.permissions import Actor
    from reviewqueue.domain.states import Role
    from reviewqueue.services import auth, ingest, queue
    from reviewqueue.services.context import AppContext

    url = f"sqlite:///{(c.TMP / 'sqlite_readers' / f'{mode}-{repeat}.db').resolve()}"
    artifacts = (c.TMP / "sqlite_readers" / "artifacts").resolve()
    token, _spec, _version = ph.build("sqlite", url, artifacts, trained)
    ctx = c.make_ctx(url, artifacts)
    if mode == "queued":  # the read as it was: a plain connection, whose first statement takes the writer's turn
        def queued_read(self: AppContext) -> Connection:
            return self.engine.connect()

        ctx.read = queued_read.__get__(ctx)  # type: ignore[method-assign]
    integration = auth.authenticate(ctx, token)
    admin = Actor(id=0, name="bench-admin", role=Role.ADMIN, queues=())

    def event(tag: str, n: int) -> list[dict[str, Any]]:
        return list(json.loads(ph.body(tag, n))["events"])

    for n in range(300):  # warm: ORT session, caches, some rows to read
        ingest.ingest(ctx, integration, "fraud", event("warm", n))
    stop = threading.Event()
    written: list[int] = []

    def write(i: int) -> None:
        n = 0
        while not stop.is_set():
            ingest.ingest(ctx, integration, "fraud", event(f"w{i}", n))
            n += 1
        written.append(n)

    writers = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
    for w in writers:
        w.start()
    latencies = []
    started = tick = time.perf_counter()
    while time.perf_counter() - started < seconds:
        tick += 1.0 / rate
        time.sleep(max(0.0, tick - time.perf_counter()))  # open loop: the next read is due at its tick
        t0 = time.perf_counter()
        queue.overview(ctx, admin)
        latencies.append(time.perf_counter() - t0)
    stop.set()
    for w in writers:
        w.join()
    elapsed = time.perf_counter() - started
    ctx.engine.dispose()
    return {"reads": len(latencies), "p50_ms": c.ms(c.pct(latencies, 50)), "p90_ms": c.ms(c.pct(latencies, 90)),
            "p99_ms": c.ms(c.pct(latencies, 99)), "events_per_s": sum(written) / elapsed}


def main() -> None:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--reads-per-second", type=float, default=20.0)
    args = p.parse_args()
    info = c.machine()
    c.print_machine(info)
    trained = c.trained_fraud()
    (c.TMP / "sqlite_readers").mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    for r in range(args.repeats):
        for mode in c.rotate(list(MODES), r):
            res = run_mode(mode, args.seconds, args.reads_per_second, trained, r)
            runs.append({"mode": mode, "repeat": r, **res})
            c.console.print(f"[dim]  repeat {r} {mode:7s} read p50 {res['p50_ms']:.2f} ms  p99 {res['p99_ms']:.2f} ms"
                            f"  ingest {res['events_per_s']:.0f} events/s[/dim]")
    rows = []
    summary: dict[str, Any] = {}
    for mode in MODES:
        mine = [x for x in runs if x["mode"] == mode]
        summary[mode] = {k: c.med(x[k] for x in mine) for k in ("p50_ms", "p90_ms", "p99_ms", "events_per_s")}
        label = {"queued": "read in the writers' queue (before)", "reader": "read as a reader (AppContext.read)"}
        rows.append([label[mode], summary[mode]["p50_ms"], summary[mode]["p90_ms"], summary[mode]["p99_ms"],
                     summary[mode]["events_per_s"]])
    c.table(f"queue overview on SQLite beside {WRITERS} ingesting threads, {args.reads_per_second:g} reads/s, "
            f"median of {args.repeats}", ["read", "p50 ms", "p90 ms", "p99 ms", "events/s ingested"], rows)
    c.save("sqlite_readers", {"machine": info, "args": vars(args) | {"out": str(args.out)}, "runs": runs,
                              "summary": summary}, args.out)


if __name__ == "__main__":
    main()
