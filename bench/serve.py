"""Serve an ASGI app with uvicorn from a listening socket bound with SO_REUSEPORT and proto=IPPROTO_TCP.

Several of these on one port stand in for ``uvicorn --workers N`` without its Nagle stall: uvicorn 0.54's
multi-worker mode binds ``socket.socket(family=…)`` (proto 0), so asyncio's ``_set_nodelay`` skips every
accepted connection and a response written in two segments waits for the client's delayed ACK (~40 ms).

    python bench/serve.py reviewqueue.api.main:app 8000
"""

from __future__ import annotations

import asyncio
import socket
import sys

import uvicorn


def main() -> None:
    app, port = sys.argv[1], int(sys.argv[2])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
