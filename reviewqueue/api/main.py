"""ASGI entry point for uvicorn: `reviewqueue.api.main:app`, built from the environment's Settings."""

from reviewqueue.api.app import create_app
from reviewqueue.logs import configure_logging
from reviewqueue.services.context import bootstrap
from reviewqueue.settings import Settings

configure_logging()  # in each process uvicorn spawns too: otherwise its lines lose their fields (and level/time)
app = create_app(bootstrap(Settings()))
