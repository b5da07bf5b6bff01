"""The signed-in person's API client, kept per browser session in st.session_state.

Pages get it with ``require()`` and make their one call through ``call()``, which shows the server's message
on failure instead of a traceback and signs the person out when their token stopped working.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import httpx
import streamlit as st

from reviewqueue import errors
from reviewqueue.client import Client
from reviewqueue.schemas import PrincipalOut
from reviewqueue.settings import Settings
from ui import format as fmt

__all__ = ["api_url", "call", "client", "describe", "principal", "require", "settings", "sign_in", "sign_out"]

P = ParamSpec("P")
T = TypeVar("T")
DEFAULT_API_URL = "http://127.0.0.1:8000"
CLIENT, PRINCIPAL, FLASH, SETTINGS = "rq_client", "rq_principal", "rq_flash", "rq_settings"


def settings() -> Settings:
    """The UI's REVIEWQUEUE_* configuration, read once per browser session."""
    value = st.session_state.get(SETTINGS)
    if not isinstance(value, Settings):
        value = st.session_state[SETTINGS] = Settings()
    return value


def api_url() -> str:
    return settings().api_url or DEFAULT_API_URL


def sandbox_url() -> str | None:
    return settings().sandbox_url or None


def client() -> Client | None:
    value = st.session_state.get(CLIENT)
    return value if isinstance(value, Client) else None


def principal() -> PrincipalOut | None:
    value = st.session_state.get(PRINCIPAL)
    return value if isinstance(value, PrincipalOut) else None


def sign_in(name: str, password: str) -> PrincipalOut:
    """Exchange name and password for a session token; raises the client's error on refusal."""
    fresh = Client(api_url())
    try:
        result = fresh.sign_in(name, password)
    except BaseException:
        fresh.close()
        raise
    sign_out()
    st.session_state[CLIENT] = fresh
    st.session_state[PRINCIPAL] = result.principal
    return result.principal


def sign_out(reason: str | None = None) -> None:
    """Revoke the token on the server (best effort: it may already have expired), then forget it and everything
    this session held; ``reason`` is shown on the sign-in page."""
    old = client()
    if old is not None:
        with contextlib.suppress(errors.ReviewQueueError, httpx.HTTPError):
            old.sign_out()
        old.close()
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    if reason:
        st.session_state[FLASH] = reason


def pop_flash() -> str | None:
    value = st.session_state.pop(FLASH, None)
    return value if isinstance(value, str) else None


def require() -> tuple[Client, PrincipalOut]:
    """The signed-in client and principal; stops the page when nobody is signed in."""
    c, p = client(), principal()
    if c is None or p is None:
        st.warning("Sign in first.")
        st.stop()
    return c, p


def error_text(exc: Exception) -> str:
    if isinstance(exc, errors.ReviewQueueError):
        return f"{exc.message} (field: {exc.field})" if exc.field else exc.message
    if isinstance(exc, httpx.HTTPError):
        return f"Cannot reach the API at {api_url()}: {exc}"
    return str(exc)


def attempt(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> tuple[T | None, Exception | None]:
    """Call the API: (result, None) or (None, the error). An expired or revoked token signs the person out."""
    try:
        return fn(*args, **kwargs), None
    except errors.Unauthorized as exc:
        sign_out(f"Your session ended ({exc.message}); please sign in again.")
        return None, exc
    except (errors.ReviewQueueError, httpx.HTTPError) as exc:
        return None, exc


def call(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T | None:
    """One API call from a page body: the result, or None after showing the error (st.error)."""
    result, problem = attempt(fn, *args, **kwargs)
    if problem is not None:
        if principal() is None:  # signed out by attempt(): back to the sign-in page
            st.rerun()
        st.error(fmt.md(error_text(problem)))
    return result


def describe(p: PrincipalOut) -> str:
    role = p.role.replace("_", " ")
    return f"{role} · queues: {', '.join(p.queues)}" if p.queues else role
