"""
Restore links (`contract.md` §5.4): `/r/{token}`, one per touch so a click is attributed to its
step. The token names only the store and the touch (no personal data) and is signed with a salt
of its own; the first `CARTBACK_SECRET_KEY` signs and every configured key verifies.

A token carries the time it was signed. How long it lives is the store's setting
(`message_settings.restore_link_expiry`), judged when it is followed, so a merchant who shortens
it shortens the links already sent too. Tokens of the first version (`cartback.restore.v1`) had
no time: they are read as authentic but expired, so their page still links to the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cartback.domain.errors import InvalidInput
from cartback.kit.signing import Signer, TimedSigner

RESTORE_SALT = "cartback.restore.v2"
#: The first version's salt: its tokens never expired, so they are now read only as expired.
LEGACY_RESTORE_SALT = "cartback.restore.v1"
#: When a legacy token was signed, for the age check: so long ago that it is always expired.
_LEGACY_SIGNED_AT = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidRestoreLink(InvalidInput):
    """
    A restore token that no configured key signed, or that is malformed.
    """


@dataclass(frozen=True, kw_only=True, slots=True)
class RestoreTarget:
    """
    What a restore token names, and when it was signed.
    """

    store_id: str
    touch_id: str
    signed_at: datetime


class RestoreLinks:
    """
    Makes and reads restore tokens.
    """

    def __init__(self, *, secret_keys: Sequence[str], base_url: str) -> None:
        self._signer = TimedSigner(secret_keys, salt=RESTORE_SALT)
        self._legacy = Signer(secret_keys, salt=LEGACY_RESTORE_SALT)
        self._base_url = base_url.rstrip("/")

    def url(self, *, store_id: str, touch_id: str, now: datetime) -> str:
        """
        The public restore URL for one touch, signed at `now`.
        """
        return f"{self._base_url}/r/{self._signer.sign([store_id, touch_id], now=now)}"

    def read(self, token: str) -> RestoreTarget:
        """
        Whom a token names and when it was signed (its age is judged against the store's
        setting by the caller).

        Raises:
            InvalidRestoreLink: the token is not valid.
        """
        try:
            value, signed_at = self._signer.read(token)
        except ValueError:
            value, signed_at = self._read_legacy(token), _LEGACY_SIGNED_AT
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(part, str) for part in value)
        ):
            raise InvalidRestoreLink("this link is not valid")
        return RestoreTarget(store_id=value[0], touch_id=value[1], signed_at=signed_at)

    def _read_legacy(self, token: str) -> object:
        try:
            return self._legacy.read(token)
        except ValueError:
            raise InvalidRestoreLink("this link is not valid") from None
