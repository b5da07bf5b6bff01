"""localstripe as a loopback-only child process, for tests and the ``reviewqueue run`` demo.

localstripe 1.15.10 differs from what its README suggests in two ways that matter here:

- ``localstripe.server.start()`` takes no host: it parses ``--port`` and binds ``::`` (every interface,
  IPv4 and IPv6). So the child below builds its own socket on 127.0.0.1 and hands it to aiohttp.
- its state goes to the hard-coded path ``/tmp/localstripe.pickle`` (TMPDIR is ignored), is re-pickled in
  full on every write, and is reloaded at start. The child turns both off: each sandbox starts empty and
  keeps its state in memory, so parallel test runs never see each other's charges.

The child binds port 0 (or the port asked for) and reports the real port on its stdout: no free-port race.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import stripe

from reviewqueue_dev.sandbox._wait import wait_until

__all__ = ["LocalStripe"]

_CHILD = r"""
import os, socket, sys
import localstripe.resources as resources
resources.Store.try_load_from_disk = lambda self: None  # see reviewqueue_dev/sandbox/localstripe.py
resources.Store.dump_to_disk = lambda self: None
from aiohttp import web
from localstripe.server import app
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.bind(("127.0.0.1", int(sys.argv[1])))
sock.listen(128)
sys.stdout.write("%d\n" % sock.getsockname()[1])
sys.stdout.flush()
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # nothing else may block on the pipe the parent stops reading
web.run_app(app, sock=sock, print=None, access_log=None, shutdown_timeout=1.0)
"""


class LocalStripe:
    """A private localstripe on ``127.0.0.1``. Use as a context manager, or call ``start()``/``stop()``.

    ``url`` and ``api_key`` are what ``Settings(stripe_api_base=..., stripe_api_key=...)`` needs
    (``settings_fields()`` returns exactly that).
    """

    api_key = "sk_test_reviewqueue_sandbox"

    def __init__(self, *, port: int = 0, startup_timeout: float = 30.0) -> None:
        self._port = port
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._tmpdir: Path | None = None
        self._client: stripe.StripeClient | None = None
        self._http: stripe.HTTPXClient | None = None
        self.url = ""

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> LocalStripe:
        if self._process is not None:
            return self
        self._tmpdir = Path(tempfile.mkdtemp(prefix="reviewqueue-localstripe-"))
        log = (self._tmpdir / "localstripe.log").open("wb")
        env = {**os.environ, "TMPDIR": str(self._tmpdir), "PYTHONUNBUFFERED": "1"}
        self._process = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(self._port)],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=self._tmpdir,
        )
        log.close()  # the child holds its own descriptor
        try:
            port = self._read_port()
            self.url = f"http://127.0.0.1:{port}"
            wait_until(self._answers, timeout=self._startup_timeout, what="localstripe to answer")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()  # aiohttp handles SIGTERM with a graceful shutdown
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()
        if self._http is not None:
            self._http.close()
        self._client = self._http = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> LocalStripe:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- helpers for tests and the demo ------------------------------------------------------------------

    def settings_fields(self) -> dict[str, str]:
        """Keyword arguments for ``Settings(...)`` that point the stripe_refund connector here."""
        return {"stripe_api_key": self.api_key, "stripe_api_base": self.url}

    @property
    def client(self) -> stripe.StripeClient:
        """A stripe-python client bound to this localstripe (no retries)."""
        if not self.url:
            raise RuntimeError("LocalStripe is not started")
        if self._client is None:
            self._http = stripe.HTTPXClient(timeout=10, allow_sync_methods=True)
            self._client = stripe.StripeClient(
                self.api_key, base_addresses={"api": self.url}, max_network_retries=0, http_client=self._http
            )
        return self._client

    def create_charge(
        self,
        amount_cents: int,
        currency: str = "usd",
        *,
        payment_method: str = "pm_card_visa",
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Create a captured charge and return its id.

        localstripe only charges a ``pm_``/``src_``/``card_`` source (or a customer's default one); it knows
        Stripe's canonical test methods such as ``pm_card_visa``, but not tokens like ``tok_visa``.
        """
        params: dict[str, Any] = {"amount": amount_cents, "currency": currency, "source": payment_method}
        if metadata:
            params["metadata"] = metadata
        charge = self.client.v1.charges.create(params=params)  # type: ignore[arg-type]
        return str(charge.id)

    def refunds_for(self, charge_id: str) -> list[dict[str, Any]]:
        """Every refund of the charge as plain dicts, newest first."""
        page = self.client.v1.refunds.list(params={"charge": charge_id, "limit": 100})
        return [refund.to_dict() for refund in page.auto_paging_iter()]

    def reset(self) -> None:
        """Forget every object (localstripe's ``DELETE /_config/data``)."""
        httpx.delete(f"{self.url}/_config/data", timeout=5).raise_for_status()

    # -- internals ---------------------------------------------------------------------------------------

    def _read_port(self) -> int:
        process = self._process
        assert process is not None and process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], self._startup_timeout)
        line = process.stdout.readline() if ready else b""
        if not line.strip().isdigit():
            raise RuntimeError(f"localstripe did not start: {self._log_tail()}")
        return int(line)

    def _answers(self) -> bool:
        process = self._process
        if process is None or process.poll() is not None:
            raise RuntimeError(f"localstripe exited: {self._log_tail()}")
        try:
            response = httpx.get(
                f"{self.url}/v1/charges", params={"limit": 1}, auth=(self.api_key, ""), timeout=2
            )
        except httpx.TransportError:
            return False
        return response.status_code == 200

    def _log_tail(self) -> str:
        if self._tmpdir is None:
            return ""
        try:
            return (self._tmpdir / "localstripe.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""
