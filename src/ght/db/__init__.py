"""Storage: engine and sessions (engine.py), declarative base (base.py), Alembic migrations."""
