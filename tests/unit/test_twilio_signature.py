"""
`X-Twilio-Signature` against Twilio's published vectors (`tests/fixtures/twilio/`): the tests'
own signer computes them as Twilio documents, and the `RequestValidator` the webhook uses
accepts them, with and without an explicit port, and refuses a changed parameter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator

from cartback.api.routes.twilio import twiml
from twilio_signing import twilio_signature

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "twilio" / "signature_vectors.json").read_text()
)
TOKEN = VECTORS["auth_token"]
URL = VECTORS["url"]
PARAMS: dict[str, str] = VECTORS["params"]
VARIANTS = {v["case"]: v for v in VECTORS["variants"]}
MULTI = [tuple(pair) for pair in VARIANTS["duplicate/multi-valued params"]["params_multi"]]


def test_the_tests_signer_matches_the_published_signature() -> None:
    """
    The documented computation gives the published value.
    """
    assert VECTORS["expected_X-Twilio-Signature"] == twilio_signature(TOKEN, URL, PARAMS)


@pytest.mark.parametrize(
    "case", ["https with explicit :443", "http with explicit :80"], ids=["443", "80"]
)
def test_the_tests_signer_matches_the_published_port_variants(case: str) -> None:
    """
    The same parameters signed over the URL with an explicit default port.
    """
    variant = VARIANTS[case]
    assert variant["expected"] == twilio_signature(TOKEN, variant["signed_url"], PARAMS)


def test_the_tests_signer_matches_the_multi_valued_vector() -> None:
    """
    A repeated parameter counts each distinct value once, in order.
    """
    assert VARIANTS["duplicate/multi-valued params"]["expected"] == twilio_signature(
        TOKEN, URL, MULTI
    )


@pytest.mark.parametrize(
    "signature",
    [
        VECTORS["expected_X-Twilio-Signature"],
        VARIANTS["https with explicit :443"]["expected"],
    ],
    ids=["without-port", "with-port"],
)
def test_the_validator_accepts_the_published_signatures(signature: str) -> None:
    """
    The webhook's validator, given the form as the webhook parses it, accepts the signature
    made with or without the port.
    """
    assert RequestValidator(TOKEN).validate(URL, ImmutableMultiDict(PARAMS), signature)


def test_the_validator_accepts_the_multi_valued_vector() -> None:
    """
    The parsed form keeps every value of a repeated parameter, as the signature needs.
    """
    expected = VARIANTS["duplicate/multi-valued params"]["expected"]
    assert RequestValidator(TOKEN).validate(URL, ImmutableMultiDict(MULTI), expected)


@pytest.mark.parametrize(
    ("url", "params"),
    [
        (URL, {**PARAMS, "Digits": "1235"}),
        (URL.replace("foo=1", "foo=2"), PARAMS),
        ("https://mycompany.com/other.php?foo=1&bar=2", PARAMS),
    ],
    ids=["parameter", "query", "path"],
)
def test_the_validator_refuses_anything_changed(url: str, params: dict[str, str]) -> None:
    """
    One changed parameter, query value or path breaks the signature.
    """
    signature = VECTORS["expected_X-Twilio-Signature"]
    assert not RequestValidator(TOKEN).validate(url, ImmutableMultiDict(params), signature)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (None, '<?xml version="1.0" encoding="UTF-8"?><Response />'),
        (
            "Tom & Jerry's <shop>",
            '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Tom &amp; Jerry\'s '
            "&lt;shop&gt;</Message></Response>",
        ),
    ],
    ids=["empty", "escaped"],
)
def test_twiml_answers_are_empty_or_one_escaped_message(message: str | None, expected: str) -> None:
    """
    No answer is `<Response />`; a help text is one `<Message>`, XML-escaped.
    """
    assert expected == twiml(message)
