"""
The unsubscribe pages (`contract.md` §5.4): `GET /u/{token}` shows a page, `POST /u/{token}`
acts. Pages for people, never problem documents: a bad link gets a friendly page that links
nowhere.

- GET changes nothing (mail scanners and link previews fetch every link in a message): it
  shows the one-click button and the preference form, the current state preselected.
- POST without a choice unsubscribes at once: RFC 8058's `List-Unsubscribe=One-Click` body
  (sent by the mailbox provider, no cookies, no page), an empty body, or the page's button.
- POST with a choice records it. Choosing "nothing" is the same as the button. Choices that
  grant something ("recovery only", "everything") must prove they come from the page: a form
  token the page embeds (signed, bound to this link, two hours old at most), and no foreign
  `Origin` or cross-site `Sec-Fetch-Site`. A cross-site form, or a script holding only the
  link, can therefore do no more than the one-click POST already allows: unsubscribe.
  A CSRF cookie would add nothing here: the link itself is the credential, and RFC 8058
  forbids the one-click POST from depending on cookies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse

from cartback.api._page_texts import LOCALES, TEXTS, negotiate
from cartback.api.pages import render_page
from cartback.api.routes.ingest import read_body
from cartback.api.state import app_state
from cartback.domain.consent import Channel
from cartback.domain.errors import CartbackError, NotFound, PayloadTooLarge
from cartback.domain.optouts import Preference
from cartback.services.unsubscribe import (
    ONE_CLICK_TEXT,
    InvalidLink,
    LinkTarget,
    Subscription,
    UnsubscribeLinks,
    choose_preference,
    view_subscription,
)

router = APIRouter(tags=["unsubscribe"])

#: The version of the pages' words recorded with a choice made on them (bump it with the words).
PAGE_TEXT_VERSION = "unsubscribe-page/1"

#: A form with three short fields; anything larger is not one.
MAX_FORM_BYTES = 8 * 1024
_HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
_PAGES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The page.", **_HTML},
    400: {"description": "A link that is not valid, or a form to fill in again.", **_HTML},
    403: {"description": "A choice posted from another site: confirm it on the page.", **_HTML},
    404: {"description": "Nobody behind the link any more (erased).", **_HTML},
    413: {"description": "A body too large to be the form.", **_HTML},
}


def unsubscribe_links(request: Request) -> UnsubscribeLinks:
    """
    The app's unsubscribe link signer (built from the settings in `create_app`).
    """
    links: UnsubscribeLinks = request.app.state.unsubscribe_links
    return links


@dataclass(frozen=True, kw_only=True, slots=True)
class _Page:
    """
    A request's link, language and the words in it.
    """

    token: str
    lang: str

    @property
    def texts(self) -> dict[str, str]:
        return TEXTS[self.lang]


@router.get(
    "/u/{token}",
    response_class=HTMLResponse,
    responses=_PAGES,
    summary="Show the unsubscribe page",
)
def show_page(token: str, request: Request) -> HTMLResponse:
    """
    The unsubscribe button and the preference form, in the browser's language. Changes nothing.
    """
    page = _Page(token=token, lang=negotiate(request.headers.get("accept-language")))
    state = app_state(request)
    try:
        target = _target(unsubscribe_links(request), token)
        subscription = view_subscription(
            uow=state.container.uow_factory(read_only=True), target=target
        )
    except InvalidLink:
        return _invalid(page)
    except NotFound:
        return _gone(page)
    return _form(request, page, subscription, status=200)


@router.post(
    "/u/{token}",
    response_class=HTMLResponse,
    responses=_PAGES,
    summary="Unsubscribe (RFC 8058 one-click) or save a preference",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "List-Unsubscribe": {"type": "string", "enum": ["One-Click"]},
                            "choice": {"type": "string", "enum": [p.value for p in Preference]},
                            "lang": {"type": "string", "enum": list(LOCALES)},
                            "form_token": {"type": "string"},
                        },
                    }
                }
            }
        }
    },
)
async def post_page(token: str, request: Request) -> HTMLResponse:
    """
    Without a choice: unsubscribe from every email of the store at once. With one: save it.
    """
    page = _Page(token=token, lang=negotiate(request.headers.get("accept-language")))
    try:
        target = _target(unsubscribe_links(request), token)
    except InvalidLink:
        return _invalid(page)
    try:
        fields = await _fields(request)
    except PayloadTooLarge:
        return _invalid(page, status=413)
    except (CartbackError, HTTPException, ValueError):
        return _invalid(page)
    lang = fields.get("lang", "")
    if lang in LOCALES:
        page = _Page(token=token, lang=lang)
    return await run_in_threadpool(_act, request, page, target, fields, lang in LOCALES)


def _act(
    request: Request, page: _Page, target: LinkTarget, fields: dict[str, str], from_page: bool
) -> HTMLResponse:
    state = app_state(request)
    try:
        subscription = view_subscription(
            uow=state.container.uow_factory(read_only=True), target=target
        )
    except NotFound:
        return _gone(page)
    raw = fields.get("choice", "")
    if not raw:
        if not from_page:
            return _choose(request, page, target, Preference.NOTHING, ONE_CLICK_TEXT, on_page=False)
        text = _words(page, subscription, "unsubscribe")
        return _choose(request, page, target, Preference.NOTHING, text)
    try:
        preference = Preference(raw)
    except ValueError:
        return _form(request, page, subscription, status=400, notice=page.texts["choose"])
    if preference.grants:
        refusal = _refusal(request, page, fields.get("form_token", ""))
        if refusal is not None:
            status, notice = refusal
            return _form(request, page, subscription, status=status, notice=notice)
    text = f"{_words(page, subscription, 'legend')} {page.texts[preference.value]}"
    return _choose(request, page, target, preference, text)


def _refusal(request: Request, page: _Page, form_token: str) -> tuple[int, str] | None:
    """
    Why a granting choice is refused (status and notice), or None: it must come from this
    page, shown within the form's lifetime, on this site.
    """
    if _cross_site(request):
        return 403, page.texts["confirm"]
    now = app_state(request).container.clock.now()
    if not unsubscribe_links(request).form_is_valid(form_token, page.token, now=now):
        return 400, page.texts["expired"]
    return None


def _cross_site(request: Request) -> bool:
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False  # not a browser's cross-site form (browsers send Origin on POST)
    allowed = {
        _origin(str(request.base_url)),
        _origin(app_state(request).container.settings.base_url),
    }
    return origin.rstrip("/").lower() not in allowed


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _choose(
    request: Request,
    page: _Page,
    target: LinkTarget,
    preference: Preference,
    text: str,
    *,
    on_page: bool = True,
) -> HTMLResponse:
    """
    Record the choice; words shown on the page carry their version and language.
    """
    container = app_state(request).container
    try:
        chosen = choose_preference(
            uow=container.uow_factory(),
            clock=container.clock,
            target=target,
            preference=preference,
            text=text,
            client_ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
            text_version=PAGE_TEXT_VERSION if on_page else None,
            locale=page.lang if on_page else None,
        )
    except NotFound:
        return _gone(page)
    return _done(page, chosen)


async def _fields(request: Request) -> dict[str, str]:
    """
    The posted fields (first value of each): URL-encoded, or multipart as RFC 8058 also allows.
    """
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
            raise PayloadTooLarge("too large")
        form = await request.form(max_files=0, max_fields=20)
        return {k: v for k, v in reversed(form.multi_items()) if isinstance(v, str)}
    body = await read_body(request, limit=MAX_FORM_BYTES)
    pairs = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return dict(reversed(pairs))


def _target(links: UnsubscribeLinks, token: str) -> LinkTarget:
    target = links.read(token)
    if target.channel is not Channel.EMAIL:
        raise InvalidLink("only email links have a page")
    return target


def _words(page: _Page, subscription: Subscription, key: str) -> str:
    return page.texts[key].format(store=subscription.store.name)


def _mask(address: str | None) -> str:
    """
    An address as the page shows it: enough to recognise, not enough to harvest.
    """
    if not address:
        return ""
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else f"•••{address[-4:]}"


def _form(
    request: Request, page: _Page, subscription: Subscription, *, status: int, notice: str = ""
) -> HTMLResponse:
    texts, store = page.texts, subscription.store.name
    now = app_state(request).container.clock.now()
    options = [
        {"value": p.value, "label": texts[p.value], "current": p is subscription.preference}
        for p in Preference
    ]
    return render_page(
        status,
        lang=page.lang,
        title=texts["title"],
        intro=texts["intro"].format(store=store, address=_mask(subscription.address)),
        notice=notice,
        unsubscribe_label=texts["unsubscribe"].format(store=store),
        legend=texts["legend"].format(store=store),
        options=options,
        current_label=texts["current"],
        save_label=texts["save"],
        form_token=unsubscribe_links(request).form_token(page.token, now=now),
    )


def _done(page: _Page, subscription: Subscription) -> HTMLResponse:
    texts, store = page.texts, subscription.store.name
    if subscription.preference is Preference.NOTHING:
        title = texts["done_title"]
        message = (
            texts["done_body"].format(address=_mask(subscription.address), store=store)
            if subscription.address
            else ""
        )
    else:
        title, message = texts["saved_title"], texts[f"saved_{subscription.preference.value}"]
    return render_page(
        200,
        lang=page.lang,
        title=title,
        message=message,
        manage_href=f"./{page.token}",
        manage_label=texts["manage"],
    )


def _invalid(page: _Page, *, status: int = 400) -> HTMLResponse:
    texts = page.texts
    return render_page(
        status, lang=page.lang, title=texts["invalid_title"], message=texts["invalid_body"]
    )


def _gone(page: _Page) -> HTMLResponse:
    texts = page.texts
    return render_page(404, lang=page.lang, title=texts["gone_title"], message=texts["gone_body"])
