"""
Link scanners and previewers: software that opens a link before (or instead of) the person it
was sent to. A restore link opened by one of them is not a click, but it still gets its
redirect (a scanner that is refused may quarantine the whole email).

What is listed, and why (matched case-insensitively anywhere in the `User-Agent`):

- Mail security gateways that open every link of an incoming email: Microsoft Defender Safe
  Links and Office/Outlook link previews (`Microsoft Office`, `ms-office`, `Safe Links`,
  `BingPreview`), Proofpoint URL Defense, Mimecast, Barracuda, Cisco IronPort/Secure Email,
  Trend Micro, Symantec/Broadcom, Sophos, FireEye/Trellix, Forcepoint, Zscaler.
- Chat and social apps that fetch a pasted link to draw its preview card: Slackbot
  (`Slackbot-LinkExpanding`), `facebookexternalhit` and `Facebot`, `WhatsApp`, `Twitterbot`,
  `TelegramBot`, `Discordbot`, `LinkedInBot`, `SkypeUriPreview`, `Applebot` (Messages and
  Mail previews), `Iframely`, `Embedly`, `redditbot`, `Pinterestbot`, `vkShare`. Apps whose
  in-app browser people read with (Snapchat, Viber, Facebook's `FBAN`) are not listed.
- Search engines' preview and crawl bots: `Googlebot`, `Google-Safety`, `Google-InspectionTool`,
  `GoogleImageProxy`, `AdsBot-Google`, `bingbot`, `YandexBot`, `DuckDuckBot`, `Baiduspider`.
- Generic fetchers no person uses to read mail: `curl/`, `Wget/`, `python-requests`,
  `python-httpx`, `Go-http-client`, `okhttp`, `Java/`, `libwww-perl`, `HeadlessChrome`,
  `PhantomJS`, and any agent calling itself a `bot` (a word, or `…bot/1.0`; not a phone model
  such as `CUBOT`), `crawler`, `spider` or `preview`.
- No `User-Agent` at all (every browser sends one).

A person whose browser is misread here loses only the click count, never the cart.
"""

from __future__ import annotations

import re

#: Fragments of known scanners' and previewers' agents (see the module's docstring).
SCANNER_AGENTS: tuple[str, ...] = (
    # Mail security gateways and Office link previews.
    "microsoft office",
    "ms-office",
    "safe links",
    "safelinks",
    "bingpreview",
    "proofpoint",
    "urldefense",
    "mimecast",
    "barracuda",
    "ironport",
    "cisco secure email",
    "trend micro",
    "trendmicro",
    "symantec",
    "broadcom",
    "sophos",
    "fireeye",
    "trellix",
    "forcepoint",
    "zscaler",
    # Chat and social link previews.
    "slackbot",
    "slack-imgproxy",
    "facebookexternalhit",
    "facebot",
    "whatsapp",
    "twitterbot",
    "telegrambot",
    "discordbot",
    "linkedinbot",
    "skypeuripreview",
    "applebot",
    "iframely",
    "embedly",
    "redditbot",
    "pinterestbot",
    "vkshare",
    # Search engines' bots.
    "googlebot",
    "google-safety",
    "google-inspectiontool",
    "googleimageproxy",
    "adsbot-google",
    "bingbot",
    "yandexbot",
    "duckduckbot",
    "baiduspider",
    # Generic fetchers.
    "curl/",
    "wget/",
    "python-requests",
    "python-httpx",
    "python-urllib",
    "go-http-client",
    "okhttp",
    "java/",
    "libwww-perl",
    "headlesschrome",
    "phantomjs",
)

#: Agents that say what they are in a word (`SomeBot/1.0`, `ExampleCrawler`, `LinkPreview`).
_SELF_DECLARED = re.compile(r"(?:^|[^a-z])bot\b|bot/\d|crawler|spider|preview", re.IGNORECASE)


def is_link_scanner(user_agent: str | None) -> bool:
    """
    Whether a request's `User-Agent` is a link scanner or previewer rather than a person's
    browser (an empty or missing agent counts as one).
    """
    agent = (user_agent or "").strip().lower()
    if not agent:
        return True
    return any(fragment in agent for fragment in SCANNER_AGENTS) or bool(
        _SELF_DECLARED.search(agent)
    )


__all__ = ["SCANNER_AGENTS", "is_link_scanner"]
