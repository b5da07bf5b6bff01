"""One exception tree for reviewqueue.

Each class's docstring is its default message. The API maps these to HTTP status codes in one table
(`reviewqueue.api.errors`); connectors translate SDK errors into the two delivery errors at their boundary.
"""

from __future__ import annotations


class ReviewQueueError(Exception):
    """reviewqueue failed."""

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        self.field = field
        super().__init__(self.message)


class ConfigurationError(ReviewQueueError):
    """The configuration is invalid."""


class ValidationFailed(ReviewQueueError):
    """The input is invalid."""


class EventNotScorable(ValidationFailed):
    """The model cannot score this event."""

    def __init__(self, message: str | None = None, *, row: int, field: str | None = None) -> None:
        # ``row``: the event's index in the rows handed to the scorer; ``field``: the path within the event
        # (features.n), which ingest prefixes with the event's own place in the request (events[3].features.n)
        super().__init__(message, field=field)
        self.row = row


class BatchTooLarge(ValidationFailed):
    """The batch is larger than the limit."""


class NotFound(ReviewQueueError):
    """Not found."""


class NotEnabled(NotFound):
    """This endpoint is not enabled in this deployment."""


class Unauthorized(ReviewQueueError):
    """A valid bearer token is required."""


class Forbidden(ReviewQueueError):
    """This token may not do that."""


class TooManyRequests(ReviewQueueError):
    """Too many attempts; wait before trying again."""

    def __init__(self, message: str | None = None, *, retry_after: int = 1, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


class Conflict(ReviewQueueError):
    """The request conflicts with the current state."""


class LeaseLost(Conflict):
    """The lease on this item expired or belongs to someone else."""


class TooLate(Conflict):
    """Too late: this decision's actions were already delivered; reverse it instead."""


class AlreadyDecided(Conflict):
    """This item was already decided."""


class AlreadyRegistered(ReviewQueueError):
    """A model or connector with this name is already registered."""


class RegistryFrozen(ReviewQueueError):
    """The registry is frozen; register models before bootstrap finishes."""


class SignatureInvalid(ReviewQueueError):
    """The signature of the inbound event is missing, invalid or stale."""


class NoChampion(ReviewQueueError):
    """The model has no champion version; register or train it first."""


class DatabaseUnavailable(ReviewQueueError):
    """The database is unavailable; try again shortly."""


class DeliveryError(ReviewQueueError):
    """The connector could not deliver the action."""


class RetryableDeliveryError(DeliveryError):
    """The provider failed in a way that may succeed on retry."""

    def __init__(self, message: str | None = None, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """The provider refused the action; retrying will not help."""


class ConnectorNotConfigured(PermanentDeliveryError):
    """The connector is not configured; set its settings to enable it."""
