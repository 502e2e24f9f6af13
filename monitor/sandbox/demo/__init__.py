"""``ektp-monitor demo``: a simulated regency office through a lightning storm, on loopback only.

* :mod:`.recordings` — the devices' SNMP data: real LibreNMS recordings (``data/librenms``, GPL-3.0, notice
  kept) adapted at run time;
* :mod:`.office` — the simulators: one snmpsim agent per device address, the recording service and the
  central data center (:mod:`.tcpservice`), the local Telegram Bot API server; traps with ``snmptrap``;
* :mod:`.monitorproc` — the real monitor as a subprocess (``ektp-monitor db upgrade``, ``run``, ``report``);
* :mod:`.watch` — reading back the record (SQLite, read-only) and the chats; :mod:`.describe` — one line per
  event;
* :mod:`.timeline` — the terminal narration (rich on a TTY, plain otherwise);
* :mod:`.scenario` — the storyline; :mod:`.verify` — the verdict; :mod:`.runner` — set-up, clean-up, exit code.
"""
