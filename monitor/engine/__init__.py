"""The pure core: what the record means, with no I/O and no clock of its own.

* :mod:`monitor.engine.state` — the per-device state machine (confirmation, flapping, dependencies);
* :mod:`monitor.engine.causes` — cause inference from timestamped evidence;
* :mod:`monitor.engine.maintenance` — maintenance calendars (one-off and crontab windows).

Everything here takes ``now`` as a parameter; the daemon (:mod:`monitor.daemon`) feeds it and writes
what it decides.
"""
