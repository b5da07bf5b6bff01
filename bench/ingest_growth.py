"""Batch ingest time as the table grows: N events in batches of 1,000 into an empty, never-analysed PostgreSQL.

Each batch is one `reviewqueue.services.ingest.ingest(ctx, actor, "fraud", events)` call (validate, score, store,
route, enqueue, auto-decide; one commit), timed on its own; the chart plots seconds per batch against the number
of predictions already stored. The tables are created by the product's migrations and never vacuumed or analysed
(`autovacuum_enabled = false` on each, whatever the server's setting), so the planner works from no statistics —
as on a production server whose autovacuum lags behind its own growth. `--stats stale` analyses once after the
first batch instead (statistics that say 1,000 rows while the table grows to N).

Writes bench/results/ingest_growth[_<label>].json and a chart next to it (.svg, drawn here: no plotting library
is a dependency); `--overlay other.json` draws an earlier run (e.g. the code before a change) on the same axes.

    .venv/bin/python bench/ingest_growth.py --rows 100000               # ~1-2 min on 2 idle cores
    .venv/bin/python bench/ingest_growth.py                             # 1,000,000 rows
    .venv/bin/python bench/ingest_growth.py --rows 100000 --label after \
        --overlay bench/results/ingest_growth_before.json
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import common as c
from ingest import feature_pool, make_events

TABLES = ("predictions", "review_items", "decisions", "outbox_actions")


def main() -> None:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="events to import (default 1,000,000)")
    p.add_argument("--batch", type=int, default=1_000)
    p.add_argument("--stats", choices=("none", "stale"), default="none",
                   help="none: never analysed; stale: analysed once after the first batch")
    p.add_argument("--label", default="", help="suffix of the results file and the curve's name in the chart")
    p.add_argument("--overlay", type=Path, action="append", default=[], help="earlier results JSON to draw too")
    args = p.parse_args()
    url = c.pg_url_checked(args.pg_url)
    info = c.machine(url)
    c.print_machine(info)
    from reviewqueue.domain.states import Role
    from reviewqueue.services import ingest
    from reviewqueue.services.auth import Actor

    system = Actor(0, "bench", Role.INTEGRATION, ())
    artifacts = (c.TMP / "ingest_growth" / "artifacts").resolve()
    pool = feature_pool()

    def setup() -> Any:
        c.reset_pg(url)
        c.pg_exec(url, *[f"ALTER TABLE {t} SET (autovacuum_enabled = false)" for t in TABLES])
        ctx = c.make_ctx(url, artifacts)
        c.install_version(ctx, c.trained_fraud())
        return ctx

    ctx = c.retry("setup", setup, url)
    never = c.pg_scalar(url, "SELECT count(*) FROM pg_stat_user_tables WHERE relname = ANY(%s) "
                             "AND (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL)", [list(TABLES)])
    batches: list[dict[str, Any]] = []
    started = time.perf_counter()
    for b in range(args.rows // args.batch):
        events = make_events(args.batch, f"g{b}", pool)
        t0 = time.perf_counter()
        ingest.ingest(ctx, system, "fraud", events)
        seconds = time.perf_counter() - t0
        batches.append({"stored_before": b * args.batch, "seconds": seconds})
        if b == 0 and args.stats == "stale":
            c.vacuum_analyze(url, *TABLES)
        if b % 50 == 0 or b == args.rows // args.batch - 1:
            c.console.print(f"[dim]  batch {b + 1:5d}: {seconds * 1000:7.1f} ms  ({(b + 1) * args.batch:,} stored, "
                            f"{time.perf_counter() - started:6.1f} s)[/dim]")
    ctx.engine.dispose()
    analysed = c.pg_scalar(url, "SELECT count(*) FROM pg_stat_user_tables WHERE relname = ANY(%s) "
                                "AND (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL)", [list(TABLES)])
    summary = summarise(batches)
    name = f"ingest_growth{'_' + args.label if args.label else ''}"
    results = {"machine": info, "args": vars(args) | {"out": str(args.out), "overlay": [str(o) for o in args.overlay]},
               "label": args.label or "this run", "tables_analysed_at_start": never,
               "tables_analysed_at_end": analysed, "total_seconds": time.perf_counter() - started,
               "batches": batches, "summary": summary}
    c.table(f"ingest of {args.rows:,} events in batches of {args.batch:,} (statistics: {args.stats})",
            ["", "value"], [[k, v] for k, v in summary.items()] + [["total s", results["total_seconds"]]])
    path = c.save(name, results, args.out)
    svg = path.with_suffix(".svg")
    runs = [results] + [json.loads(o.read_text()) for o in args.overlay]
    svg.write_text(chart(runs, f"Seconds per batch of {args.batch:,} events as the predictions table grows "
                               f"(PostgreSQL, statistics: {args.stats})"))
    c.console.print(f"[dim]chart → {svg}[/dim]")
    browser = shutil.which("chromium")
    if browser:  # a PNG beside the SVG, rendered by the Debian chromium the browser tests use
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={WIDTH},{HEIGHT}",
                        f"--screenshot={svg.with_suffix('.png')}", svg.resolve().as_uri()],
                       check=False, capture_output=True, timeout=120)
        c.console.print(f"[dim]chart → {svg.with_suffix('.png')}[/dim]")


def summarise(batches: list[dict[str, Any]]) -> dict[str, float]:
    """Flatness: the median batch of the first and last tenth of the run, their ratio, and the least-squares
    slope of seconds per batch per 100k stored rows."""
    secs = [b["seconds"] for b in batches]
    tenth = max(1, len(secs) // 10)
    first, last = statistics.median(secs[:tenth]), statistics.median(secs[-tenth:])
    xs = [b["stored_before"] / 100_000 for b in batches]
    slope = 0.0
    if len(xs) > 1:
        mx, my = statistics.fmean(xs), statistics.fmean(secs)
        var = sum((x - mx) ** 2 for x in xs)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, secs, strict=True)) / var if var else 0.0
    return {"batches": len(secs), "median s, first tenth": first, "median s, last tenth": last,
            "last ÷ first": last / first if first else float("nan"), "slope, s per batch per 100k rows": slope,
            "p99 s": c.pct(secs, 99), "max s": max(secs)}


COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
WIDTH, HEIGHT = 860, 420


def chart(runs: list[dict[str, Any]], title: str, width: int = WIDTH, height: int = HEIGHT) -> str:
    """An SVG line chart: x = predictions stored before the batch, y = its seconds, both axes from 0."""
    left, right, top, bottom = 70, 20, 40, 60
    pw, ph = width - left - right, height - top - bottom
    xmax = max(int(r["args"]["rows"]) for r in runs) or 1
    ymax = _nice(max(b["seconds"] for r in runs for b in r["batches"]))

    def x(v: float) -> float:
        return left + pw * v / xmax

    def y(v: float) -> float:
        return top + ph * (1 - min(v, ymax) / ymax)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="12"><rect width="100%" height="100%" fill="white"/>',
           f'<text x="{left}" y="22" font-size="14">{_esc(title)}</text>']
    for i in range(6):
        yv = ymax * i / 5
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(yv):.1f}" y2="{y(yv):.1f}" stroke="#ddd"/>'
                   f'<text x="{left - 6}" y="{y(yv) + 4:.1f}" text-anchor="end">{yv:.2f}</text>')
        xv = xmax * i / 5
        out.append(f'<text x="{x(xv):.1f}" y="{top + ph + 18}" text-anchor="middle">{xv / 1000:,.0f}k</text>')
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}" stroke="black"/>'
               f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="black"/>'
               f'<text x="{left + pw / 2}" y="{height - 18}" text-anchor="middle">predictions already stored</text>'
               f'<text transform="translate(18 {top + ph / 2}) rotate(-90)" text-anchor="middle">'
               'seconds per batch</text>')
    for i, r in enumerate(runs):
        colour = COLOURS[i % len(COLOURS)]
        points = " ".join(f"{x(b['stored_before']):.1f},{y(b['seconds']):.1f}" for b in r["batches"])
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.2" points="{points}"/>')
        label = f"{r.get('label', 'run')} — commit {r['machine']['commit'][:8]}, {r['machine']['date_utc']} UTC"
        out.append(f'<rect x="{left + 10}" y="{top + 8 + 18 * i}" width="14" height="3" fill="{colour}"/>'
                   f'<text x="{left + 30}" y="{top + 13 + 18 * i}">{_esc(label)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _nice(v: float) -> float:
    """A round upper bound for the y axis (never below 0.1 s, so noise does not look like a cliff)."""
    v = max(v, 0.1)
    for step in (0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10, 20, 25, 50, 100):
        if v <= step:
            return float(step)
    return float(int(v) + 1)


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


if __name__ == "__main__":
    main()
