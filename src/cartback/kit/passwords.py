"""
Operators' password hashes: argon2id (RFC 9106) through argon2-cffi, with its default
parameters (which follow the RFC's recommendations and move with the library's releases; a hash
made with older parameters is replaced at the next sign-in), or another of its profiles
(`CARTBACK_PASSWORD_HASH_PROFILE`; `cheapest` for test suites, refused in production).
"""

from __future__ import annotations

import secrets
from functools import cached_property

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Argon2Hasher:
    """
    Hashes and checks passwords; `waste` spends a verification's time for unknown accounts.
    """

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()

    @classmethod
    def for_profile(cls, profile: str) -> Argon2Hasher:
        """
        A hasher with one of argon2-cffi's parameter profiles (`rfc_9106_low_memory`,
        `rfc_9106_high_memory`, `cheapest`).
        """
        parameters = getattr(profiles, profile.upper())
        return cls(PasswordHasher.from_parameters(parameters))

    @cached_property
    def _decoy(self) -> str:
        # A hash of a random password with the same parameters: verifying against it costs
        # what a real verification costs, and never succeeds.
        return self._hasher.hash(secrets.token_urlsafe(32))

    def hash(self, password: str) -> str:
        """
        A new salted hash of the password (PHC string format).
        """
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        """
        True when the password matches the hash.
        """
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """
        True when the hash was made with other parameters than today's.
        """
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    def waste(self, password: str) -> None:
        """
        Verify against a decoy, so a sign-in for an unknown email takes as long as one for a
        known email (no account enumeration by timing).
        """
        self.verify(self._decoy, password)
