"""The office runtime: what ``ektp-monitor run`` runs.

* :mod:`monitor.daemon.core` — the daemon: wires the components, start/stop order, SIGHUP reload;
* :mod:`monitor.daemon.scheduler` and :mod:`monitor.daemon.runner` — when checks run, and one run with
  its timeout;
* :mod:`monitor.daemon.pipeline` — the one path from results and traps through the pure engine
  (:mod:`monitor.engine`) to the database;
* :mod:`monitor.daemon.recorder` — the one transaction that writes what the engine decided;
* :mod:`monitor.daemon.selfwatch` and :mod:`monitor.daemon.deadman` — the monitor watching itself.
"""
