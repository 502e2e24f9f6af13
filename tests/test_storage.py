"""Storage on real databases (SQLite files, and PostgreSQL when available): migrations, the schema
invariants, time handling, inventory sync."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select
from sqlalchemy.exc import IntegrityError

from monitor.app import load_config
from monitor.domain import DeviceRef
from monitor.errors import SchemaOutdatedError
from monitor.storage import Database
from monitor.storage import db as dbmod
from monitor.storage.inventory import sync_inventory
from monitor.storage.models import Base, DeviceRow, OutageRow

from .conftest import MINIMAL

T0 = datetime(2026, 11, 23, 1, 2, 3, tzinfo=UTC)


def test_upgrade_downgrade_upgrade(engine: Engine) -> None:
    assert dbmod.current_revision(engine) is None
    before, after = dbmod.upgrade(engine)
    assert (before, after) == (None, dbmod.head_revision())
    tables = set(inspect(engine).get_table_names())
    assert {"outages", "incidents", "events", "outbox", "delivery_attempts", "monitor_gaps", "evidence",
            "acknowledgements", "report_runs", "maintenance", "check_samples", "device_states"} <= tables
    dbmod.downgrade(engine, "base")
    assert dbmod.current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    dbmod.upgrade(engine)
    assert dbmod.current_revision(engine) == dbmod.head_revision()


def test_migrations_match_the_models(engine: Engine) -> None:
    dbmod.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_old_schema_is_refused_with_the_command_to_run(engine: Engine) -> None:
    with pytest.raises(SchemaOutdatedError, match=r"ektp-monitor db upgrade -c cfg\.yaml"):
        dbmod.require_current_schema(engine, "cfg.yaml")
    dbmod.upgrade(engine)
    dbmod.require_current_schema(engine, "cfg.yaml")


def _db_with_inventory(engine: Engine, tmp_path: Path) -> tuple[Database, dict[DeviceRef, int]]:
    dbmod.upgrade(engine)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(MINIMAL)
    settings = load_config(cfg, environ={})
    db = Database(engine)
    mapping = db.call(lambda s: sync_inventory(s, settings, T0))
    return db, mapping


def test_times_round_trip_as_aware_utc(engine: Engine, tmp_path: Path) -> None:
    db, mapping = _db_with_inventory(engine, tmp_path)
    dev = mapping[DeviceRef("test", "srv")]
    wita = datetime(2026, 11, 23, 9, 2, 3, tzinfo=UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("Asia/Makassar"))
    db.call(lambda s: s.add(OutageRow(device_id=dev, started_at=wita, status="down", updated_at=T0)))
    row = db.call(lambda s: s.scalars(select(OutageRow)).one())
    assert row.started_at == datetime(2026, 11, 23, 9, 2, 3, tzinfo=UTC)
    assert row.started_at.tzinfo is UTC
    with pytest.raises(ValueError, match="naive"):
        db.call(lambda s: s.add(OutageRow(device_id=dev, started_at=datetime(2026, 1, 1), status="down",
                                          updated_at=T0)))


def test_at_most_one_open_outage_per_device(engine: Engine, tmp_path: Path) -> None:
    db, mapping = _db_with_inventory(engine, tmp_path)
    dev = mapping[DeviceRef("test", "srv")]
    db.call(lambda s: s.add(OutageRow(device_id=dev, started_at=T0, status="down", updated_at=T0)))
    # a closed one beside it is fine
    db.call(lambda s: s.add(OutageRow(device_id=dev, started_at=T0 - timedelta(hours=2),
                                      ended_at=T0 - timedelta(hours=1), status="down", updated_at=T0)))
    with pytest.raises(Exception) as info:
        db.call(lambda s: s.add(OutageRow(device_id=dev, started_at=T0 + timedelta(minutes=1),
                                          status="down", updated_at=T0)))
    assert isinstance(info.value.__cause__, IntegrityError)


def test_inventory_sync_keeps_removed_devices_inactive(engine: Engine, tmp_path: Path) -> None:
    db, mapping = _db_with_inventory(engine, tmp_path)
    assert set(mapping) == {DeviceRef("test", "router"), DeviceRef("test", "srv")}
    cfg = tmp_path / "c2.yaml"
    cfg.write_text(MINIMAL[:MINIMAL.index("      - {id: srv")])
    settings = load_config(cfg, environ={})
    mapping2 = db.call(lambda s: sync_inventory(s, settings, T0 + timedelta(hours=1)))
    assert mapping2 == {DeviceRef("test", "router"): mapping[DeviceRef("test", "router")]}
    rows = db.call(lambda s: {r.key: r.active for r in s.scalars(select(DeviceRow))})
    assert rows == {"router": True, "srv": False}


async def test_database_run_uses_its_own_thread(engine: Engine, tmp_path: Path) -> None:
    import threading
    db, _ = _db_with_inventory(engine, tmp_path)
    name = await db.run(lambda s: threading.current_thread().name)
    assert name.startswith("db") and name != threading.current_thread().name
    db.close()


def test_new_sqlite_file_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "new.db"
    eng = dbmod.create_db_engine(f"sqlite:///{path}")
    dbmod.upgrade(eng)
    eng.dispose()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
