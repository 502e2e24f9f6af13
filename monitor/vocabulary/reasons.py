"""Check reasons in the reader's language.

A check's reason is English machine text built by the check modules and the profiles
(``tcp:42473: port 42473: connection refused (service not running)``,
``snmp:ups-apc: battery low: the UPS will shut down soon (12% charge, 3 min left)``) and wrapped by the
engine (``router is down: …``, ``… (answering: snmp:host-resources)``). An Indonesian text shows it in
Indonesian **with every figure and label kept**: the technician who reads "disk / 96% penuh (sisa 1.2 GB)"
must not have to open a log to learn which disk and how full.

Contract:
- the check key (``tcp:42473``, ``snmp:ups-apc``) stays in front, untranslated (it is a name, like a
  device id);
- a reason made of several parts (``a; b``) is translated part by part; the engine's wrappers too;
- a part no pattern knows is **not** shown in English in an Indonesian text: it becomes "pemeriksaan tidak
  berhasil (rincian di log monitor)" — the English original stays in the log and in English texts;
- device-supplied strings inside a reason (a contact's name, a status label) are copied verbatim;
  escaping them is the renderer's job.

This is the pattern table; add a pattern here when a check gains a reason (both the English reason in
``checks/`` and its Indonesian words here). ``tests/test_language.py`` fails on a reason rendered in the
wrong language.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from monitor.vocabulary.formats import format_number, format_quantity
from monitor.vocabulary.words import STATUSES

_Words = Callable[[dict[str, str | None]], str]


def _opt(value: str | None, fmt: str = " ({})") -> str:
    return fmt.format(value) if value else ""


def _n(value: str | None) -> str | None:
    """A number from an English reason in Indonesian format (``1.2`` → ``1,2``, ``8100`` → ``8.100``)."""
    if not value:
        return value
    try:
        number = float(value)
    except ValueError:
        return value
    return format_number(number, "id", len(value.split(".")[1]) if "." in value else 0)   # the digits written


def _pct(value: str | None) -> str | None:
    return None if value is None else format_quantity(float(value), "%", "id")


_IF_STATUS = {"down": "mati", "lowerLayerDown": "jalur di bawahnya putus", "notPresent": "tidak terpasang",
              "dormant": "menunggu", "testing": "sedang diuji", "unknown": "tidak diketahui"}

_PARENT_DOWN = r"^(?P<node>[\w.-]+) is (?P<status>down|unreachable|degraded|unknown): "   # an unreachable device
_STATUS_WORDS = STATUSES["id"]

# Ordered: the first pattern that matches a part wins, so specific phrases come before generic ones
# ("contact 2 is disabled" before any "surge protector", "input voltage swung" before "input voltage").
_TABLE: tuple[tuple[str, _Words], ...] = (
    (_PARENT_DOWN, lambda g: f"{g['node']} {_STATUS_WORDS[g['status'] or '']}: perangkat ini tidak terjangkau"),
    (r"^(?P<status>down|degraded|unknown|unreachable)$", lambda g: _STATUS_WORDS[(g["status"] or "").lower()]),
    (r"cannot read this machine's state", lambda g: "keadaan komputer monitor tidak dapat dibaca"),
    (r"the check did not finish within (?P<s>\d+)s", lambda g: f"pemeriksaan tidak selesai dalam {g['s']} detik"),
    (r"the check failed on our side", lambda g: "pemeriksaan gagal di sisi monitor (rincian di log monitor)"),
    (r"not monitored since the monitor restarted", lambda g: "belum diperiksa sejak monitor dijalankan ulang"),
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
     lambda g: f"paket hilang {_pct(g['pct'])}" + (f" ({g['r']}/{g['s']} balasan)" if g["r"] else "")),
    (r"slow replies: (?P<ms>\d+) ms", lambda g: f"respons lambat: rata-rata {g['ms']} ms"),
    (r"slow connect (?P<ms>\d+) ms(?: \(limit (?P<lim>[\d.]+) ms\))?",
     lambda g: f"koneksi lambat {g['ms']} ms" + _opt(_n(g["lim"]), " (batas {} ms)")),
    (r"UPS output is off(?: \((?P<label>[^)]*)\))?",
     lambda g: "keluaran UPS mati" + _opt(g["label"]) + ": beban tanpa listrik"),
    (r"battery low[^(]*(?:\((?P<charge>[\d.]+)% charge(?:, (?P<min>\d+) min left)?\))?",
     lambda g: "baterai UPS lemah: UPS akan segera mati"
     + (f" (muatan {_pct(g['charge'])}" + _opt(g["min"], ", sisa {} menit") + ")" if g["charge"] else "")),
    (r"battery runtime only (?P<m>\d+) min \(below (?P<lim>\d+) min\)",
     lambda g: f"sisa waktu baterai hanya {g['m']} menit (di bawah {g['lim']} menit)"),
    (r"battery failure", lambda g: "baterai UPS rusak: ganti baterai"),
    (r"needs replacement(?: \((?P<d>.*)\))?", lambda g: "baterai UPS perlu diganti" + _opt(g["d"])),
    (r"on bypass(?: \((?P<label>[^)]*)\))?",
     lambda g: "UPS dalam mode bypass" + _opt(g["label"]) + ": beban tidak terlindungi"),
    (r"overloaded \((?P<pct>[\d.]+)% load\)", lambda g: f"UPS kelebihan beban ({_pct(g['pct'])})"),
    (r"input voltage swung (?P<lo>[\d.]+)–(?P<hi>[\d.]+) V.*outside (?P<a>[\d.]+)–(?P<b>[\d.]+) V",
     lambda g: f"tegangan masuk naik-turun {_n(g['lo'])}–{_n(g['hi'])} V dalam semenit terakhir "
               f"(di luar {_n(g['a'])}–{_n(g['b'])} V)"),
    (r"input voltage (?P<v>[\d.]+) V outside (?P<a>[\d.]+)–(?P<b>[\d.]+) V",
     lambda g: f"tegangan masuk {_n(g['v'])} V di luar batas {_n(g['a'])}–{_n(g['b'])} V"),
    (r"UPS (?P<what>battery |room )?temperature (?P<t>[\d.]+) °C \(above (?P<lim>[\d.]+) °C\)",
     lambda g: f"suhu {({'battery ': 'baterai UPS', 'room ': 'ruang UPS'}).get(g['what'] or '', 'UPS')} "
               f"{_n(g['t'])} °C (di atas {_n(g['lim'])} °C)"),
    (r"UPS is rebooting", lambda g: "UPS sedang menyala ulang"),
    (r"UPS reports a fault(?: \((?P<label>[^)]*)\))?", lambda g: "UPS melaporkan kerusakan" + _opt(g["label"])),
    (r"room temperature (?P<t>-?[\d.]+) °C \(critical: (?P<lim>[\d.]+) °C\)",
     lambda g: f"suhu ruang server {_n(g['t'])} °C (kritis: {_n(g['lim'])} °C)"),
    (r"room temperature (?P<t>-?[\d.]+) °C \(above (?P<lim>[\d.]+) °C\)",
     lambda g: f"suhu ruang server {_n(g['t'])} °C (di atas {_n(g['lim'])} °C)"),
    (r"room humidity (?P<h>[\d.]+)% \(outside (?P<a>[\d.]+)–(?P<b>[\d.]+)%\)",
     lambda g: f"kelembapan ruang server {_pct(g['h'])} (di luar {_n(g['a'])}–{_pct(g['b'])})"),
    (r"water detected in the room", lambda g: "air terdeteksi di ruang server"),
    (r"smoke detected in the room", lambda g: "asap terdeteksi di ruang server"),
    (r"the room's door is open", lambda g: "pintu ruang server terbuka"),
    (r"(?P<n>\d+) dry contact\(s\) in alarm(?:: (?P<names>.*))?",
     lambda g: f"{g['n']} kontak alarm aktif" + _opt(g["names"], ": {}")),
    (r"PDU overloaded \((?P<a>[\d.]+) A\)",
     lambda g: f"PDU kelebihan beban ({_n(g['a'])} A): pemutus daya bisa trip"),
    (r"PDU near overload \((?P<a>[\d.]+) A\)", lambda g: f"PDU hampir kelebihan beban ({_n(g['a'])} A)"),
    (r"no profile fits this device", lambda g: "perangkat tidak dikenali: tidak ada profil yang cocok"),
    (r"(?P<n>\d+) UPS alarm\(s\) active", lambda g: f"{g['n']} alarm UPS aktif"),
    (r"monitor host runs on battery(?: \((?P<pct>[\d.]+)%\))?",
     lambda g: "komputer monitor berjalan dengan baterai" + _opt(_pct(g["pct"]), " ({})")),
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
     lambda g: f"uplink {g['label']} dimatikan oleh administrator"),
    (r"uplink (?P<label>.+) is (?P<status>\w+)$",
     lambda g: f"uplink {g['label']} putus" + _opt(_IF_STATUS.get(g["status"] or ""))),
    (r"link .*down|oper(?:ational)? status down", lambda g: "tautan jaringan putus"),
    (r"disk (?P<label>\S+) (?P<pct>\d+)% full(?: \((?P<gb>[\d.]+) GB free\))?",
     lambda g: f"disk {g['label']} terisi {_pct(g['pct'])}, hampir penuh" + _opt(_n(g["gb"]), " (sisa {} GB)")),
    (r"memory (?P<pct>\d+)% used", lambda g: f"memori terpakai {_pct(g['pct'])}"),
    (r"CPU load (?P<pct>\d+)%", lambda g: f"beban CPU {_pct(g['pct'])}"),
    (r"load (?P<l>[\d.]+) on (?P<n>\d+) CPUs", lambda g: f"beban {_n(g['l'])} pada {g['n']} CPU"),
    (r"no (?P<snmp>SNMP )?answer(?:.*?within (?P<t>[\d.]+)s(?: × (?P<n>\d+))?)?|timed out|timeout",
     lambda g: f"tidak ada jawaban{' SNMP' if g.get('snmp') else ''}"
     + (f" dalam {_n(g['t'])} detik" + _opt(g["n"], " × {} percobaan") if g.get("t") else "")),
)
_PATTERNS: tuple[tuple[re.Pattern[str], _Words], ...] = tuple((re.compile(p, re.I), w) for p, w in _TABLE)
_CHECK_KEY = re.compile(r"^([a-z]+(?::[\w.-]+)?): ")
_ANSWERING = re.compile(r" \(answering: (?P<checks>[^()]*)\)$")
_WAITING = "waiting for own checks after the network recovered: "
_NOTES = {" [monitoring ended: device removed from the configuration]":
          " [pemantauan berakhir: perangkat dihapus dari konfigurasi]",
          " [still down after the maintenance window ended]": " [masih mati setelah jadwal pemeliharaan berakhir]"}
UNKNOWN_PART = "pemeriksaan tidak berhasil (rincian di log monitor)"


def _part_id(part: str) -> str:
    m = _CHECK_KEY.match(part)
    key, rest = (m.group(1), part[m.end():]) if m else ("", part)
    for pattern, words in _PATTERNS:
        found = pattern.search(rest)
        if found:
            text = words(found.groupdict())
            return f"{key}: {text}" if key else text
    return f"{key}: {UNKNOWN_PART}" if key else UNKNOWN_PART


def _reason_id(reason: str) -> str:
    notes = ""
    for english, words in _NOTES.items():
        if english in reason:
            reason, notes = reason.replace(english, ""), notes + words
    if re.match(_PARENT_DOWN, reason):
        return _part_id(reason) + notes  # the parent's own reason follows; the text names the parent only
    if reason.startswith(_WAITING):
        return "menunggu pemeriksaan sendiri setelah jaringan pulih: " + _reason_id(reason[len(_WAITING):]) + notes
    tail = ""
    if found := _ANSWERING.search(reason):
        reason, tail = reason[:found.start()], f" (yang masih menjawab: {found['checks']})"
    return "; ".join(_part_id(part) for part in reason.split("; ")) + tail + notes


def localize_reason(reason: str, lang: str = "id") -> str:
    """The check reason in ``lang`` (``id`` translates, anything else returns it unchanged)."""
    if not lang.lower().startswith("id"):
        return reason
    return _reason_id(reason)
