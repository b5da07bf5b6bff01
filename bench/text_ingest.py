"""Texts per second through the whole ingest path (HTTP → score → store → route → enqueue) vs the bare fused
ONNX session scoring the same texts, in the same run (issue 3).

    .venv/bin/python bench/text_ingest.py --texts 1000 --batch 32
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from reviewqueue_dev.threaded_server import ThreadedServer  # noqa: E402

from reviewqueue.api import create_app  # noqa: E402
from reviewqueue.db.engine import make_engine  # noqa: E402
from reviewqueue.db.migrate import upgrade  # noqa: E402
from reviewqueue.domain.states import Role  # noqa: E402
from reviewqueue.registry import Registry  # noqa: E402
from reviewqueue.services import auth, training  # noqa: E402
from reviewqueue.services.context import AppContext  # noqa: E402
from reviewqueue.settings import Settings  # noqa: E402
from reviewqueue.text.serving import TextSession  # noqa: E402

OPENERS = ["Hi,", "Hello doctor,", "Quick question:", "Sorry to bother you,", ""]
BODIES = ["can I move my appointment to {d}?", "my prescription for {m} ran out", "I've felt low since {d}",
          "the {m} gives me headaches", "I keep thinking I can't go on after {d}", "is the clinic open on {d}?"]
DAYS = ["Monday", "Friday", "the weekend", "my surgery", "last month"]
MEDS = ["sertraline", "ibuprofen", "the inhaler", "metformin"]


def texts(n: int) -> list[str]:
    return [f"{OPENERS[i % 5]} {BODIES[i % 6].format(d=DAYS[i % 5], m=MEDS[i % 4])} (ref {i})".strip()
            for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="rq-text-ingest-"))
    registry = Registry()
    registry.load_modules(["models.self_harm"])
    registry.freeze()
    sample = texts(args.texts)
    bare_runs, path_runs = [], []
    for repeat in range(args.repeats):
        url = f"sqlite:///{folder / f'bench{repeat}.db'}"
        upgrade(url)
        ctx = AppContext(Settings(environment="test", database_url=url, artifact_dir=folder / "artifacts"),
                         make_engine(url), registry)
        if repeat == 0:
            training.train_version(ctx, registry.model("self_harm"), trigger="register")
        else:  # reuse the version built in the first repeat's database
            import shutil

            shutil.copyfile(folder / "bench0.db", folder / f"bench{repeat}.db")
            ctx = AppContext(ctx.settings, make_engine(url), registry)
        token = auth.issue_token(ctx, auth.create_principal(ctx, f"shop{repeat}", Role.INTEGRATION), "bench")
        model_dir = next((folder / "artifacts" / "self_harm").glob("[0-9]*"))
        bare = TextSession(model_dir)
        started = time.perf_counter()
        for i in range(0, len(sample), args.batch):
            bare.score(sample[i:i + args.batch])
        bare_runs.append(len(sample) / (time.perf_counter() - started))
        with ThreadedServer(create_app(ctx)) as server, httpx.Client(base_url=server.url, timeout=120) as http:
            started = time.perf_counter()
            for i in range(0, len(sample), args.batch):
                events = [{"external_id": f"r{repeat}-{j}", "features": {"text": t}}
                          for j, t in enumerate(sample[i:i + args.batch], start=i)]
                response = http.post("/v1/models/self_harm/predictions", json={"events": events},
                                     headers={"Authorization": f"Bearer {token}"})
                response.raise_for_status()
            path_runs.append(len(sample) / (time.perf_counter() - started))
        ctx.engine.dispose()
    bare_tps, path_tps = statistics.median(bare_runs), statistics.median(path_runs)
    print(f"{args.texts} texts, batches of {args.batch}, median of {args.repeats}:")
    print(f"  bare fused ONNX session   {bare_tps:8.1f} texts/s")
    print(f"  whole ingest path (HTTP)  {path_tps:8.1f} texts/s   = {path_tps / bare_tps:.2f} × bare")


if __name__ == "__main__":
    main()
