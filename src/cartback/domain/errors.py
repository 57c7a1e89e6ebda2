"""
The one error hierarchy. Each docstring is the default message; `api/errors.py` maps them to
RFC 9457 problems and the CLI prints them as one line.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class FieldError:
    """
    One invalid field: where it is and what is wrong with it.
    """

    path: str
    message: str
    index: int | None = None


class CartbackError(Exception):
    """
    Something went wrong in Cartback.
    """

    slug = "error"

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or (type(self).__doc__ or "").strip()
        super().__init__(self.detail)


class InvalidInput(CartbackError):
    """
    The request is not valid.
    """

    slug = "invalid-request"

    def __init__(
        self, detail: str | None = None, *, errors: list[FieldError] | None = None
    ) -> None:
        super().__init__(detail)
        self.errors = errors or []


class PayloadTooLarge(CartbackError):
    """
    The request body is larger than allowed.
    """

    slug = "payload-too-large"


class Unauthenticated(CartbackError):
    """
    A valid key is required.
    """

    slug = "unauthenticated"


class Forbidden(CartbackError):
    """
    This key may not be used here.
    """

    slug = "forbidden"


class NotFound(CartbackError):
    """
    No such object in this store.
    """

    slug = "not-found"


class Conflict(CartbackError):
    """
    The object already exists.
    """

    slug = "conflict"


class RateLimited(CartbackError):
    """
    Too many requests; retry later.
    """

    slug = "rate-limited"

    def __init__(self, detail: str | None = None, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class ServiceUnavailable(CartbackError):
    """
    The service cannot handle the request right now; retry later.
    """

    slug = "unavailable"


class ConfigurationError(CartbackError):
    """
    The configuration is not valid.
    """

    slug = "configuration"


class DatabaseNotMigrated(CartbackError):
    """
    The database is not migrated; run `cartback migrate` first.
    """

    slug = "not-migrated"


class AdsError(CartbackError):
    """
    An ad network did not take a change to an audience. `transient` errors (rate limits, 5xx,
    timeouts) are tried again on a later pass, after `retry_after` seconds when the network
    said; others are final, and `reason` carries the network's own message (never a token).
    """

    slug = "ads-network"

    def __init__(
        self, reason: str, *, transient: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.retry_after = retry_after
