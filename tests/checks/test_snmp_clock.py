"""pysnmp's timeouts and retries under a real wall-clock step (issue 13).

A child process polls a silent UDP port (no agent answers: a dead device) with our SNMP backend, under
the ``LD_PRELOAD`` shim of :mod:`tests.wallclock`. After its first request, the test steps the child's
wall clock (only ``CLOCK_REALTIME``) back by 3 hours, and the next request must still time out after
``timeout × (retries + 1)`` — as it did before the step — so the device is reported down, not *unknown*
("check did not finish"). The control shows why the adapter exists: pysnmp's own dispatcher, under the
same step, does not time out at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.wallclock import WallOffset, build_shim

ROOT = Path(__file__).resolve().parents[2]

CHILD = r'''
import asyncio, json, socket, sys, time
from checks.snmp_backend import PysnmpBackend, SnmpTarget
from monitor.domain import SnmpCredentials

PLAIN = []

async def plain_v1arch(port: int) -> None:
    """pysnmp's own v1arch dispatcher, no adapter, one for the process as in real use: the control."""
    from pysnmp.hlapi.v1arch.asyncio import CommunityData, SnmpDispatcher, UdpTransportTarget, get_cmd
    from pysnmp.proto.rfc1902 import Null, ObjectName
    target = await UdpTransportTarget.create(("127.0.0.1", port), timeout=0.5, retries=1)
    if not PLAIN:
        PLAIN.append(SnmpDispatcher())
    await get_cmd(PLAIN[0], CommunityData("public"), target, (ObjectName("1.3.6.1.2.1.1.3.0"), Null("")))

async def ours(backend, creds, port):
    target = SnmpTarget("127.0.0.1", creds, timeout=0.5, retries=1)
    reply = await backend.fetch(target, ["1.3.6.1.2.1.1.3.0"], [])
    return reply.failure.kind if reply.failure else "answered"

async def main(kind: str) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    backend = PysnmpBackend()
    creds = (SnmpCredentials(version="3", user="monitor", auth_protocol="sha256", auth_key="authkey-123456",
                             priv_protocol="aes128", priv_key="privkey-123456", port=port) if kind == "v3"
             else SnmpCredentials(version="2c", community="public", port=port))
    async def one():
        t = time.monotonic()
        if kind == "plain":
            try:
                await asyncio.wait_for(plain_v1arch(port), 6.0)
                outcome = "returned"
            except TimeoutError:
                outcome = "no timeout from pysnmp within 6 s"
        else:
            outcome = await ours(backend, creds, port)
        return outcome, round(time.monotonic() - t, 3)
    before = await one()                       # engines and dispatchers exist now, ticking on the old clock
    print("ready", flush=True)
    sys.stdin.readline()                       # the parent steps the wall clock back by 3 h here
    wall = time.time()
    after = await one()
    print(json.dumps({"before": before, "after": after, "wall": wall}), flush=True)
    await backend.close()

asyncio.run(main(sys.argv[1]))
'''


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    try:
        yield build_shim(tmp_path_factory.mktemp("shim"))
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"cannot build the wall-clock shim: {exc}")


def _run(kind: str, shim: Path, tmp_path: Path) -> dict[str, object]:
    offset = WallOffset(shim, tmp_path / f"offset-{kind}")
    proc = subprocess.Popen([sys.executable, "-c", CHILD, kind], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, **offset.env(), "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
        offset.set(-3 * 3600)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("kind", ["v2c", "v3"])
def test_snmp_timeouts_hold_after_the_wall_clock_is_stepped_back(kind: str, shim: Path, tmp_path: Path) -> None:
    result = _run(kind, shim, tmp_path)
    before, after = result["before"], result["after"]
    assert isinstance(before, list) and isinstance(after, list)
    assert before[0] == after[0] == "timeout", result
    # 0.5 s × 2 attempts (and v3's engine discovery), before and after the step alike — never the runner's budget
    assert float(after[1]) <= float(before[1]) + 1.0 and float(after[1]) < 3.0, result


def test_control_pysnmps_own_dispatcher_does_not_time_out_after_a_step_back(shim: Path, tmp_path: Path) -> None:
    """Why checks/snmpclock.py exists: the same request through pysnmp's own v1arch dispatcher times out
    before the step and hangs after it (our wait_for ends it after 6 s)."""
    result = _run("plain", shim, tmp_path)
    before, after = result["before"], result["after"]
    assert isinstance(before, list) and isinstance(after, list)
    assert before[0] == "returned" and float(before[1]) < 3.0, result
    assert after[0] == "no timeout from pysnmp within 6 s", result
