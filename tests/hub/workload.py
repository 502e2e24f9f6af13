"""Every writer of the record, driven once: used to prove the feed (and the hub's copy) reproduce it.

The writers are the real ones — the pipeline's recorder (outages with their timeline, incidents, evidence,
cause re-inference), the self-watch (monitor gaps, into open outages), the alerting side (acknowledgement
and escalation state, mutes), the report runner (report runs), the inventory sync (sites, devices), and an
ORM-enabled Core update — each in its own transaction, as the daemon does.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from alerts import escalation, mutes
from monitor.daemon.selfwatch import record_gap
from monitor.domain import ObservationKind, Status
from monitor.engine.causes import Gap
from monitor.reports.period import week_of
from monitor.reports.runner import record_run
from monitor.storage.inventory import sync_inventory
from monitor.storage.models import IncidentRow
from tests.engine.conftest import OFFICE, ROUTER, SRV, UPS, Office, office_settings, ups_result

U, G, D = Status.UP, Status.DEGRADED, Status.DOWN
OK_ = ObservationKind

OFFICE_WITH_CODES = OFFICE.replace('    name: "Disdukcapil Murung Raya"\n',
                                   '    name: "Disdukcapil Murung Raya"\n    code: "62.12"\n')
SECOND_SITE = """
  - id: kecamatan
    name: "Kecamatan Tanah Siang"
    code: "62.12.01"
    timezone: Asia/Jakarta
    devices:
      - {id: pc, name: "PC Perekaman", kind: workstation, address: 127.0.0.1, checks: [{type: ping}],
         installed: 2019-03, funding: apbn}
"""


def settings_with_codes(tmp_path: Path, *, second_site: bool = True, extra: str = "") -> Any:
    body = OFFICE_WITH_CODES + (SECOND_SITE if second_site else "")
    return office_settings(tmp_path, extra + body)


async def every_writer(office: Office, tmp_path: Path) -> None:
    """Drive each writer of the record at least once (see the module docstring)."""
    pl = office.pipeline
    assert pl is not None
    # recorder: a power cut — UPS evidence, an incident with two outages, the server's timeline
    for i in range(3):
        t = office.at(i)
        office.clock._now = t
        pl.submit_result(UPS, ups_result(G, t, OK_.ON_BATTERY, **{"battery.charge": 90 - i}))
        await pl.drain()
    await office.series(SRV, [D, D, D], 5)
    # a bad agent's NUL byte: SQLite keeps it (a PostgreSQL office cannot store it at all), the hub gets U+FFFD
    nul = "\x00" if office.db.engine.dialect.name == "sqlite" else ""
    await office.trap(UPS, OK_.LOW_BATTERY, 8, f"baterai lemah {nul}(from a bad agent)")
    await office.series(ROUTER, [D, D, D], 10)            # the router: the server becomes unreachable
    # the monitor was off for a while: a gap recorded into every open outage
    await office.db.run(lambda s: record_gap(s, office.recorder, Gap(office.at(14), office.at(20), "host_rebooted",
                                                                     office.at(19)), pl.world, office.at(20)))
    office.clock._now = office.at(20)
    # the alerting side: acknowledge the incident (its escalation state changes), mute a device, cancel it
    inc_id = office.db.call(lambda s: s.scalars(select(IncidentRow.id).order_by(IncidentRow.id)).first())

    def ack(s: Any) -> None:
        inc = s.get(IncidentRow, inc_id)
        escalation.acknowledge(s, inc, user_id=5001, user_name="Budi (IT)", note="menuju lokasi", source="button",
                               now=office.at(21))
    await office.db.run(ack)
    srv_id = office.recorder.ids[SRV]
    await office.db.run(lambda s: mutes.add_mute(s, site_id="mura", device_id=srv_id, until=office.at(120),
                                                 reason="perbaikan", by="Budi (IT)", now=office.at(22)))
    await office.db.run(lambda s: mutes.cancel_mutes(s, site_id="mura", device_id=srv_id, now=office.at(30)))
    # the operator commands' path (`ektp-monitor maintenance add|end`): a window for the whole site, ended early
    window = await office.db.run(lambda s: mutes.add_window(
        s, kind="maintenance", site_id="kecamatan", device_id=None, starts_at=office.at(30), ends_at=office.at(90),
        reason="ganti UPS", by="operator (cli)", now=office.at(30)).id)
    await office.db.run(lambda s: mutes.end_window(s, window, office.at(31)))
    # recoveries, and time passing (cause re-inference)
    await office.series(ROUTER, [U, U], 31)
    await office.series(SRV, [U, U], 33)
    for i in range(2):
        t = office.at(40 + i)
        office.clock._now = t
        pl.submit_result(UPS, ups_result(U, t, OK_.ON_MAINS, **{"battery.charge": 95}))
        await pl.drain()
    await office.db.run(lambda s: office.recorder.sweep(s, pl.world, office.at(45)))
    # a report run: built, then sent (an update of the same row)
    period = week_of(date(2026, 11, 16), "Asia/Jakarta")
    for status in ("built", "sent"):
        await office.db.run(lambda s, st=status: record_run(s, site_id="mura", kind="weekly", period=period,
                                                            now=office.at(50), files={"pdf": tmp_path / "w.pdf"},
                                                            status=st))
    # an ORM-enabled Core update through the session
    await office.db.run(lambda s: s.execute(update(IncidentRow).where(IncidentRow.id == inc_id)
                                            .values(title="Listrik padam (diperbarui)")))
    # the inventory: a device renamed and one removed from the config, then the old config again
    body = (OFFICE_WITH_CODES + SECOND_SITE).replace('"Server Perekaman"', '"Server Perekaman e-KTP"')
    body = body.replace('      - {id: dc, name: "Data Center Pusat", kind: upstream, address: 127.0.0.1, '
                        'depends_on: [router],\n         checks: [{type: tcp, port: 443}]}\n', "")
    assert '"Data Center Pusat"' not in body
    (tmp_path / "renamed").mkdir(exist_ok=True)
    renamed = office_settings(tmp_path / "renamed", body)
    await office.db.run(lambda s: sync_inventory(s, renamed, office.at(60)))
    await office.db.run(lambda s: sync_inventory(s, office.settings, office.at(61)))
    office.clock._now = office.at(62) + timedelta(seconds=1)
