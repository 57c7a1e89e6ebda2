"""
Restore links (`contract.md` §5.4): `/r/{token}`, one per touch so a click is attributed to its
step. The token names only the store and the touch (no personal data) and is signed with a salt
of its own; the first `CARTBACK_SECRET_KEY` signs and every configured key verifies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cartback.domain.errors import InvalidInput
from cartback.kit.signing import Signer

RESTORE_SALT = "cartback.restore.v1"


class InvalidRestoreLink(InvalidInput):
    """
    A restore token that no configured key signed, or that is malformed.
    """


@dataclass(frozen=True, kw_only=True, slots=True)
class RestoreTarget:
    """
    What a restore token names.
    """

    store_id: str
    touch_id: str


class RestoreLinks:
    """
    Makes and reads restore tokens.
    """

    def __init__(self, *, secret_keys: Sequence[str], base_url: str) -> None:
        self._signer = Signer(secret_keys, salt=RESTORE_SALT)
        self._base_url = base_url.rstrip("/")

    def url(self, *, store_id: str, touch_id: str) -> str:
        """
        The public restore URL for one touch.
        """
        return f"{self._base_url}/r/{self._signer.sign([store_id, touch_id])}"

    def read(self, token: str) -> RestoreTarget:
        """
        Whom a token names.

        Raises:
            InvalidRestoreLink: the token is not valid.
        """
        try:
            store_id, touch_id = self._signer.read(token)
            if not isinstance(store_id, str) or not isinstance(touch_id, str):
                raise ValueError("not ids")
        except (ValueError, TypeError):
            raise InvalidRestoreLink("this link is not valid") from None
        return RestoreTarget(store_id=store_id, touch_id=touch_id)
