"""
Signed tokens for links and forms (itsdangerous), with `CARTBACK_SECRET_KEY` rotation: the first
configured key signs, every configured key verifies.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from itsdangerous import BadData, TimestampSigner, URLSafeSerializer, URLSafeTimedSerializer

from cartback.domain.errors import ConfigurationError
from cartback.domain.time import check_aware


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


class _SignedAt(TimestampSigner):
    """
    A timestamp signer that stamps the caller's time (its clock) instead of `time.time()`.
    """

    def __init__(self, *args: Any, timestamp: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timestamp = timestamp

    def get_timestamp(self) -> int:
        """
        The time given to the signer, in whole seconds since the epoch.
        """
        return self._timestamp


class TimedSigner:
    """
    Signs JSON-able values into URL-safe tokens that carry the time they were signed, so a
    reader can refuse old ones (restore links: their lifetime is a store setting, so the age is
    judged by the reader, not fixed in the token).
    """

    def __init__(self, secret_keys: Sequence[str], *, salt: str) -> None:
        self._keys = _rotation(secret_keys)
        self._salt = salt
        self._serializer = URLSafeTimedSerializer(self._keys, salt=salt)

    def sign(self, value: Any, *, now: datetime) -> str:
        """
        The token for a value, stamped with `now` (aware).
        """
        check_aware(now, "now")
        serializer = URLSafeTimedSerializer(
            self._keys,
            salt=self._salt,
            signer=_SignedAt,
            signer_kwargs={"timestamp": int(now.timestamp())},
        )
        token: str = serializer.dumps(value)
        return token

    def read(self, token: str) -> tuple[Any, datetime]:
        """
        The value a token carries and when it was signed (UTC).

        Raises:
            ValueError: the token was not signed by any configured key, or is malformed.
        """
        try:
            value, signed_at = self._serializer.loads(token, return_timestamp=True)
        except (BadData, UnicodeError, OverflowError, ValueError):
            raise ValueError("the token is not valid") from None
        return value, signed_at
