"""
`GET /static/cartback.js`: the storefront snippet served with the JavaScript media type, a day's
cache, an ETag that turns a revalidation into a 304, and gzip for clients that accept it.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cartback.api.routes.static import accepts_gzip, matches
from cartback.web import static_file

PATH = "/static/cartback.js"
PLAIN = {"Accept-Encoding": "identity"}


@pytest.fixture
def snippet() -> bytes:
    """
    The file as the package ships it.
    """
    return static_file("cartback.js")


def test_the_snippet_is_served_as_javascript(client: TestClient, snippet: bytes) -> None:
    """
    The body is the packaged file, typed `text/javascript`, not sniffable as anything else.
    """
    # given
    headers = PLAIN
    # when
    response = client.get(PATH, headers=headers)
    # then
    assert (200, snippet) == (response.status_code, response.content)
    assert "text/javascript; charset=utf-8" == response.headers["content-type"]
    assert "nosniff" == response.headers["x-content-type-options"]


def test_the_snippet_is_cached_for_a_day_and_carries_an_etag(client: TestClient) -> None:
    """
    Browsers and CDNs keep it a day and may serve it stale while they revalidate.
    """
    # given
    headers = PLAIN
    # when
    response = client.get(PATH, headers=headers)
    # then
    assert (
        "public, max-age=86400, stale-while-revalidate=604800" == response.headers["cache-control"]
    )
    assert response.headers["etag"].startswith('"')
    assert "Accept-Encoding" == response.headers["vary"]


def test_a_matching_etag_answers_304_without_a_body(client: TestClient) -> None:
    """
    Revalidating with the ETag it was given costs no body.
    """
    # given
    etag = client.get(PATH, headers=PLAIN).headers["etag"]
    # when
    response = client.get(PATH, headers={**PLAIN, "If-None-Match": etag})
    # then
    assert (304, b"", etag) == (response.status_code, response.content, response.headers["etag"])


def test_a_stale_etag_gets_the_whole_file(client: TestClient, snippet: bytes) -> None:
    """
    An ETag of an older version is answered with the current file.
    """
    # given
    headers = {**PLAIN, "If-None-Match": '"an-older-version"'}
    # when
    response = client.get(PATH, headers=headers)
    # then
    assert (200, snippet) == (response.status_code, response.content)


def test_gzip_is_sent_to_clients_that_accept_it(client: TestClient, snippet: bytes) -> None:
    """
    With `Accept-Encoding: gzip` the body is gzipped, under its own ETag.
    """
    # given
    plain_etag = client.get(PATH, headers=PLAIN).headers["etag"]
    # when
    response = client.get(PATH, headers={"Accept-Encoding": "gzip"})
    # then
    assert "gzip" == response.headers["content-encoding"]
    assert snippet == response.content  # the client undid the gzip
    assert int(response.headers["content-length"]) < len(snippet)
    assert plain_etag != response.headers["etag"]


def test_head_answers_the_headers_alone(client: TestClient, snippet: bytes) -> None:
    """
    HEAD tells the length and type without sending the file.
    """
    # given
    headers = PLAIN
    # when
    response = client.head(PATH, headers=headers)
    # then
    assert (200, b"") == (response.status_code, response.content)
    assert str(len(snippet)) == response.headers["content-length"]
    assert "text/javascript; charset=utf-8" == response.headers["content-type"]


def test_a_shop_on_another_origin_may_load_it_cross_origin(client: TestClient) -> None:
    """
    `crossorigin` script tags (for SRI) and cross-origin-isolated shops can load it.
    """
    # given
    headers = {**PLAIN, "Origin": "https://shop.example.com"}
    # when
    response = client.get(PATH, headers=headers)
    # then
    assert ("*", "cross-origin") == (
        response.headers["access-control-allow-origin"],
        response.headers["cross-origin-resource-policy"],
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip;q=zero", False),
        ("identity", False),
        ("", False),
    ],
)
def test_accept_encoding_is_read_with_its_quality(header: str, expected: bool) -> None:
    """
    gzip is chosen when named (or `*`) with a non-zero quality.
    """
    # given
    # when
    actual = accepts_gzip(header)
    # then
    assert expected == actual


@pytest.mark.parametrize(
    ("header", "expected"),
    [('"abc"', True), ('W/"abc"', True), ('"x", "abc"', True), ("*", True), ('"abd"', False)],
)
def test_if_none_match_uses_the_weak_comparison(header: str, expected: bool) -> None:
    """
    A weak or listed tag matches; another tag does not.
    """
    # given
    etag = '"abc"'
    # when
    actual = matches(header, etag)
    # then
    assert expected == actual


@pytest.mark.parametrize("name", ["../__init__.py", "..\\__init__.py", ".hidden", "missing.js"])
def test_only_files_inside_static_are_read(name: str) -> None:
    """
    A name that climbs out of `static/`, or names no file, is not found.
    """
    # given
    # when
    with pytest.raises(FileNotFoundError) as raised:
        static_file(name)
    # then
    assert raised.type is FileNotFoundError


def test_an_unknown_static_path_is_404(client: TestClient) -> None:
    """
    Only the snippet is served under `/static/`.
    """
    # given
    path = "/static/other.js"
    # when
    response = client.get(path)
    # then
    assert 404 == response.status_code


def test_the_capture_widgets_are_served_with_the_snippets_rules(client: TestClient) -> None:
    """
    `/static/cartback-capture.js`, which the snippet loads, is the packaged file with the same
    type, day's cache, ETag revalidation and cross-origin headers.
    """
    # given
    path = "/static/cartback-capture.js?v=0.1.0"
    first = client.get(path, headers=PLAIN)
    # when
    again = client.get(path, headers={**PLAIN, "If-None-Match": first.headers["etag"]})
    # then
    assert (200, static_file("cartback-capture.js")) == (first.status_code, first.content)
    assert (
        "text/javascript; charset=utf-8",
        "public, max-age=86400, stale-while-revalidate=604800",
        "*",
    ) == (
        first.headers["content-type"],
        first.headers["cache-control"],
        first.headers["access-control-allow-origin"],
    )
    assert (304, b"") == (again.status_code, again.content)
    assert first.headers["etag"] != client.get(PATH, headers=PLAIN).headers["etag"]
