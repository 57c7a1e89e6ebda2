"""
Prefixed identifiers (`st_…`, `ca_…`) that say what they name and sort by creation millisecond.
"""

from __future__ import annotations

import base64
import secrets
import time

#: RFC 4648 base32 digits mapped to Crockford's lower-case alphabet, which is in ASCII order,
#: so the text sorts like the number it encodes.
_CROCKFORD = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789abcdefghjkmnpqrstvwxyz"
)


def new_id(prefix: str) -> str:
    """
    A new identifier: the prefix, an underscore, then 21 base32 characters encoding 48 bits of
    creation time in milliseconds and 56 random bits. Rows inserted together land next to each
    other in every index on the id, which keeps writes local (SQLite rewrites every page an
    insert touches).
    """
    raw = (time.time_ns() // 1_000_000).to_bytes(6, "big") + secrets.token_bytes(7)
    return f"{prefix}_{base64.b32encode(raw).translate(_CROCKFORD).decode()[:21]}"
