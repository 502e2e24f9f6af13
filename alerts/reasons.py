"""Check reasons in the reader's language.

A check's reason is English machine text built by the check modules and the profiles
(``tcp:42473: port 42473: connection refused (service not running)``,
``snmp:ups-apc: battery low: the UPS will shut down soon (12% charge, 3 min left)``). An Indonesian
chat shows it in Indonesian **with every figure and label kept**: the technician who reads
"disk / 96% penuh (sisa 1.2 GB)" must not have to open a log to learn which disk and how full.

Contract:
- the check key (``tcp:42473``, ``snmp:ups-apc``) stays in front, untranslated;
- a reason made of several parts (``a; b``) is translated part by part;
- a part no pattern knows is kept as it is — honest English beats an invented translation;
- device-supplied strings inside a reason (a contact's name, a status label) are copied verbatim;
  escaping them is the renderer's job.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_Words = Callable[[dict[str, str | None]], str]


def _opt(value: str | None, fmt: str = " ({})") -> str:
    return fmt.format(value) if value else ""


_PARENT_DOWN = r"^(?P<node>[\w.-]+) is down: "   # the engine's reason for an unreachable device

# Ordered: the first pattern that matches a part wins, so specific phrases come before generic ones
# ("contact 2 is disabled" before any "surge protector", "input voltage swung" before "input voltage").
_TABLE: tuple[tuple[str, _Words], ...] = (
    (_PARENT_DOWN, lambda g: f"{g['node']} mati: perangkat ini tidak terjangkau"),
    (r"authentication failed|wrong authentication key|UnknownUserName|WrongDigest",
     lambda g: "autentikasi SNMP gagal: periksa community/kunci"),
    (r"profile does not match", lambda g: "profil tidak cocok dengan perangkat"),
    (r"(?:device )?answered garbage(?:: (?P<d>.*))?",
     lambda g: "perangkat menjawab data tidak wajar" + _opt(g["d"], ": {}")),
    (r"undecodable|came from another address", lambda g: "perangkat menjawab data tidak wajar"),
    (r"SNMP port closed", lambda g: "port SNMP tertutup: agen SNMP tidak berjalan"),
    (r"connection refused", lambda g: "koneksi ditolak: layanan tidak berjalan"),
    (r"no reply to (?P<n>\d+) pings(?: \((?P<why>.*)\))?",
     lambda g: f"tidak ada balasan dari {g['n']} ping" + _opt(g["why"])),
    (r"(?:network|host) (?:is )?unreachable", lambda g: "tidak terjangkau dari komputer monitor"),
    (r"packet loss (?P<pct>[\d.]+)%(?: \((?P<r>\d+)/(?P<s>\d+) replies\))?",
     lambda g: f"paket hilang {g['pct']}%" + (f" ({g['r']}/{g['s']} balasan)" if g["r"] else "")),
    (r"slow replies: (?P<ms>\d+) ms", lambda g: f"respons lambat: rata-rata {g['ms']} ms"),
    (r"slow connect (?P<ms>\d+) ms(?: \(limit (?P<lim>[\d.]+) ms\))?",
     lambda g: f"koneksi lambat {g['ms']} ms" + _opt(g["lim"], " (batas {} ms)")),
    (r"UPS output is off(?: \((?P<label>[^)]*)\))?",
     lambda g: "keluaran UPS mati" + _opt(g["label"]) + ": beban tanpa listrik"),
    (r"battery low[^(]*(?:\((?P<charge>[\d.]+)% charge(?:, (?P<min>\d+) min left)?\))?",
     lambda g: "baterai UPS lemah: UPS akan segera mati"
     + (f" (muatan {g['charge']}%" + _opt(g["min"], ", sisa {} menit") + ")" if g["charge"] else "")),
    (r"battery runtime only (?P<m>\d+) min \(below (?P<lim>\d+) min\)",
     lambda g: f"sisa waktu baterai hanya {g['m']} menit (di bawah {g['lim']} menit)"),
    (r"battery failure", lambda g: "baterai UPS rusak: ganti baterai"),
    (r"needs replacement(?: \((?P<d>.*)\))?", lambda g: "baterai UPS perlu diganti" + _opt(g["d"])),
    (r"on bypass(?: \((?P<label>[^)]*)\))?",
     lambda g: "UPS dalam mode bypass" + _opt(g["label"]) + ": beban tidak terlindungi"),
    (r"overloaded \((?P<pct>[\d.]+)% load\)", lambda g: f"UPS kelebihan beban ({g['pct']}%)"),
    (r"input voltage swung (?P<lo>[\d.]+)–(?P<hi>[\d.]+) V.*outside (?P<a>[\d.]+)–(?P<b>[\d.]+) V",
     lambda g: f"tegangan masuk naik-turun {g['lo']}–{g['hi']} V dalam semenit terakhir "
               f"(di luar {g['a']}–{g['b']} V)"),
    (r"input voltage (?P<v>[\d.]+) V outside (?P<a>[\d.]+)–(?P<b>[\d.]+) V",
     lambda g: f"tegangan masuk {g['v']} V di luar batas {g['a']}–{g['b']} V"),
    (r"UPS (?P<what>battery |room )?temperature (?P<t>[\d.]+) °C \(above (?P<lim>[\d.]+) °C\)",
     lambda g: f"suhu {({'battery ': 'baterai UPS', 'room ': 'ruang UPS'}).get(g['what'] or '', 'UPS')} "
               f"{g['t']} °C (di atas {g['lim']} °C)"),
    (r"UPS is rebooting", lambda g: "UPS sedang menyala ulang"),
    (r"UPS reports a fault(?: \((?P<label>[^)]*)\))?", lambda g: "UPS melaporkan kerusakan" + _opt(g["label"])),
    (r"room temperature (?P<t>-?[\d.]+) °C \(critical: (?P<lim>[\d.]+) °C\)",
     lambda g: f"suhu ruang server {g['t']} °C (kritis: {g['lim']} °C)"),
    (r"room temperature (?P<t>-?[\d.]+) °C \(above (?P<lim>[\d.]+) °C\)",
     lambda g: f"suhu ruang server {g['t']} °C (di atas {g['lim']} °C)"),
    (r"room humidity (?P<h>[\d.]+)% \(outside (?P<a>[\d.]+)–(?P<b>[\d.]+)%\)",
     lambda g: f"kelembapan ruang server {g['h']}% (di luar {g['a']}–{g['b']}%)"),
    (r"water detected in the room", lambda g: "air terdeteksi di ruang server"),
    (r"smoke detected in the room", lambda g: "asap terdeteksi di ruang server"),
    (r"the room's door is open", lambda g: "pintu ruang server terbuka"),
    (r"(?P<n>\d+) dry contact\(s\) in alarm(?:: (?P<names>.*))?",
     lambda g: f"{g['n']} kontak alarm aktif" + _opt(g["names"], ": {}")),
    (r"PDU overloaded \((?P<a>[\d.]+) A\)", lambda g: f"PDU kelebihan beban ({g['a']} A): pemutus daya bisa trip"),
    (r"PDU near overload \((?P<a>[\d.]+) A\)", lambda g: f"PDU hampir kelebihan beban ({g['a']} A)"),
    (r"no profile fits this device", lambda g: "perangkat tidak dikenali: tidak ada profil yang cocok"),
    (r"(?P<n>\d+) UPS alarm\(s\) active", lambda g: f"{g['n']} alarm UPS aktif"),
    (r"monitor host runs on battery(?: \((?P<pct>[\d.]+)%\))?",
     lambda g: "komputer monitor berjalan dengan baterai" + _opt(g["pct"], " ({}%)")),
    (r"on battery|switched to battery", lambda g: "UPS pakai baterai"),
    (r"contact (?P<n>\S+) \((?P<name>.*)\) is disabled on the card",
     lambda g: f"kontak {g['n']} ({g['name']}) dimatikan di kartu: aktifkan agar arrester petir terpantau"),
    (r"surge protector tripped or worn out \((?P<kind>contact|input) (?P<n>\S+) '(?P<name>.*)' in alarm\)",
     lambda g: f"arrester petir terpicu atau aus ({'kontak' if g['kind'] == 'contact' else 'masukan'} "
               f"{g['n']} '{g['name']}' alarm): peralatan tidak terlindungi"),
    (r"(?P<n>\d+) strikes counted \(limit (?P<lim>\d+)\)",
     lambda g: f"{g['n']} sambaran petir tercatat (batas {g['lim']}): periksa atau ganti arrester petir"),
    (r"(?:surge protector|contact ).*alarm(?P<trap> \(trap\))?",
     lambda g: "kontak alarm arrester petir aktif" + (" (trap)" if g["trap"] else "")),
    (r"uplink (?P<label>.+) is disabled \(administratively down\)",
     lambda g: f"uplink {g['label']} dimatikan (administratively down)"),
    (r"uplink (?P<label>.+) is (?P<status>\w+)$", lambda g: f"uplink {g['label']} putus ({g['status']})"),
    (r"link .*down|oper(?:ational)? status down", lambda g: "tautan jaringan putus"),
    (r"disk (?P<label>\S+) (?P<pct>\d+)% full(?: \((?P<gb>[\d.]+) GB free\))?",
     lambda g: f"disk {g['label']} terisi {g['pct']}%, hampir penuh" + _opt(g["gb"], " (sisa {} GB)")),
    (r"memory (?P<pct>\d+)% used", lambda g: f"memori terpakai {g['pct']}%"),
    (r"CPU load (?P<pct>\d+)%", lambda g: f"beban CPU {g['pct']}%"),
    (r"load (?P<l>[\d.]+) on (?P<n>\d+) CPUs", lambda g: f"beban {g['l']} pada {g['n']} CPU"),
    (r"no (?P<snmp>SNMP )?answer(?:.*?within (?P<t>[\d.]+)s(?: × (?P<n>\d+))?)?|timed out|timeout",
     lambda g: f"tidak ada jawaban{' SNMP' if g.get('snmp') else ''}"
     + (f" dalam {g['t']} detik" + _opt(g["n"], " × {} percobaan") if g.get("t") else "")),
)
_PATTERNS: tuple[tuple[re.Pattern[str], _Words], ...] = tuple((re.compile(p, re.I), w) for p, w in _TABLE)
_CHECK_KEY = re.compile(r"^([a-z]+(?::[\w.-]+)?): ")


def _part_id(part: str) -> str:
    m = _CHECK_KEY.match(part)
    key, rest = (m.group(1), part[m.end():]) if m else ("", part)
    for pattern, words in _PATTERNS:
        found = pattern.search(rest)
        if found:
            text = words(found.groupdict())
            return f"{key}: {text}" if key else text
    return part


def localize_reason(reason: str, lang: str = "id") -> str:
    """The check reason in ``lang`` (``id`` translates, anything else returns it unchanged)."""
    if not lang.lower().startswith("id"):
        return reason
    if re.match(_PARENT_DOWN, reason):
        return _part_id(reason)     # the parent's own reason follows; the chat names the parent only
    return "; ".join(_part_id(part) for part in reason.split("; "))
