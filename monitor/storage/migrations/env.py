"""Alembic environment: the engine is passed in by monitor.storage.db (no alembic.ini, no URL here)."""

from __future__ import annotations

from alembic import context

from monitor.storage.models import Base

target_metadata = Base.metadata


def run_migrations() -> None:
    engine = context.config.attributes["engine"]
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER needs batch mode
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
