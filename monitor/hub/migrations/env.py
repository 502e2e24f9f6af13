"""Alembic environment of the hub's central schema (PostgreSQL only; its own version table, because the
hub's database is not an office's). The engine is passed in by monitor.hub.db (no alembic.ini)."""

from __future__ import annotations

from alembic import context

from monitor.hub.models import HubBase

VERSION_TABLE = "hub_alembic_version"


def run_migrations() -> None:
    engine = context.config.attributes["engine"]
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=HubBase.metadata, version_table=VERSION_TABLE,
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
