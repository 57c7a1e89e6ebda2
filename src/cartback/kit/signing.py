"""
Signed tokens for links and forms (itsdangerous), with `CARTBACK_SECRET_KEY` rotation: the first
configured key signs, every configured key verifies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from itsdangerous import BadData, URLSafeSerializer

from cartback.domain.errors import ConfigurationError


def _rotation(secret_keys: Sequence[str]) -> list[str]:
    if not secret_keys:
        raise ConfigurationError("at least one secret key is needed")
    # itsdangerous signs with the last key of the list and tries all of them; ours is the first.
    return list(reversed(secret_keys))


class Signer:
    """
    Signs JSON-able values into URL-safe tokens that never expire (unsubscribe links must keep
    working: CAN-SPAM asks for at least 30 days, and a person may find an old email).
    """

    def __init__(self, secret_keys: Sequence[str], *, salt: str) -> None:
        self._serializer = URLSafeSerializer(_rotation(secret_keys), salt=salt)

    def sign(self, value: Any) -> str:
        """
        The token for a value.
        """
        token: str = self._serializer.dumps(value)
        return token

    def read(self, token: str) -> Any:
        """
        The value a token carries.

        Raises:
            ValueError: the token was not signed by any configured key, or is malformed.
        """
        try:
            return self._serializer.loads(token)
        except (BadData, UnicodeError):
            raise ValueError("the token is not valid") from None
