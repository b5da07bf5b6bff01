"""The HTTP API: a thin shell over reviewqueue.services."""

from reviewqueue.api.app import create_app

__all__ = ["create_app"]
