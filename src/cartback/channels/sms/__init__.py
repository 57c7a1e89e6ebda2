"""
Text message channels: Twilio's Messages API.
"""

from __future__ import annotations

from cartback.channels.sms.twilio import TwilioAccount, TwilioChannel

__all__ = ["TwilioAccount", "TwilioChannel"]
