"""Local stand-ins for the providers the connectors talk to, used by tests and by ``reviewqueue run``.

- ``LocalStripe``: localstripe in a child process on 127.0.0.1 with private, in-memory state;
- ``Sink``: Slack's ``chat.postMessage`` and a Standard Webhooks receiver, in a thread on 127.0.0.1.

Both start with ``start()`` or ``with``, wait for readiness with a deadline, and stop cleanly.
"""

from __future__ import annotations

from reviewqueue_dev.sandbox._wait import wait_until
from reviewqueue_dev.sandbox.localstripe import LocalStripe
from reviewqueue_dev.sandbox.sink import DEFAULT_SLACK_TOKEN, DEFAULT_WEBHOOK_SECRET, Sink

__all__ = ["DEFAULT_SLACK_TOKEN", "DEFAULT_WEBHOOK_SECRET", "LocalStripe", "Sink", "wait_until"]
