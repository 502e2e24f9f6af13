"""The hub's database: engine, migrations (own Alembic environment), the ingest role, office sync.

**Row-level security** is the second wall behind the ingest's own ownership check. The migration enables
RLS on every hub table the ingest writes, with one policy per table for every role that is not the
tables' owner: a row may be read, written or deleted only when its ``site_code`` is owned
(``hub_site_owners``) by the office named in the transaction's ``ektp.office`` setting (office tables:
when its ``office_id`` is that office). The ingest runs each request as :func:`ingest_transaction`:
``SET LOCAL ROLE <ingest_role>`` (a NOLOGIN role with only the grants it needs, made by
:func:`ensure_ingest_role`) and ``set_config('ektp.office', …, true)``. The owner (migrations, ``hub
outages``, the reports) is not subject to RLS (it is not FORCEd). :func:`check_ingest_role` refuses to
serve when the ingest role would bypass RLS (a superuser, or BYPASSRLS).

RLS guards against a bug in the ingest (a write to a site the request's office does not own): the
office setting is chosen by the ingest itself, so it is not a defence against a compromised hub process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, delete, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import URL

from monitor.errors import SchemaOutdatedError, StorageError
from monitor.hub.config import HubConfig
from monitor.hub.models import OFFICE_TABLES, HubBase, HubOffice, HubSiteOwner, table_of
from monitor.storage import db as storage_db
from monitor.storage.db import translate

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "hub_alembic_version"
OFFICE_SETTING = "ektp.office"
READ_ONLY_FOR_INGEST = frozenset({"hub_offices", "hub_site_owners"})
"""Tables the ingest role may read but never write (the access rules come from HUB.yaml)."""


def create_hub_engine(url: URL | str, *, pool_size: int = 5) -> Engine:
    """An engine on the central PostgreSQL (psycopg 3)."""
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size,
                         pool_recycle=1800, pool_timeout=10)


def engine_for(config: HubConfig) -> Engine:
    return create_hub_engine(config.database.sqlalchemy_url(), pool_size=config.database.pool_size)


# ------------------------------------------------------------------------------------------ migrations


def head_revision() -> str:
    return storage_db.head_revision(MIGRATIONS)


def current_revision(engine: Engine) -> str | None:
    return storage_db.current_revision(engine, VERSION_TABLE)


def upgrade(engine: Engine, ingest_role: str, revision: str = "head") -> tuple[str | None, str]:
    """Apply the hub's migrations and (re)grant the ingest role; returns (before, after)."""
    before = current_revision(engine)
    with translate("applying the hub migrations"):
        command.upgrade(storage_db.alembic_config(engine, MIGRATIONS), revision)
    ensure_ingest_role(engine, ingest_role)
    return before, current_revision(engine) or ""


def downgrade(engine: Engine, revision: str) -> tuple[str | None, str | None]:
    before = current_revision(engine)
    with translate("reverting the hub migrations"):
        command.downgrade(storage_db.alembic_config(engine, MIGRATIONS), revision)
    return before, current_revision(engine)


def require_current_schema(engine: Engine, config_hint: str = "HUB.yaml") -> None:
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    if current is None:
        raise SchemaOutdatedError(f"the hub database has no schema yet; run: ektp-monitor hub db upgrade -c "
                                  f"{config_hint}")
    known = {r.revision for r in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}
    if current not in known:
        raise SchemaOutdatedError(f"the hub database schema ({current}) is newer than this ektp-monitor ({head})")
    raise SchemaOutdatedError(f"the hub database schema is old ({current}, code expects {head}); run: "
                              f"ektp-monitor hub db upgrade -c {config_hint}")


# ------------------------------------------------------------------------------------------ the ingest role


def _quote(conn: Connection, name: str) -> str:
    return str(conn.dialect.identifier_preparer.quote_identifier(name))


