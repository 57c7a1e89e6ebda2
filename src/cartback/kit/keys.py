"""
API keys and secrets: generated with enough entropy to store only a digest, and webhook secrets
sealed with the service's secret key (they must be read back to check signatures).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from cartback.domain.errors import ConfigurationError
from cartback.domain.stores import KeyKind

#: Characters shown to identify a key in listings (`cb_sk_ab12…`).
SHOWN_PREFIX_LENGTH = 12


def generate_key(kind: KeyKind) -> str:
    """
    A new API key: its kind's prefix and 256 random bits.
    """
    return kind.prefix + secrets.token_urlsafe(32)


def generate_webhook_secret() -> str:
    """
    A new webhook signing secret (`whsec_` and 192 random bits, base64 like Standard Webhooks).
    """
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def digest_key(key: str) -> str:
    """
    The stored form of a key. A plain SHA-256 suffices: keys carry 256 random bits, so there is
    nothing to brute-force, and the lookup is by digest, so no comparison leaks timing.
    """
    return hashlib.sha256(key.encode()).hexdigest()


def shown_prefix(key: str) -> str:
    """
    The part of a key safe to show again.
    """
    return key[:SHOWN_PREFIX_LENGTH]


class SecretBox:
    """
    Seals small secrets at rest with keys derived from `CARTBACK_SECRET_KEY`; the first key seals,
    every key opens, so rotating the secret key keeps old secrets readable.
    """

    def __init__(self, secret_keys: Sequence[str]) -> None:
        if not secret_keys:
            raise ConfigurationError("at least one secret key is needed")
        self._fernet = MultiFernet([Fernet(_derive(k)) for k in secret_keys])

    def seal(self, plaintext: str) -> str:
        """
        Encrypt and authenticate.
        """
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        """
        Decrypt a sealed value.

        Raises:
            ConfigurationError: no configured key opens it (the key was replaced, not rotated).
        """
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise ConfigurationError(
                "a stored secret cannot be opened with CARTBACK_SECRET_KEY; "
                "keep the old key in the list when rotating"
            ) from None


def _derive(secret_key: str) -> bytes:
    digest = hashlib.sha256(b"cartback.secret-box\x00" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest)
