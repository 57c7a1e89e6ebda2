"""
Opting out and back in, as pure decisions: what an SMS reply asks for (the carrier keywords),
and which ledger claims a choice on the email preference page stands for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cartback.domain.consent import Channel, ConsentClaim, Permission, Purpose


class KeywordAction(StrEnum):
    """
    What an SMS keyword asks for.
    """

    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


#: Twilio's default keywords for long codes (and CTIA's), matched on the whole trimmed body in
#: any case, as carriers and Twilio itself match them.
SMS_KEYWORDS: dict[str, KeywordAction] = {
    **dict.fromkeys(
        ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"),
        KeywordAction.OPT_OUT,
    ),
    **dict.fromkeys(("START", "UNSTOP", "YES"), KeywordAction.OPT_IN),
    **dict.fromkeys(("HELP", "INFO"), KeywordAction.HELP),
}

#: The keyword that also confirms pending double opt-in requests.
CONFIRM_KEYWORD = "YES"

#: The ledger source of a keyword reply.
SMS_KEYWORD_SOURCE = "sms_keyword"


def sms_keyword(body: str) -> str | None:
    """
    The keyword an SMS body is (upper case), or None when it is anything else.

    Only the whole body counts, trimmed, in any case: "Stop" is STOP, "please stop" is a reply
    the merchant reads (Twilio matches the same way, so the two never disagree).
    """
    word = body.strip().upper()
    return word if word in SMS_KEYWORDS else None


def opt_out_claims(*, text: str, source: str, at: datetime, channel: Channel) -> list[ConsentClaim]:
    """
    Withdrawals of both purposes on a channel, with the words that asked for them.
    """
    return [
        ConsentClaim(
            channel=channel,
            purpose=purpose,
            granted=False,
            text=text,
            source=source,
            occurred_at=at,
        )
        for purpose in Purpose
    ]


class Preference(StrEnum):
    """
    The choices on the email preference page.
    """

    RECOVERY = "recovery"  # reminders about a cart left behind, nothing else
    EVERYTHING = "everything"  # recovery and marketing
    NOTHING = "nothing"  # no email at all (and on the suppression list)

    @property
    def grants(self) -> bool:
        """
        Whether choosing it grants anything (so the form must prove it came from the page).
        """
        return self is not Preference.NOTHING


#: What each preference says about each purpose.
_GRANTED: dict[Preference, dict[Purpose, bool]] = {
    Preference.RECOVERY: {Purpose.RECOVERY: True, Purpose.MARKETING: False},
    Preference.EVERYTHING: {Purpose.RECOVERY: True, Purpose.MARKETING: True},
    Preference.NOTHING: {Purpose.RECOVERY: False, Purpose.MARKETING: False},
}


@dataclass(frozen=True, kw_only=True, slots=True)
class Evidence:
    """
    Where a choice was made: the words shown, the source, the client.
    """

    text: str
    source: str
    at: datetime
    client_ip: str | None = None
    user_agent: str | None = None
    text_version: str | None = None
    locale: str | None = None


def preference_claims(
    preference: Preference, *, channel: Channel, evidence: Evidence
) -> list[ConsentClaim]:
    """
    The ledger claims a preference stands for: a grant or a withdrawal of each purpose.
    """
    return [
        ConsentClaim(
            channel=channel,
            purpose=purpose,
            granted=granted,
            text=evidence.text,
            text_version=evidence.text_version,
            locale=evidence.locale,
            source=evidence.source,
            occurred_at=evidence.at,
            client_ip=evidence.client_ip,
            user_agent=evidence.user_agent,
        )
        for purpose, granted in _GRANTED[preference].items()
    ]


def current_preference(*, recovery: Permission, marketing: Permission) -> Preference:
    """
    The choice that describes what a contact gets now (preselected on the page).
    """
    if marketing.allowed:
        return Preference.EVERYTHING
    if recovery.allowed:
        return Preference.RECOVERY
    return Preference.NOTHING
