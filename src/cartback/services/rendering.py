"""
Rendering a touch's email: subject, preheader, an HTML part (CSS inlined with `css_inline`, the
media queries for narrow screens and dark mode kept in a `<style>` block) and a plain-text part
with the same content, in the message's locale.

Decisions a reader may look for:

- **Templates.** The built-in ones are package data (`cartback/messages/email/`), one per kind
  of email (`reminder`, `support`, `resolution`, `browse`, `back_in_stock`, `launch`); a flow's
  template name picks its kind by the words in it (`checkout-support-detailed` is a `support`
  email); a name with none of them gets the reminder's body under a neutral subject.
- **Store overrides** (`services.templates`) replace the subject, preheader, HTML body and text
  body they give, for their locale: the exact locale first, then its language, then `*`. They
  are rendered in Jinja2's sandbox. The frame around the body (header, footer with the postal
  address, the reason for the email and the unsubscribe link) is always Cartback's, so no
  template can drop what the law asks for. An override that fails at send time is logged and
  the built-in email goes instead.
- **Escaping.** Every HTML template renders with autoescape on. The subject, preheader and
  plain-text part are not markup: they render without HTML escaping (escaping would show
  `&amp;` to the reader), and the subject and preheader are folded onto one line so no text can
  add a header.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import css_inline
import structlog
from jinja2 import Environment, PackageLoader, StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from cartback.domain.consent import Channel
from cartback.services._email_context import Kind, email_context
from cartback.services._formatting import babel_locale, locale_tag
from cartback.services.message_parts import Rendered, RenderRequest, TemplateOverride
from cartback.services.message_settings import message_settings

log = structlog.get_logger(__name__)

#: The words of a template name that pick a built-in email, checked in this order.
_KIND_WORDS: tuple[tuple[str, Kind], ...] = (
    ("back_in_stock", Kind.BACK_IN_STOCK),
    ("back-in-stock", Kind.BACK_IN_STOCK),
    ("browse", Kind.BROWSE),
    ("launch", Kind.LAUNCH),
    ("resolution", Kind.RESOLUTION),
    ("support", Kind.SUPPORT),
    ("reminder", Kind.REMINDER),
)
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
_BLANK_LINES = re.compile(r"\n{3,}")
#: Attribute values holding `<` or `>` (rare: only those need escaping again).
_ATTRIBUTE = re.compile(r'="([^"<>]*[<>][^"]*)"')
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


def _environment(*, autoescape: bool) -> Environment:
    return Environment(
        loader=PackageLoader("cartback.messages", "email"),
        autoescape=autoescape,  # noqa: S701 - off only for plain text (module docstring)
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # Package files do not change while the process runs: no stat per render.
        auto_reload=False,
    )


_HTML = _environment(autoescape=True)
_TEXT = _environment(autoescape=False)
#: A merchant's HTML is sandboxed and escaped; their subject and text are sandboxed only.
SANDBOX_HTML = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)
SANDBOX_TEXT = SandboxedEnvironment(
    autoescape=False, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
)


def template_kind(name: str) -> Kind | None:
    """
    The built-in email a template name stands for, or None for a name Cartback does not know.
    """
    lowered = name.lower()
    return next((kind for word, kind in _KIND_WORDS if word in lowered), None)


def render_email(request: RenderRequest) -> Rendered:
    """
    The email for one touch, in the shopper's locale (else the store's message locale):
    subject, preheader, HTML with inlined CSS, and the plain-text part.
    """
    settings = message_settings(request.store)
    locale = babel_locale(request.locale or settings.locale)
    tag = locale_tag(locale)
    kind = template_kind(request.template)
    context = email_context(request, kind=kind, settings=settings, locale=locale)
    override = pick_override(request.overrides, name=request.template, locale=tag)
    parts = _override_parts(override, context, request) if override else {}
    subject = one_line(parts.get("subject") or context["subject"])
    preheader = one_line(parts.get("preheader") or context["preheader"])
    context = {**context, "subject": subject, "preheader": preheader}
    body_html = parts.get("html") or _builtin(_HTML, kind, "html", context)
    body_text = parts.get("text") or _builtin(_TEXT, kind, "txt", context)
    html = _HTML.get_template("layout.html.j2").render(context, body=Markup(body_html))  # noqa: S704 - rendered with autoescape
    text = _TEXT.get_template("layout.txt.j2").render(context, body=body_text.strip())
    return Rendered(
        subject=subject,
        preheader=preheader,
        html=_inlined(html),
        text=tidy_text(text),
        locale=tag,
    )


def pick_override(
    overrides: Sequence[TemplateOverride], *, name: str, locale: str
) -> TemplateOverride | None:
    """
    The store's email template for the name that fits the locale best: the exact locale, then
    its language (`de` for `de-AT`), then `*`.
    """
    mine = [o for o in overrides if o.channel is Channel.EMAIL and o.name == name]
    language = locale.split("-", maxsplit=1)[0].lower()
    for wanted in (locale.lower(), language, "*"):
        found = next((o for o in mine if o.locale.lower() == wanted), None)
        if found is not None:
            return found
    return None


def render_override_part(source: str, context: Mapping[str, Any], *, html: bool) -> str:
    """
    One part of a store's template rendered in the sandbox.

    Raises:
        jinja2.TemplateError: a syntax error, an undefined name or an unsafe access.
    """
    return _sandboxed(source, html).render(context)


@lru_cache(maxsize=256)
def _sandboxed(source: str, html: bool) -> Template:
    return (SANDBOX_HTML if html else SANDBOX_TEXT).from_string(source)


def _override_parts(
    override: TemplateOverride, context: Mapping[str, Any], request: RenderRequest
) -> dict[str, str]:
    sources = {
        "subject": (override.subject, False),
        "preheader": (override.preheader, False),
        "html": (override.html, True),
        "text": (override.text, False),
    }
    try:
        return {
            part: render_override_part(source, context, html=html)
            for part, (source, html) in sources.items()
            if source
        }
    except TemplateError as error:
        log.warning(
            "email.template.failed",
            store_id=request.store.id,
            template=override.name,
            locale=override.locale,
            error=str(error),
        )
        return {}


def _builtin(env: Environment, kind: Kind | None, suffix: str, context: Mapping[str, Any]) -> str:
    name = (kind or Kind.REMINDER).value
    return env.get_template(f"{name}.{suffix}.j2").render(context)


def _inlined(html: str) -> str:
    """
    The HTML with its CSS inlined. The inliner writes `<` and `>` in attribute values as they
    are (which HTML allows); they are escaped again so no `<script>` text appears anywhere.
    """
    inlined = _INLINER.inline(html)
    if "&lt;" not in html and "&gt;" not in html:
        return inlined  # nothing escaped went in: nothing to escape again (the common case)
    return _ATTRIBUTE.sub(
        lambda m: '="' + m.group(1).replace("<", "&lt;").replace(">", "&gt;") + '"', inlined
    )


def one_line(text: str) -> str:
    """
    The text on one line, runs of white space (line breaks included) as one space.
    """
    return " ".join(text.split())


def tidy_text(text: str) -> str:
    """
    A plain-text part without trailing spaces or runs of blank lines.
    """
    return _BLANK_LINES.sub("\n\n", _TRAILING_SPACE.sub("\n", text)).strip() + "\n"
