"""ASGI entry point for uvicorn: `reviewqueue.api.main:app`, built from the environment's Settings."""

from reviewqueue.api.app import create_app
from reviewqueue.services.context import bootstrap
from reviewqueue.settings import Settings

app = create_app(bootstrap(Settings()))
