"""
Request bodies: size limits, gzip, UTF-8 and JSON, each refused with a clear reason.
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson

from cartback.domain.errors import InvalidInput, PayloadTooLarge


def decompress(raw: bytes, *, encoding: str | None, limit: int) -> bytes:
    """
    Undo `Content-Encoding: gzip` (or deflate) without ever inflating past `limit` bytes, so a
    small compressed bomb cannot exhaust memory.

    Raises:
        PayloadTooLarge: the decompressed body is larger than `limit`.
        InvalidInput: the encoding is unknown or the data is corrupt.
    """
    name = (encoding or "identity").strip().lower()
    if name in ("", "identity"):
        if len(raw) > limit:
            raise PayloadTooLarge(f"the request body is larger than {limit // 1024} KB")
        return raw
    if name not in ("gzip", "x-gzip", "deflate"):
        raise InvalidInput(f"unsupported Content-Encoding {encoding!r}; send gzip or nothing")
    wbits = 16 + zlib.MAX_WBITS if name != "deflate" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        body = inflater.decompress(raw, limit + 1)
    except zlib.error:
        raise InvalidInput(f"the body is not valid {name} data") from None
    if len(body) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"the decompressed request body is larger than {limit // 1024} KB")
    if not inflater.eof:
        raise InvalidInput(f"the body is truncated {name} data")
    if inflater.unused_data:
        # Bytes after the end of the stream (garbage, or a second gzip member) would otherwise
        # be dropped silently while the client is told its events were accepted.
        raise InvalidInput(f"the body has data after the end of the {name} stream")
    return body


def parse_json(body: bytes) -> Any:
    """
    Parse a JSON document, telling bad UTF-8 apart from bad JSON.

    Raises:
        InvalidInput: the body is empty, not UTF-8, or not JSON.
    """
    if not body.strip():
        raise InvalidInput("the request body is empty; send a JSON object")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidInput(f"the body is not valid UTF-8 (byte {error.start})") from None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidInput(f"the body is not valid JSON: {error}") from None
