"""The events the detection engine writes and the alerting side consumes (the ``events`` table).

This is the contract between ``monitor/engine`` (writer) and ``alerts/`` (reader): the engine knows
nothing of Telegram, the alerts know nothing of checks. An event row is written in the *same
transaction* as the state change it reports; the alerting side claims rows with a conditional UPDATE
(``claimed_at IS NULL``), routes them into outbox rows and commits both together.

Payload fields (JSON; times are ISO 8601 UTC strings ending in ``Z``; every payload has ``site`` and,
for device events, ``device`` (the config id) and ``device_name``):

=====================  =====================================================================================
kind                   payload
=====================  =====================================================================================
outage_opened          status, started_at (first failed check), confirmed_at, reason, cause, evidence[],
                       planned (inside maintenance), incident_id, kind (device kind), metrics (latest)
outage_changed         status, previous_status, cause, previous_cause, reason, evidence[], incident_id
outage_closed          started_at, ended_at, duration_s, status (worst), cause, evidence[], planned,
                       incident_id, gap_s (time inside monitor gaps)
incident_opened        incident_id, cause, started_at, devices[] (ids), planned
incident_changed       incident_id, cause, previous_cause, devices[]
incident_closed        incident_id, cause, started_at, ended_at, duration_s, devices[]
flapping_started       changes, window_s, status
flapping_stopped       status
observation            kind (ObservationKind), text, values{}, source (poll/trap/selfwatch): a notable fact
                       that is not itself an outage: abnormal mains voltage, strike counted, SPD tripped,
                       UPS on battery (trap), device rebooted, replace-battery flag
monitor_gap            started_at, ended_at, duration_s, reason (process_stopped/host_rebooted/clock_jump),
                       boot_time
monitor_started        version, pid
clock_step             size_s (positive: the wall clock jumped forward), direction (forward/back), before, after
                       (the old and the new wall time at the detection), outage_ids and incident_ids (open
                       ones, whose start was re-expressed on the new clock), evidence_moved, outbox_moved,
                       mutes_moved — written by the daemon when NTP steps the wall clock (issue 13); a suspend
                       is a ``monitor_gap`` (reason clock_jump) instead
=====================  =====================================================================================

An evidence item (in ``evidence[]``) is ``{"time", "device", "kind", "text", "source", "values"}`` —
enough for a person to check the inferred cause.

Also read by ``alerts/`` (added with issue 5; the recorder already writes them):

* outage events carry ``outage_id`` (as well as the ``events.outage_id`` column);
* ``outage_changed.change`` is ``status`` | ``cause`` | ``planned``; ``planned`` means the maintenance window
  ended and the device is still down — alerted then like a new incident;
* ``observation`` carries ``device`` and ``time`` (when it was observed; the row's ``time`` is when it was
  recorded);
* metrics (``metrics``, ``device_states.metrics``) use NUT names: ``ups.status`` flags (``OB`` = on battery),
  ``battery.charge`` in %, ``battery.runtime`` in seconds — shown as "UPS runtime left" in alerts.

Further fields the recorder writes (issue 4; ``monitor/daemon/recorder.py``), all additive:

* every outage event: ``worst_status``, ``cause_summary`` (one English line), ``gaps[]`` and ``gap_s``
  (monitor gaps inside the outage), ``flapping`` (true while the device flaps: the alerting side stays
  quiet on such outage events — ``flapping_started``/``flapping_stopped`` are the messages), ``ups``
  ``{device, status, metrics}`` of the device's ``powered_by`` UPS;
* ``outage_opened``: ``maintenance {reason, source, starts_at, ends_at}`` when ``planned``; ``after_gap``
  ``{started_at, ended_at, reason}`` when the device was found failing at its first check after a monitor gap
  (the outage may have begun while the monitor was off; ``started_at`` is still the first failed check);
* ``outage_changed``: ``worst_status``, ``planned``, ``started_at``, ``reclassified`` (true when a child that
  was confirmed down before its parent is now attributed to the network: its whole outage is ``unreachable``);
* ``outage_closed``: ``removed`` (true when the device left the configuration: monitoring ended, it did not
  recover);
* incident events: ``status`` (worst), ``planned``, ``flapping`` (the outage that caused the event belongs to a
  flapping device); ``incident_opened.title``; ``incident_changed.joined``
  (the device that joined, or null) and ``open_devices[]``;
* ``observation``: ``observation`` (= ``kind``); deduplicated: a condition once per episode, a trap once a
  minute, a strike or a reboot each time;
* ``monitor_gap``: ``probable_power_loss`` (reason ``host_rebooted``), ``outage_ids[]`` (outages open across it);
* ``monitor_started``: ``gap`` ``{started_at, ended_at, reason}`` or null;
* ``flapping_started``/``flapping_stopped``: the device fields (``device``, ``device_name``, ``kind``).
"""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    OUTAGE_OPENED = "outage_opened"
    OUTAGE_CHANGED = "outage_changed"
    OUTAGE_CLOSED = "outage_closed"
    INCIDENT_OPENED = "incident_opened"
    INCIDENT_CHANGED = "incident_changed"
    INCIDENT_CLOSED = "incident_closed"
    FLAPPING_STARTED = "flapping_started"
    FLAPPING_STOPPED = "flapping_stopped"
    OBSERVATION = "observation"
    MONITOR_GAP = "monitor_gap"
    MONITOR_STARTED = "monitor_started"
    CLOCK_STEP = "clock_step"
