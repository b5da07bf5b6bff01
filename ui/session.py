"""The signed-in person's API client, kept per browser session in st.session_state.

Pages get it with ``require()`` and make their one call through ``call()``, which shows the server's message
on failure instead of a traceback and signs the person out when their token stopped working.

Staying signed in across a reload: Streamlit starts a new session on every page load, so the session token is
also kept in a cookie (``rq_session``: Path=/, SameSite=Strict, Max-Age = the token's lifetime, Secure over
HTTPS), written by a script on the page after sign-in and read back by the next session from
``st.context.cookies`` (the cookies of the page's initial request). The token never goes into the URL. Signing
out revokes the token on the server and deletes the cookie; a cookie whose token expired or was revoked lands
on the sign-in page with a message. Streamlit cannot set HttpOnly cookies (no response headers of ours), so a
script on the page could read it: SECURITY.md weighs that.

Deep links (``/?item=ID``, e.g. Slack's "Open in reviewqueue") are remembered across the sign-in and taken by
the triage page (``take_deep_link``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import httpx
import streamlit as st

from reviewqueue import errors
from reviewqueue.client import Client
from reviewqueue.schemas import PrincipalOut
from reviewqueue.settings import Settings
from ui import format as fmt

__all__ = ["api_url", "call", "client", "deep_link", "describe", "principal", "require", "restore", "settings",
           "sign_in", "sign_out", "take_deep_link"]

P = ParamSpec("P")
T = TypeVar("T")
DEFAULT_API_URL = "http://127.0.0.1:8000"
CLIENT, PRINCIPAL, FLASH, SETTINGS = "rq_client", "rq_principal", "rq_flash", "rq_settings"
COOKIE = "rq_session"
# the cookie to write on the next run ("set" token / "clear"); the cookie token this session already tried (the
# initial request's cookies do not change after sign-out); a deep link's item id waiting for the triage page
COOKIE_WRITE, COOKIE_TRIED, DEEP_LINK = "rq_cookie_write", "rq_cookie_tried", "rq_deep_link"
KEPT_ON_SIGN_OUT = (COOKIE_WRITE, COOKIE_TRIED, DEEP_LINK)


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
    st.session_state[COOKIE_WRITE] = ("set", result.token)  # stay signed in across a reload
    st.session_state[COOKIE_TRIED] = result.token
    return result.principal


def sign_out(reason: str | None = None) -> None:
    """Revoke the token on the server (best effort: it may already have expired), then forget it and everything
    this session held; ``reason`` is shown on the sign-in page."""
    old = client()
    if old is not None:
        with contextlib.suppress(errors.ReviewQueueError, httpx.HTTPError):
            old.sign_out()
        old.close()
        st.session_state[COOKIE_WRITE] = ("clear", "")
    for key in list(st.session_state.keys()):
        if key not in KEPT_ON_SIGN_OUT:
            del st.session_state[key]
    if reason:
        st.session_state[FLASH] = reason


def restore() -> None:
    """Once per run, before the pages are chosen: write a pending cookie change, remember a deep link, and sign
    in again from the session cookie of an earlier page load (its token checked with ``/v1/me``)."""
    _write_cookie()
    _remember_deep_link()
    if principal() is not None:
        return
    token = st.context.cookies.get(COOKIE)
    if not isinstance(token, str) or not token or st.session_state.get(COOKIE_TRIED) == token:
        return
    st.session_state[COOKIE_TRIED] = token
    saved = Client(api_url(), token=token)
    try:
        me = saved.me()
    except errors.Unauthorized as exc:
        saved.close()
        st.session_state[COOKIE_WRITE] = ("clear", "")
        st.session_state[FLASH] = f"Your saved session ended ({exc.message}); please sign in again."
        _write_cookie()
        return
    except (errors.ReviewQueueError, httpx.HTTPError) as exc:
        saved.close()
        st.session_state[FLASH] = f"Could not resume your session: {error_text(exc)}"
        return
    st.session_state[CLIENT] = saved
    st.session_state[PRINCIPAL] = me


def _write_cookie() -> None:
    """Set or delete the session cookie in the browser: a script in the page (Streamlit has no response header
    of ours to carry Set-Cookie). The value is a token of URL-safe characters, JSON-quoted into the script."""
    pending = st.session_state.pop(COOKIE_WRITE, None)
    if not pending:
        return
    op, token = pending
    age = settings().session_hours * 3600 if op == "set" else 0
    value = json.dumps(f"{COOKIE}={token}; Path=/; Max-Age={age}; SameSite=Strict")
    with st.sidebar:
        st.html(f"<script>document.cookie = {value} + (location.protocol === 'https:' ? '; Secure' : '');</script>",
                unsafe_allow_javascript=True, width="content")


def _remember_deep_link() -> None:
    """``?item=ID`` in the address: kept until the triage page opens it (across the sign-in)."""
    raw = st.query_params.get("item")
    if raw is None:
        return
    if raw.isdigit() and 0 < int(raw) < 2**63:
        st.session_state[DEEP_LINK] = int(raw)
    else:
        st.session_state[FLASH] = f"The link's item id {raw[:40]!r} is not an item number."
        del st.query_params["item"]


def deep_link() -> int | None:
    """The item a followed link asks for, until the triage page takes it."""
    value = st.session_state.get(DEEP_LINK)
    return value if isinstance(value, int) else None


def take_deep_link() -> int | None:
    """The deep link's item id, once: it leaves the address too, so a reload does not open it again."""
    value = deep_link()
    st.session_state.pop(DEEP_LINK, None)
    if "item" in st.query_params:
        del st.query_params["item"]
    return value


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
