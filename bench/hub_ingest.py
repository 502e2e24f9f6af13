"""The hub's ingest: how fast a backlog drains into PostgreSQL, and the hub's memory meanwhile.

``python bench/run.py hub_ingest [--quick]`` (or ``python -m bench.hub_ingest``). A throwaway PostgreSQL
cluster (``scripts/pg-tmp``), ``ektp-monitor hub serve`` over HTTPS with a throwaway CA, and N offices each
holding a backlog (a record of outages with their incidents and evidence, written through the real feed
hooks into a SQLite file, then given to every office under its own site code). The offices drain at once,
in parallel, in batches of 1,000 records, gzip — as their shippers would after a long cut. Reported: records
per second into the central tables, the wall time, and the hub process's peak RSS. No peer: the figure is
for the national benchmark of issue 15 (part B) to build on.

Network safety: loopback only. The cluster and the hub are stopped by the PIDs started here.
"""

from __future__ import annotations

import argparse
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import ROOT, Outcome


def _template(workdir: Path, outages: int) -> list[dict[str, Any]]:
    """One office's feed: a site, 20 devices, ``outages`` outages in incidents, two facts each."""
    from sqlalchemy import select

    from monitor.storage import Database
    from monitor.storage import db as dbmod
    from monitor.storage.models import DeviceRow, EvidenceRow, FeedRow, IncidentRow, OutageRow, SiteRow
    engine = dbmod.create_db_engine(f"sqlite:///{workdir / 'template.db'}")
    dbmod.upgrade(engine)
    db = Database(engine)
    t0 = datetime(2026, 11, 23, tzinfo=UTC)

    def write(s: Any) -> None:
        s.add(SiteRow(id="kantor", name="Disdukcapil (bench)", timezone="Asia/Jakarta", code="62.12",
                      province="Kalimantan Tengah", active=True, updated_at=t0))
        s.flush()
        devices = [DeviceRow(site_id="kantor", key=f"d{i}", name=f"Perangkat {i}", kind="recording_server",
                             installed="2019-01", funding="apbn", active=True, updated_at=t0) for i in range(20)]
        s.add_all(devices)
        s.flush()
        for n in range(outages):
            start = t0 + timedelta(minutes=17 * n)
            inc = IncidentRow(site_id="kantor", started_at=start, ended_at=start + timedelta(minutes=9), cause="power",
                              worst_status="down", title="Listrik padam", evidence=[], escalation={}, updated_at=start)
            s.add(inc)
            s.flush()
            dev = devices[n % 20]
            s.add(OutageRow(device_id=dev.id, incident_id=inc.id, started_at=start, confirmed_at=start,
                            ended_at=start + timedelta(minutes=9), status="down", cause="power", reason="ping: timeout",
                            evidence=[{"time": start.isoformat(), "kind": "on_battery", "device": "ups"}], gaps=[],
                            timeline=[{"at": start.isoformat(), "status": "down"}], updated_at=start))
            for k in ("on_battery", "on_mains"):
                s.add(EvidenceRow(site_id="kantor", device_id=dev.id, time=start, kind=k, source="poll",
                                  text=k.replace("_", " "), values={"battery.charge": 90}))
    db.call(write)
    rows = db.call(lambda s: [{"seq": r.seq, "entity": r.entity, "local_id": r.local_id, "version": r.version,
                               "schema_version": r.schema_version, "site_code": r.site_code, "snapshot": r.snapshot}
                              for r in s.scalars(select(FeedRow).order_by(FeedRow.seq))])
    db.close()
    return rows


def _for_office(rows: list[dict[str, Any]], code: str) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        snap = {**r["snapshot"], **({"code": code} if r["entity"] == "site" else {})}
        out.append({**r, "site_code": code, "snapshot": snap})
    return out


