"""The national hub: every office's record in one PostgreSQL (issue 15).

Offices ship their feed (``monitor/storage/feed.py``) with the shipper (``monitor/daemon/shipper.py``);
the hub receives it here:

* ``config.py`` — HUB.yaml (listen, TLS, database, offices with their sites and token hashes, the
  Ministry's audience, schedules);
* ``tokens.py`` — office tokens (shown once, stored hashed);
* ``models.py``, ``migrations/``, ``db.py`` — the central schema (its own Alembic environment), the ingest
  role and row-level security;
* ``entities.py`` — how an office's snapshot maps to a central row and back;
* ``protocol.py`` — the ingest request and reply, schema versions, refusals;
* ``ingest.py`` — the stateless ingest (cursor, newer version wins, status, answers);
* ``app.py``, ``serve.py`` — the ASGI app (Starlette) and ``hub serve`` (uvicorn plus background parts);
* ``dump.py`` — the central record read back (``hub outages``, the canonical dump).

Dependency rule: the hub imports storage, reports and the core, never ``checks``, ``alerts`` or
``monitor.sandbox`` (``tests/hub/test_layout.py``).
"""