def ensure_ingest_role(engine: Engine, role: str) -> None:
    """Create the NOLOGIN ingest role if it is missing, let the connecting user switch to it, and grant it
    exactly what the ingest needs on the hub's tables (idempotent; run by ``hub db upgrade``)."""
    with translate("preparing the ingest role"), engine.begin() as conn:
        q = _quote(conn, role)
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
        if exists is None:
            try:
                with conn.begin_nested():
                    conn.execute(text(f"CREATE ROLE {q} NOLOGIN NOSUPERUSER NOBYPASSRLS"))
            except Exception as exc:
                raise StorageError(
                    f"cannot create the ingest role {role!r} ({exc.__class__.__name__}); as a PostgreSQL "
                    f"superuser run: CREATE ROLE {role} NOLOGIN; GRANT {role} TO <the hub's database user>",
                    permanent=True) from exc
        member = conn.execute(text("SELECT pg_has_role(current_user, :r, 'MEMBER')"), {"r": role}).scalar()
        if not member:
            conn.execute(text(f"GRANT {q} TO CURRENT_USER"))
        for table in HubBase.metadata.sorted_tables:
            t = _quote(conn, table.name)
            conn.execute(text(f"REVOKE ALL ON {t} FROM {q}"))
            grants = "SELECT" if table.name in READ_ONLY_FOR_INGEST else "SELECT, INSERT, UPDATE, DELETE"
            conn.execute(text(f"GRANT {grants} ON {t} TO {q}"))
        conn.execute(text(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {q}"))


def check_ingest_role(engine: Engine, role: str) -> None:
    """Refuse a role that row-level security would not apply to (superuser or BYPASSRLS)."""
    with translate("checking the ingest role"), engine.connect() as conn:
        row = conn.execute(text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :r"),
                           {"r": role}).first()
        if row is None:
            raise StorageError(f"the ingest role {role!r} does not exist; run: ektp-monitor hub db upgrade",
                               permanent=True)
        if row[0] or row[1]:
            raise StorageError(f"the ingest role {role!r} is a superuser or has BYPASSRLS: row-level security "
                               "would not apply; use a plain NOLOGIN role", permanent=True)


@contextmanager
def ingest_transaction(engine: Engine, role: str, office_id: str) -> Iterator[Connection]:
    """One transaction as the ingest role, for ``office_id`` (row-level security applies)."""
    with engine.begin() as conn:
        conn.execute(text(f"SET LOCAL ROLE {_quote(conn, role)}"))
        conn.execute(select(func.set_config(OFFICE_SETTING, office_id, True)))
        yield conn


# ------------------------------------------------------------------------------------------ offices


def sync_offices(engine: Engine, config: HubConfig, now: datetime) -> None:
    """Make ``hub_offices`` and ``hub_site_owners`` say what HUB.yaml says (run at ``hub serve`` start and
    on reload). A site moved to another office changes owner; a site no longer listed has none."""
    with translate("syncing the offices from HUB.yaml"), engine.begin() as conn:
        offices = [{"office_id": o.id, "name": o.name, "updated_at": now} for o in config.offices]
        if offices:
            stmt = pg_insert(table_of(HubOffice)).values(offices)
            conn.execute(stmt.on_conflict_do_update(index_elements=["office_id"],
                                                    set_={"name": stmt.excluded.name,
                                                          "updated_at": stmt.excluded.updated_at}))
        owners = [{"site_code": code, "office_id": o.id} for o in config.offices for code in o.sites]
        conn.execute(delete(table_of(HubSiteOwner)).where(
            HubSiteOwner.site_code.not_in([r["site_code"] for r in owners]) if owners else text("true")))
        if owners:
            stmt = pg_insert(table_of(HubSiteOwner)).values(owners)
            conn.execute(stmt.on_conflict_do_update(index_elements=["site_code"],
                                                    set_={"office_id": stmt.excluded.office_id}))


def office_ids(engine: Engine) -> list[str]:
    with translate("reading offices"), engine.connect() as conn:
        return list(conn.execute(select(HubOffice.office_id).order_by(HubOffice.office_id)).scalars())


__all__ = ["MIGRATIONS", "OFFICE_SETTING", "OFFICE_TABLES", "VERSION_TABLE", "check_ingest_role", "create_hub_engine",
           "current_revision", "downgrade", "engine_for", "ensure_ingest_role", "head_revision", "ingest_transaction",
           "office_ids", "require_current_schema", "sync_offices", "upgrade"]