def run(opts: argparse.Namespace) -> Outcome:
    import httpx
    import psutil
    import trustme
    from sqlalchemy import create_engine, text

    from monitor.hub.protocol import INGEST_PATH, encode
    from monitor.hub.tokens import hash_token, new_token
    from monitor.sandbox import free_tcp_port

    quick = getattr(opts, "quick", False)
    offices, outages, parallel = (20, 50, 4) if quick else (100, 200, 8)
    out = Outcome("hub_ingest")
    work = Path(tempfile.mkdtemp(prefix="ektp-bench-hub-"))
    pg_tmp = str(ROOT / "scripts" / "pg-tmp")
    cluster = subprocess.run([pg_tmp, "start"], capture_output=True, text=True, check=True).stdout.strip()
    hub: subprocess.Popen[bytes] | None = None
    try:
        base = (Path(cluster) / "url").read_text().strip()
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('CREATE DATABASE "bench_hub"'))
        admin.dispose()
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1")
        ca.cert_pem.write_to_path(str(work / "ca.pem"))
        cert.private_key_pem.write_to_path(str(work / "hub.key"))
        cert.cert_chain_pems[0].write_to_path(str(work / "hub.crt"))
        tokens = {f"o{i:03d}": new_token() for i in range(offices)}
        codes = {o: f"{60 + i // 99 + 1}.{i % 99 + 1:02d}" for i, o in enumerate(tokens)}
        port = free_tcp_port()
        cfg = work / "hub.yaml"
        cfg.write_text(
            f'listen: "127.0.0.1:{port}"\ntls: {{cert_file: {work / "hub.crt"}, key_file: {work / "hub.key"}}}\n'
            f'database: {{url: "{base.rsplit("/", 1)[0]}/bench_hub", pool_size: {parallel}}}\nlog_level: WARNING\n'
            "offices:\n" + "".join(f'  - {{id: {o}, name: "{o}", sites: ["{codes[o]}"], tokens: ["{hash_token(t)}"]}}\n'
                                   for o, t in tokens.items()), encoding="utf-8")
        exe = str(Path(sys.executable).with_name("ektp-monitor"))
        subprocess.run([exe, "hub", "db", "upgrade", "-c", str(cfg)], check=True, capture_output=True)
        hub = subprocess.Popen([exe, "hub", "serve", "-c", str(cfg)], stdout=subprocess.DEVNULL,
                               stderr=(work / "hub.log").open("wb"))
        verify = ssl.create_default_context(cafile=str(work / "ca.pem"))
        url = f"https://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(url + "/healthz", verify=verify, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        template = _template(work, outages)
        backlogs = {o: _for_office(template, codes[o]) for o in tokens}
        total = sum(len(v) for v in backlogs.values())
        peak = [0]
        done = threading.Event()
        proc = psutil.Process(hub.pid)

        def watch() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], proc.memory_info().rss)
                time.sleep(0.2)

        def drain(office: str) -> int:
            rows = backlogs[office]
            with httpx.Client(base_url=url, verify=verify, timeout=120,
                              headers={"Authorization": f"Bearer {tokens[office]}", "Content-Encoding": "gzip"}) as c:
                for i in range(0, len(rows), 1000):
                    r = c.post(INGEST_PATH, content=encode({"office": office, "records": rows[i:i + 1000]}))
                    r.raise_for_status()
            return len(rows)

        threading.Thread(target=watch, daemon=True).start()
        cpu0 = proc.cpu_times()
        t0 = time.monotonic()
        with ThreadPoolExecutor(parallel) as pool:
            sent = sum(pool.map(drain, tokens))
        wall = time.monotonic() - t0
        cpu1 = proc.cpu_times()
        done.set()
        assert sent == total
        hub_cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        out.add(f"backlog drained: {offices} offices x {len(template)} records, {parallel} at a time, over HTTPS",
                total / wall, "records/s", note=f"{total} records in {wall:.1f} s")
        out.add("hub CPU per 1,000 records (its own process; PostgreSQL not included)", hub_cpu / total * 1000, "s")
        out.add("hub peak RSS while draining", peak[0] / 2**20, "MB", target="≤ 500 MB (issue 15)",
                ok=peak[0] / 2**20 <= 500)
        out.notes.append(f"{offices} offices, {outages} outages each ({len(template)} feed records: site, devices, "
                         f"incidents, outages, evidence), batches of 1,000, gzip, {parallel} offices in parallel; "
                         f"hub CPU {hub_cpu:.1f} s over {wall:.1f} s wall")
        return out
    finally:
        if hub is not None and hub.poll() is None:
            hub.terminate()
            hub.wait(30)
        subprocess.run([pg_tmp, "stop", cluster], check=False, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    ns = argparse.Namespace(quick="--quick" in sys.argv)
    res = run(ns)
    for row in res.rows:
        print(f"{row.metric}: {row.ours:.1f} {row.unit} {row.note}")
    for n in res.notes:
        print(n)
