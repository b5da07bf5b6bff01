"""Run every benchmark in sequence (one at a time), each writing bench/results/<name>.json, then summarise targets.

    .venv/bin/python bench/run_all.py            # small defaults (a few minutes): what `make bench` runs
    .venv/bin/python bench/run_all.py --full     # the sizes BENCHMARKS.md reports (1M rows; much longer)
    .venv/bin/python bench/run_all.py --only claim,outbox
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

import common as c

SMALL: dict[str, list[str]] = {
    "claim": ["--sizes", "10000,100000", "--repeats", "2", "--claims", "2000"],
    "claim_http": ["--items", "20000", "--seconds", "5", "--repeats", "2"],
    "ingest": ["--repeats", "2"],
    "predict_http": ["--seconds", "5", "--repeats", "2"],
    "outbox": ["--actions", "8000", "--seconds", "4", "--repeats", "2"],
    "retrain": ["--labels", "20000", "--repeats", "1"],
    "list_views": ["--items", "100000", "--repeats", "1", "--calls", "10", "--imports", "2"],
}
FULL: dict[str, list[str]] = {
    "claim": ["--sizes", "10000,100000,1000000"],
    "claim_http": ["--workers", "1,2"],
    "ingest": ["--diagnostics"],
    "predict_http": [],
    "outbox": ["--diagnostics"],
    "retrain": [],
    "list_views": [],
}


def target_lines(name: str, data: dict[str, Any]) -> list[tuple[str, Any]]:
    """Each benchmark's targets as (label, met) pairs for the summary."""
    t = data.get("targets", {})
    return [(f"{name}: {k}", v) for k, v in t.items() if isinstance(v, bool)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--full", action="store_true", help="the full sizes (1M rows) instead of the small defaults")
    p.add_argument("--only", default="", help="comma-separated benchmark names")
    p.add_argument("--pg-url", default=None, help="passed on to every benchmark")
    args = p.parse_args()
    plan = FULL if args.full else SMALL
    names = [n for n in plan if not args.only or n in args.only.split(",")]
    status: dict[str, Any] = {}
    for name in names:
        argv = [sys.executable, str(c.ROOT / "bench" / f"{name}.py"), *plan[name]]
        if args.pg_url:
            argv += ["--pg-url", args.pg_url]
        c.console.rule(f"[bold]{name}[/bold]  {' '.join(plan[name])}")
        t0 = time.perf_counter()
        rc = subprocess.call(argv, cwd=c.ROOT)
        status[name] = {"rc": rc, "seconds": time.perf_counter() - t0}
    rows = []
    summary_targets = []
    for name in names:
        path = c.RESULTS / f"{name}.json"
        data = json.loads(path.read_text()) if path.exists() and status[name]["rc"] == 0 else {}
        rows.append([name, "ok" if status[name]["rc"] == 0 else f"[red]failed ({status[name]['rc']})[/red]",
                     status[name]["seconds"], str(path.relative_to(c.ROOT)) if data else "–"])
        summary_targets += target_lines(name, data)
    c.table("benchmarks", ["benchmark", "status", "wall s", "results"], rows)
    c.table("targets", ["target", "met"], [[k, c.verdict(v)] for k, v in summary_targets])
    c.save("run_all", {"full": args.full, "status": status, "targets": dict(summary_targets)})
    return 0 if all(s["rc"] == 0 for s in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
