"""FastAPI's own cost for the dependencies the predictions route declares (context, bearer token → actor, body),
through the ASGI app in process — no sockets, no database, nothing of reviewqueue — against the same route with
the body alone. Cited in BENCHMARKS.md §11 ("what is left"). Prints µs per request, each variant twice,
alternating.

    .venv/bin/python bench/fastapi_dependencies.py
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

bearer = HTTPBearer(auto_error=False)
app = FastAPI()
BODY = b'{"x": 1}'
CALLS = 5000


class Body(BaseModel):
    x: int


async def get_ctx(request: Request) -> int:
    return 1


async def get_actor(ctx: Annotated[int, Depends(get_ctx)],
                    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> int:
    return 2


@app.post("/with-dependencies")
async def with_dependencies(body: Body, ctx: Annotated[int, Depends(get_ctx)],
                            actor: Annotated[int, Depends(get_actor)]) -> None:
    return None


@app.post("/body-only")
async def body_only(body: Body) -> None:
    return None


async def call(path: str) -> None:
    scope: dict[str, Any] = {
        "type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
        "headers": [(b"authorization", b"Bearer abc"), (b"content-type", b"application/json"),
                    (b"content-length", str(len(BODY)).encode())],
        "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1),
        "root_path": "", "asgi": {"version": "3.0"},
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    await app(scope, receive, send)


async def main() -> None:
    for path in ("/with-dependencies", "/body-only") * 2:
        for _ in range(500):  # warm-up
            await call(path)
        started = time.perf_counter()
        for _ in range(CALLS):
            await call(path)
        print(f"{path:20} {(time.perf_counter() - started) / CALLS * 1e6:7.1f} µs per request")


if __name__ == "__main__":
    asyncio.run(main())
