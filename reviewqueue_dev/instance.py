"""One `reviewqueue run` at a time: the run lock under the data dir, free ports checked before anything is
touched, and proof that a port answering belongs to this run's child (not to some other process).

The lock is ``<data dir>/run.pid``: an ``flock`` held for the supervisor's lifetime, its content the
supervisor's PID and URLs. The kernel drops the lock when the process dies, so a file left by a killed run
is stale and taken over; a held lock names a live supervisor (its PID is checked with ``kill(pid, 0)``).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
from pathlib import Path
from typing import IO


class StartRefused(Exception):
    """`reviewqueue run` must not start; the message is the one line to print."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """The data dir's run lock, held from acquire() until release() (or the process's death)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "run.pid"
        self._file: IO[str] | None = None

    def acquire(self, api_url: str, ui_url: str) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                handle.close()
                raise
            handle.seek(0)
            holder = _parse(handle.read())
            handle.close()
            pid = holder.get("pid")
            if isinstance(pid, int) and not _alive(pid):  # the lock outlived its holder (a child kept it open)
                pid = None
            raise StartRefused(f"reviewqueue run is already running (pid {pid or 'unknown'}, "
                               f"API {holder.get('api_url', '?')}); stop it first") from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "api_url": api_url, "ui_url": ui_url}) + "\n")
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the flock; the file stays (the next run takes it over)
            self._file = None


def _parse(text: str) -> dict[str, object]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def check_ports_free(ports: dict[str, int]) -> None:
    """Bind each (setting name → port) on loopback like uvicorn and Tornado do; a listener there refuses the start."""
    for setting, port in ports.items():
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a TIME_WAIT leftover is not "in use"
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                raise StartRefused(f"port {port} is in use by another program; "
                                   f"set {setting}=… or stop it") from None


def _listening_inodes(port: int) -> set[str] | None:
    """Inodes of the sockets listening on ``port`` (Linux /proc); None where /proc cannot tell."""
    inodes: set[str] = set()
    found_table = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        found_table = True
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes if found_table else None


def listens_on(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds the socket listening on ``port`` (True where the OS cannot tell)."""
    inodes = _listening_inodes(port)
    if inodes is None:
        return True
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        fds = list(fd_dir.iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False
