"""Read a provider's ``Retry-After`` header, shared by the HTTP-speaking connectors."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = ["header", "retry_after_seconds"]


def header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """Case-insensitive lookup: SDKs hand us plain dicts whose key case depends on the server."""
    if not headers:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if str(key).lower() == wanted:
            # slack_sdk's retry machinery stores header values as one-item lists
            if isinstance(value, list | tuple):
                value = value[0] if value else None
            return None if value is None else str(value)
    return None


def retry_after_seconds(headers: Mapping[str, Any] | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait according to ``Retry-After`` (delta-seconds or an HTTP date), or None if absent/junk.

    Negative values are clamped to 0 so the outbox never schedules into the past.
    """
    raw = header(headers, "Retry-After")
    if raw is None or not raw.strip():
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())
