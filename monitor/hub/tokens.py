"""Office tokens: made once, shown once, stored only as a hash.

A token is 32 random bytes (``ektp_`` + URL-safe base64). The hub keeps ``sha256:<hex>`` of it in
HUB.yaml and looks the hash up. A plain SHA-256 is enough for a secret with 256 bits of entropy (nothing
to brute-force, unlike a password) and keeps every ingest request cheap; a lookup of the digest reveals
nothing about a token that is not already known. Tokens never appear in logs: the ingest logs the office.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Annotated

from pydantic import BeforeValidator

PREFIX = "ektp_"
_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


def new_token() -> str:
    """A fresh office token (print it once; store only :func:`hash_token` of it)."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def _token_hash(value: object) -> object:
    if isinstance(value, str):
        v = value.strip().lower()
        if not _HASH.match(v):
            raise ValueError("a token hash looks like sha256:<64 hex digits> (from `ektp-monitor hub token new`); "
                             "never put the token itself here")
        return v
    return value


TokenHash = Annotated[str, BeforeValidator(_token_hash)]
"""``sha256:<64 hex>`` as HUB.yaml stores it."""
