"""
Request bodies (`sources/_body.py`): gzip and deflate with bomb protection, then UTF-8 and JSON,
each refused with a clear reason.
"""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import pytest

from cartback.domain.errors import InvalidInput, PayloadTooLarge
from cartback.sources._body import decompress, parse_json

LIMIT = 500 * 1024
BODY = b'{"batch": [{"type": "track", "event": "Product Added"}]}'


@pytest.mark.parametrize("encoding", [None, "", "identity", " Identity "])
def test_a_plain_body_passes_through(encoding: str | None) -> None:
    """
    Without a content encoding the bytes are the body.
    """
    # given / when
    body = decompress(BODY, encoding=encoding, limit=LIMIT)
    # then
    assert BODY == body


def test_a_plain_body_over_the_limit_is_too_large() -> None:
    """
    An uncompressed body over the limit is refused, naming the limit in KB.
    """
    # given
    raw = b"x" * (LIMIT + 1)
    # when / then
    with pytest.raises(PayloadTooLarge, match="larger than 500 KB"):
        decompress(raw, encoding=None, limit=LIMIT)


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("GZIP", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
    ],
)
def test_compressed_bodies_are_inflated(encoding: str, compress: Any) -> None:
    """
    gzip (any case, or its x-gzip alias) and deflate bodies are inflated.
    """
    # given
    raw = compress(BODY)
    # when
    body = decompress(raw, encoding=encoding, limit=LIMIT)
    # then
    assert BODY == body


def test_a_body_inflating_to_exactly_the_limit_is_accepted() -> None:
    """
    The limit itself is allowed.
    """
    # given
    raw = gzip.compress(b"a" * LIMIT)
    # when
    body = decompress(raw, encoding="gzip", limit=LIMIT)
    # then
    assert LIMIT == len(body)


def test_a_gzip_bomb_is_refused_as_too_large() -> None:
    """
    A few KB that inflate to 50 MB are refused, not inflated.
    """
    # given
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))
    assert len(bomb) < 100 * 1024
    # when / then
    with pytest.raises(PayloadTooLarge, match="decompressed request body is larger than 500 KB"):
        decompress(bomb, encoding="gzip", limit=LIMIT)


def test_one_byte_over_the_limit_after_inflating_is_too_large() -> None:
    """
    The limit holds to the byte after decompression.
    """
    # given
    raw = gzip.compress(b"a" * (LIMIT + 1))
    # when / then
    with pytest.raises(PayloadTooLarge):
        decompress(raw, encoding="gzip", limit=LIMIT)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"this is not gzip", "not valid gzip data"),
        (gzip.compress(BODY)[:-12], "truncated gzip data"),
        (b"", "truncated gzip data"),
        (gzip.compress(BODY) + b"trailing", "data after the end of the gzip stream"),
        (gzip.compress(BODY) + gzip.compress(BODY), "data after the end of the gzip stream"),
    ],
    ids=["corrupt", "truncated", "empty", "trailing-garbage", "second-member"],
)
def test_broken_gzip_is_invalid_input(raw: bytes, message: str) -> None:
    """
    Corrupt, truncated or over-long gzip data is refused with the reason.
    """
    # given / when / then
    with pytest.raises(InvalidInput, match=message):
        decompress(raw, encoding="gzip", limit=LIMIT)


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, br"])
def test_an_unsupported_encoding_is_refused(encoding: str) -> None:
    """
    Only gzip (and deflate) are understood; others are refused with advice.
    """
    # given / when / then
    with pytest.raises(InvalidInput, match="unsupported Content-Encoding"):
        decompress(BODY, encoding=encoding, limit=LIMIT)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (BODY, {"batch": [{"type": "track", "event": "Product Added"}]}),
        (b"  [1, 2]\n", [1, 2]),
        ('{"name": "Müsli"}'.encode(), {"name": "Müsli"}),
    ],
)
def test_json_bodies_parse(body: bytes, expected: Any) -> None:
    """
    A UTF-8 JSON document parses to its value.
    """
    # given / when
    document = parse_json(body)
    # then
    assert expected == document


@pytest.mark.parametrize("body", [b"", b"   \n\t"])
def test_an_empty_body_is_refused(body: bytes) -> None:
    """
    Nothing to parse is its own error.
    """
    # given / when / then
    with pytest.raises(InvalidInput, match="empty"):
        parse_json(body)


def test_a_non_utf8_body_is_refused_naming_the_byte() -> None:
    """
    Latin-1 text is told apart from bad JSON, with the offending byte's position.
    """
    # given
    body = '{"name": "Müsli"}'.encode("latin-1")
    # when / then
    with pytest.raises(InvalidInput, match=r"not valid UTF-8 \(byte 11\)"):
        parse_json(body)


@pytest.mark.parametrize("body", [b"{", b"{'a': 1}", b"[1,]", b"NaN", b'{"a": 1} {"b": 2}'])
def test_invalid_json_is_refused(body: bytes) -> None:
    """
    Text that is not JSON is refused as such.
    """
    # given / when / then
    with pytest.raises(InvalidInput, match="not valid JSON"):
        parse_json(body)
