"""Persistence: SQLModel tables, the named SQL that matters, engine setup and Alembic migrations."""
