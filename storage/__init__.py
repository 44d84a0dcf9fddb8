"""Persistence: SQLModel tables, the engine and sessions, and Alembic migrations."""
