"""Opening the database, and the schema version handshake with Alembic.

* SQLite gets WAL, ``synchronous=NORMAL``, foreign keys and a busy timeout on every connection; a new
  database file is created owner-only (0600) because it holds the office's outage record and chat ids.
* PostgreSQL is used as given by URL (``postgresql+psycopg://...``).
* :func:`require_current_schema` makes ``run`` refuse an old (or newer) schema with the command to fix it.

Database errors are translated here into :class:`monitor.errors.StorageError` (see :func:`translate`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from monitor.errors import SchemaOutdatedError, StorageError

MIGRATIONS = Path(__file__).with_name("migrations")


def _sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def create_db_engine(url: str, *, busy_timeout_s: float = 5.0, echo: bool = False, create: bool = True,
                     config_hint: str = "FILE") -> Engine:
    """An Engine for ``url``; SQLite files are created owner-only with the project's pragmas. With
    ``create=False`` (commands that only read) a missing SQLite file is :class:`SchemaOutdatedError` saying
    to run ``db upgrade``, and nothing is created."""
    path = _sqlite_path(url)
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if path is not None and not create and not path.exists():
        raise SchemaOutdatedError(f"there is no database at {path}; run: ektp-monitor db upgrade -c {config_hint}")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        kwargs["connect_args"] = {"timeout": busy_timeout_s}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        timeout_ms = int(busy_timeout_s * 1000)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON",
                           f"busy_timeout={timeout_ms}"):
                cur.execute("PRAGMA " + pragma)
            cur.close()
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def translate(action: str) -> Iterator[None]:
    """Turn SQLAlchemy/DB-API errors into :class:`StorageError` with a retry decision."""
    try:
        yield
    except IntegrityError as exc:
        # a broken invariant (e.g. a second open outage): a bug, never fixed by retrying
        raise StorageError(f"{action}: integrity violation: {exc.orig}", permanent=True) from exc
    except OperationalError as exc:
        msg = str(exc.orig) if exc.orig is not None else str(exc)
        low = msg.lower()
        if "locked" in low or "busy" in low:
            raise StorageError(f"{action}: database is locked ({msg})", retry_after=2.0) from exc
        if ("disk" in low and "full" in low) or "no space" in low:
            raise StorageError(f"{action}: disk full ({msg})", retry_after=30.0) from exc
        raise StorageError(f"{action}: {msg}", retry_after=5.0) from exc
    except DBAPIError as exc:
        raise StorageError(f"{action}: {exc.orig}", retry_after=5.0) from exc
    except StatementError as exc:
        if isinstance(exc.orig, ValueError | TypeError):
            raise exc.orig from exc  # our own bad value (e.g. a naive datetime): a bug, not an outage
        raise StorageError(f"{action}: {exc}", retry_after=5.0) from exc
    except SQLAlchemyError as exc:
        raise StorageError(f"{action}: {exc}", retry_after=5.0) from exc


# ------------------------------------------------------------------------------------ migrations


def alembic_config(engine: Engine, location: Path = MIGRATIONS) -> AlembicConfig:
    """The Alembic config of the migrations in ``location`` (the office's by default; the hub has its own)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(location))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision(location: Path = MIGRATIONS) -> str:
    script = ScriptDirectory(str(location))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine, version_table: str | None = None) -> str | None:
    with translate("reading schema version"), engine.connect() as conn:
        opts = {"version_table": version_table} if version_table else {}
        return MigrationContext.configure(conn, opts=opts).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Apply migrations up to ``revision``; returns (before, after) revisions."""
    before = current_revision(engine)
    with translate("applying migrations"):
        command.upgrade(alembic_config(engine), revision)
    after = current_revision(engine)
    return before, after or ""


def downgrade(engine: Engine, revision: str) -> tuple[str | None, str | None]:
    before = current_revision(engine)
    with translate("reverting migrations"):
        command.downgrade(alembic_config(engine), revision)
    return before, current_revision(engine)


def require_current_schema(engine: Engine, config_hint: str = "FILE") -> None:
    """Raise :class:`SchemaOutdatedError` unless the database is at the code's head revision."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    if current is None:
        raise SchemaOutdatedError(
            f"the database has no schema yet; run: ektp-monitor db upgrade -c {config_hint}")
    script = ScriptDirectory(str(MIGRATIONS))
    known = {rev.revision for rev in script.walk_revisions()}
    if current not in known:
        raise SchemaOutdatedError(
            f"the database schema ({current}) is newer than this ektp-monitor ({head}); upgrade the program")
    raise SchemaOutdatedError(
        f"the database schema is old ({current}, code expects {head}); run: ektp-monitor db upgrade -c {config_hint}")
