"""pysnmp's timers on the monotonic clock (issue 13) — one adapter, used by every pysnmp engine we create.

pysnmp 7.1 times its requests on the **wall clock** (read in ``pysnmp/carrier/asyncio/dispatch.py`` and
``pysnmp/carrier/base.py``, ``pysnmp/hlapi/v1arch/dispatch.py``):

* ``AsyncioDispatcher.handle_timeout`` wakes every timer resolution (0.1 s) and calls
  ``handle_timer_tick(time())``; ``AbstractTransportDispatcher.handle_timer_tick`` counts a tick only when
  that wall time is past the *next tick time it remembered*. After NTP steps the clock back by 3 h, no tick
  is counted for 3 h: v3arch requests (their timeouts and retries are counted in ticks) never time out, and
  a dead device stayed *unknown* ("check did not finish within 2.8 s" — the runner's budget) instead of
  being reported down. A forward step only loses one tick.
* v1arch's ``SnmpDispatcher.send_pdu`` stamps each request ``time() + timeout`` and its timer callback
  compares that with the tick's time: after a step back nothing is retried or timed out; after a step
  forward every request in flight is retried or timed out at once.

:func:`monotonic_dispatcher` is the same asyncio dispatcher feeding ``time.monotonic()`` to the timer
(pysnmp uses the value only to space ticks and, in v1arch, to compare with its own stamps);
:func:`restamp_v1arch` re-stamps a v1arch request's deadline on the same clock right after it is sent. The
v1/v2c dispatcher (``checks.snmp_backend._guarded``) and both v3arch engines (polling, and the trap
receiver's) are built with them. Site-packages are never patched: these are subclasses, and the tests run
them under a real wall-clock offset (an ``LD_PRELOAD`` shim on ``CLOCK_REALTIME``).
"""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

__all__ = ["monotonic_dispatcher", "restamp_v1arch"]


@functools.cache
def monotonic_dispatcher() -> type:
    """pysnmp's ``AsyncioDispatcher`` with its timer on ``time.monotonic()`` (imported lazily)."""
    from pysnmp.carrier.asyncio.dispatch import AsyncioDispatcher

    class MonotonicAsyncioDispatcher(AsyncioDispatcher):  # type: ignore[misc]
        async def handle_timeout(self) -> None:
            try:
                while True:
                    await asyncio.sleep(self.get_timer_resolution())
                    self.handle_timer_tick(time.monotonic())
            except asyncio.CancelledError:
                pass

    return MonotonicAsyncioDispatcher


def restamp_v1arch(pending: dict[Any, dict[str, Any]], request_id: Any) -> None:
    """Give a v1arch request just sent (``SnmpDispatcher._pendingReqs[request_id]``) its deadline on the
    monotonic clock; the timer callback then re-stamps retries with the monotonic tick time itself."""
    state = pending.get(request_id)
    if state is not None:
        state["timestamp"] = time.monotonic() + float(state["transportTarget"].timeout)
