"""
Signing requests the way Twilio documents `X-Twilio-Signature`, independently of the `twilio`
library the service verifies with: base64 of HMAC-SHA1, keyed with the auth token, over the
full URL followed by each parameter's name and value, sorted by name (and, for a repeated
name, by value). `tests/unit/test_twilio_signature.py` pins it to the published vectors.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping


def twilio_signature(
    token: str, url: str, params: Mapping[str, str] | Iterable[tuple[str, str]]
) -> str:
    """
    The `X-Twilio-Signature` Twilio would send for a form POST of `params` to `url`.
    """
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    text = url + "".join(name + value for name, value in sorted(set(pairs)))
    digest = hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()
