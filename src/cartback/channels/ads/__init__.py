"""
Ad networks' audience lists: Meta Custom Audiences (`meta.py`) and Google Ads Customer Match
(`google.py`), both `AudiencePusher`s that take SHA-256 hashed identifiers in batches within
each network's documented limits and retry rate limits and server errors a few times.
"""

from __future__ import annotations

from cartback.channels.ads.google import GoogleAudiencePusher
from cartback.channels.ads.meta import MetaAudiencePusher

__all__ = ["GoogleAudiencePusher", "MetaAudiencePusher"]
