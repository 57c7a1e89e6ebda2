"""
The lead-capture widgets (`cartback-capture.js`, issue #4) in real Chromium: every widget is
shown only when the store switches it on, takes typed input, validates it (in the page and from
the server's 400 problem), sends consent with the exact words shown (every box unticked at
first), sends nothing when the shopper declines or closes, and remembers that for 30 days.
Cartback and the shop are routed fakes (`storefront.py`); one journey runs against the real
`cartback serve`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Cli, start_server
from playwright.sync_api import Browser, BrowserContext, Locator, Page, sync_playwright
from storefront import (
    CHROMIUM,
    CHROMIUM_ARGS,
    USER_AGENT,
    WAIT_SECONDS,
    ShopServer,
    Storefront,
)

pytestmark = pytest.mark.e2e

WIDGETS = ["cart_page", "checkout_button", "cart_drawer", "checkout", "post_abandon", "exit_intent"]
EMAIL_WIDGETS = ["cart_page", "checkout_button", "cart_drawer", "exit_intent"]
FORM_WIDGETS = [*EMAIL_WIDGETS, "post_abandon"]
PROMPTS = ["checkout_button", "cart_drawer", "post_abandon", "exit_intent"]
BRAND = "Mug & Co"
SMS_WORDING = (
    f"By checking this box, you agree to receive recurring automated cart reminder texts from "
    f"{BRAND} at the number provided. Consent is not a condition of purchase. Msg & data rates "
    f"may apply. Msg frequency varies. Reply HELP for help and STOP to opt out."
)
RECOVERY = "Email me a link to my cart"
PROMISE = "We\u2019ll save your cart and send you a link to come back"

CART_PAGE = (
    '<main><table class="shop_table cart"><tr><td>Mug</td></tr></table>'
    '<div class="cart_totals"><h2>Cart totals</h2><div class="wc-proceed-to-checkout">'
    '<a href="/checkout/" class="checkout-button button">Proceed to checkout</a></div></div>'
    "</main>"
)
DRAWER_PAGE = (
    '<button id="cart-icon" onclick="document.querySelector(\'.cart-drawer\').hidden = false">'
    'Cart</button><aside class="cart-drawer" hidden style="position:fixed;right:0;top:0;'
    'width:320px;height:100%;background:#eee">Your cart<button id="shut" onclick="'
    'this.parentNode.hidden = true">Close cart</button></aside>'
)
CLASSIC_CHECKOUT = (
    '<form class="checkout woocommerce-checkout"><p class="form-row" id="billing_email_field">'
    '<label for="billing_email">Email address</label><input type="email" id="billing_email" '
    'name="billing_email" autocomplete="email"></p><p class="form-row"><label for="billing_phone">'
    'Phone</label><input type="tel" id="billing_phone"></p>'
    '<button type="button" id="place_order">Place order</button></form>'
)
BLOCK_CHECKOUT = (
    '<div class="wp-block-woocommerce-checkout wc-block-checkout"><div class='
    '"wc-block-components-text-input"><input type="email" id="email" autocomplete="email">'
    '<label for="email">Email address</label></div><div class="wc-block-components-text-input">'
    '<input type="text" id="shipping-first_name" autocomplete="given-name"><label '
    'for="shipping-first_name">First name</label></div></div>'
)
GENERIC_CHECKOUT = (
    '<form><label for="mail">Your email</label><input type="email" id="mail" '
    'autocomplete="email"><label for="name">Name</label><input id="name"></form>'
)
#: (page body, body classes, path, field) for each kind of checkout the snippet recognises.
CHECKOUTS = {
    "classic": (
        CLASSIC_CHECKOUT,
        "woocommerce-checkout woocommerce-page",
        "/checkout/",
        "#billing_email",
    ),
    "block": (BLOCK_CHECKOUT, "woocommerce-page", "/checkout/", "#email"),
    "generic": (GENERIC_CHECKOUT, "", "/checkout", "#mail"),
}
#: A cart last touched two hours ago, with two items: the shopper left it.
ABANDONED = (
    "localStorage.setItem('cartback_cart_state',"
    " JSON.stringify({t: Date.now() - 2 * 3600 * 1000, n: 2}));"
)
FRESH = "localStorage.setItem('cartback_cart_state', JSON.stringify({t: Date.now(), n: 1}));"
GPC = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true});"
CAPTURED_EVENTS = (
    "window.capturedEvents = [];"
    " addEventListener('cartback:captured', (e) => capturedEvents.push(e.detail));"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """
    Debian's Chromium, headless, started once for the module.
    """
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """
    A fresh browser profile (empty storage) with a shopper's user agent, in English.
    """
    created = browser.new_context(user_agent=USER_AGENT, locale="en-US")
    yield created
    created.close()


@pytest.fixture
def storefront(context: BrowserContext) -> Storefront:
    """
    A routed shop and Cartback for one test.
    """
    return Storefront(context)


def capture_config(*widgets: str, **overrides: Any) -> dict[str, Any]:
    """
    What `/v1/capture/config` answers: the named widgets on, the rest off; EU rules, SMS on.
    """
    config: dict[str, Any] = {
        "widgets": {name: name in widgets for name in WIDGETS},
        "region": "eu",
        "sms": {"enabled": True, "brand": BRAND, "double_opt_in": False},
        "marketing": False,
        "texts": {},
    }
    config.update(overrides)
    return config


def host(page: Page, widget: str) -> Locator:
    """
    The widget's element in the page (its controls live in its open shadow root).
    """
    return page.locator(f'cartback-widget[data-cartback-widget="{widget}"]')


def present(storefront: Storefront, widget: str, head: str = "", lang: str = "") -> Page:
    """
    Open the page where `widget` appears and do what brings it up.
    """
    if widget == "checkout":
        body, classes, path, _ = CHECKOUTS["classic"]
        return storefront.open(head=head, body=body, body_class=classes, path=path, lang=lang)
    if widget == "post_abandon":
        storefront.context.add_init_script(ABANDONED)
    if widget == "exit_intent":
        storefront.context.add_init_script(FRESH)
    if widget in ("cart_page", "checkout_button"):
        return storefront.open(
            head=head, body=CART_PAGE, body_class="woocommerce-cart", path="/cart/", lang=lang
        )
    page = storefront.open(head=head, body=DRAWER_PAGE, lang=lang)
    wait_for_capture(page)
    if widget == "cart_drawer":
        page.click("#cart-icon")
    if widget == "exit_intent":
        leave_through_the_top(page)
    return page


def wait_for_capture(page: Page) -> None:
    """
    Until the widget code has loaded and taken over `cartback.capture`.
    """
    page.wait_for_function("() => cartback.capture.ready === true")


def leave_through_the_top(page: Page) -> None:
    """
    The mouse moves up and out of the viewport, as to the tab bar.
    """
    page.mouse.move(300, 200)
    page.mouse.move(300, 5)
    page.mouse.move(300, -20)


def type_into(page: Page, selector: str, text: str) -> None:
    """
    Real keystrokes, one by one.
    """
    page.locator(selector).press_sequentially(text, delay=5)


def fields(page: Page, widget: str) -> tuple[Locator, Locator, Locator]:
    """
    The widget's text field, consent box and submit button.
    """
    root = host(page, widget)
    return root.locator("#f"), root.locator("#c"), root.locator("#go")


def submit(page: Page, widget: str, value: str, tick: bool = True) -> None:
    """
    Type `value` into the widget's field, tick its box when asked, and submit.
    """
    field, box, button = fields(page, widget)
    field.press_sequentially(value, delay=5)
    if tick:
        box.check()
    button.click()


def label_text(page: Page, widget: str) -> str:
    """
    The consent box's label, as the shopper sees it.
    """
    text: str = host(page, widget).locator("#cl").text_content() or ""
    return text


def value_for(widget: str) -> str:
    """
    A valid contact detail for the widget's field.
    """
    return "+1 415 555 0100" if widget == "post_abandon" else "ada@example.com"


def stored(page: Page, key: str) -> Any:
    """
    A localStorage value of the shop's origin.
    """
    return page.evaluate(f"() => localStorage.getItem({json.dumps(key)})")


# Shown when switched on, and only then.


@pytest.mark.parametrize("widget", WIDGETS)
def test_each_widget_is_shown_when_the_store_switches_it_on(
    storefront: Storefront, widget: str
) -> None:
    """
    With only this widget on, it appears where it belongs.
    """
    # given
    storefront.config = capture_config(widget)
    # when
    page = present(storefront, widget)
    # then
    host(page, widget).wait_for(state="visible")
    assert [] == storefront.errors


def test_a_cart_page_shows_one_email_prompt_when_both_are_on(storefront: Storefront) -> None:
    """
    The summary field and the prompt by the checkout button ask the same thing: with both on,
    the page shows the one beside the summary only.
    """
    # given
    storefront.config = capture_config("cart_page", "checkout_button")
    # when
    page = present(storefront, "cart_page")
    host(page, "cart_page").wait_for(state="visible")
    page.wait_for_timeout(400)
    # then
    assert (1, 0) == (host(page, "cart_page").count(), host(page, "checkout_button").count())


def test_no_thanks_to_one_email_prompt_is_no_thanks_to_the_others(
    storefront: Storefront,
) -> None:
    """
    Declining the cart-page field, then coming back: neither it nor the prompt by the checkout
    button asks again.
    """
    # given
    storefront.config = capture_config("cart_page", "checkout_button")
    page = present(storefront, "cart_page")
    host(page, "cart_page").wait_for(state="visible")
    host(page, "cart_page").locator("button.no").first.click()
    # when
    page.reload()
    page.wait_for_function("() => window.cartback && window.cartback.VERSION")
    page.wait_for_timeout(600)
    # then
    assert (0, 0, []) == (
        host(page, "cart_page").count(),
        host(page, "checkout_button").count(),
        storefront.captures,
    )


@pytest.mark.parametrize("widget", WIDGETS)
def test_a_widget_switched_off_is_not_shown(storefront: Storefront, widget: str) -> None:
    """
    Every other widget on, this one off: it never appears (and nothing is sent).
    """
    # given
    storefront.config = capture_config(*[w for w in WIDGETS if w != widget])
    # when
    page = present(storefront, widget)
    page.wait_for_timeout(400)
    # then
    assert (0, []) == (host(page, widget).count(), storefront.captures)


@pytest.mark.parametrize("config", [None, {"widgets": dict.fromkeys(WIDGETS, False)}])
def test_no_widget_code_loads_while_every_widget_is_off(
    storefront: Storefront, config: dict[str, Any] | None
) -> None:
    """
    No settings (404) or all widgets off: only the core snippet is fetched.
    """
    # given
    storefront.config = config
    # when
    page = storefront.open(body=CART_PAGE, body_class="woocommerce-cart")
    page.wait_for_timeout(400)
    # then
    assert ["cartback.js"] == storefront.scripts
    assert "undefined" == page.evaluate("() => typeof cartback.capture.ready")


# Typed, agreed, sent with the exact words shown.


@pytest.mark.parametrize("widget", EMAIL_WIDGETS)
def test_an_email_widget_sends_the_typed_address_with_the_exact_consent_shown(
    storefront: Storefront, widget: str
) -> None:
    """
    The recovery box starts unticked; after typing and ticking, one text/plain post carries the
    address, the ids, and the label's own words as the consent text.
    """
    # given
    storefront.config = capture_config(widget)
    page = present(storefront, widget, head=CAPTURED_EVENTS)
    field, box, _ = fields(page, widget)
    field.wait_for()
    unticked = not box.is_checked()
    shown = label_text(page, widget)
    # when
    submit(page, widget, "ada@example.com")
    sent = storefront.posted(page)
    # then
    ids = page.evaluate("() => [cartback.anonymousId(), cartback.cartId()]")
    assert (True, RECOVERY) == (unticked, shown)
    assert [
        {
            "writeKey": "cb_pk_test",
            "anonymous_id": ids[0],
            "cart_id": ids[1],
            "locale": "en-US",
            "gpc": False,
            "website": "",
            "email": "ada@example.com",
            "action": "submitted",
            "widget": widget,
            "consents": [
                {
                    "channel": "email",
                    "purpose": "recovery",
                    "granted": True,
                    "text": shown,
                    "text_version": f"{widget}.recovery.v1",
                }
            ],
        }
    ] == sent
    assert "text/plain;charset=UTF-8" == storefront.capture_types[0]
    host(page, widget).locator("[role=status]").get_by_text("Thanks!").wait_for()
    captured = page.evaluate("() => capturedEvents")
    assert [{"widget": widget, "channel": "email", "purpose": "recovery"}] == captured


def test_the_sms_prompt_shows_the_legal_wording_and_sends_it_as_consent(
    storefront: Storefront,
) -> None:
    """
    After abandonment the SMS prompt's unticked box carries the required wording with the
    store's brand; that wording is the consent text sent with the number.
    """
    # given
    storefront.config = capture_config("post_abandon")
    page = present(storefront, "post_abandon")
    field, box, _ = fields(page, "post_abandon")
    heading = host(page, "post_abandon").locator("h2").text_content()
    unticked = not box.is_checked()
    shown = label_text(page, "post_abandon")
    kind = field.get_attribute("type")
    # when
    submit(page, "post_abandon", "+1 415 555 0100")
    sent = storefront.posted(page)
    # then
    assert ("Text me my checkout link", True, SMS_WORDING) == (heading, unticked, shown)
    assert "tel" == kind
    assert ("+1 415 555 0100", "post_abandon", "submitted") == (
        sent[0]["phone"],
        sent[0]["widget"],
        sent[0]["action"],
    )
    assert [
        {
            "channel": "sms",
            "purpose": "recovery",
            "granted": True,
            "text": SMS_WORDING,
            "text_version": "post_abandon.sms.v1",
        }
    ] == sent[0]["consents"]
    assert "email" not in sent[0]


def test_sms_double_opt_in_asks_the_shopper_to_reply_yes(storefront: Storefront) -> None:
    """
    With double opt-in, the thanks tells the shopper that consent needs their YES.
    """
    # given
    storefront.config = capture_config(
        "post_abandon", sms={"enabled": True, "brand": BRAND, "double_opt_in": True}
    )
    page = present(storefront, "post_abandon")
    # when
    submit(page, "post_abandon", "+14155550100")
    storefront.posted(page)
    # then
    host(page, "post_abandon").get_by_text("reply YES").wait_for()


def test_the_sms_prompt_waits_for_the_abandonment_delay(storefront: Storefront) -> None:
    """
    A cart touched a minute ago, or an empty one, gets no SMS prompt; the delay is the store's.
    """
    # given
    storefront.config = capture_config("post_abandon", abandon_after_seconds=3600)
    storefront.context.add_init_script(
        "localStorage.setItem('cartback_cart_state', JSON.stringify({t: Date.now() - 1800000,"
        " n: 2}));"
    )
    # when
    page = storefront.open()
    wait_for_capture(page)
    # then
    assert 0 == host(page, "post_abandon").count()


# Validated in the page and by the server.


@pytest.mark.parametrize("widget", FORM_WIDGETS)
def test_a_malformed_contact_is_refused_in_the_page_and_nothing_is_sent(
    storefront: Storefront, widget: str
) -> None:
    """
    A half-typed address (or a number with letters) gets a message tied to the field.
    """
    # given
    storefront.config = capture_config(widget)
    page = present(storefront, widget)
    field, _, _ = fields(page, widget)
    # when
    submit(page, widget, "+1 415 CALL" if widget == "post_abandon" else "ada@example")
    # then
    error = host(page, widget).locator("#fe")
    expected = "mobile number" if widget == "post_abandon" else "valid email address"
    assert expected in (error.text_content() or "")
    assert ("true", "fe") == (
        field.get_attribute("aria-invalid"),
        field.get_attribute("aria-describedby"),
    )
    assert [] == storefront.posted(page, 0)


def test_a_malformed_checkout_address_is_not_sent(storefront: Storefront) -> None:
    """
    On checkout, an invalid address the shopper leaves is not sent, and the widget says why.
    """
    # given
    storefront.config = capture_config("checkout")
    page = present(storefront, "checkout")
    host(page, "checkout").locator("#c").check()
    # when
    type_into(page, "#billing_email", "ada@example")
    page.keyboard.press("Tab")
    # then
    host(page, "checkout").get_by_text("Please enter a valid email address.").wait_for()
    assert [] == storefront.posted(page, 0)


@pytest.mark.parametrize("widget", WIDGETS)
def test_the_servers_problem_is_shown_next_to_the_field(
    storefront: Storefront, widget: str
) -> None:
    """
    A 400 problem's `errors[].message` appears beside the field it names.
    """
    # given
    path = "phone" if widget == "post_abandon" else "email"
    message = f"The server refused this {path}."
    problem = {"type": "about:blank", "title": "Invalid input", "status": 400}
    storefront.capture_replies = [
        (400, {**problem, "errors": [{"path": path, "message": message}]})
    ]
    storefront.config = capture_config(widget)
    page = present(storefront, widget)
    # when
    if widget == "checkout":
        host(page, "checkout").locator("#c").check()
        type_into(page, "#billing_email", "ada@example.com")
        page.keyboard.press("Tab")
    else:
        submit(page, widget, value_for(widget))
    # then
    storefront.posted(page)
    host(page, widget).get_by_text(message).wait_for()
    if widget != "checkout":
        assert "true" == fields(page, widget)[0].get_attribute("aria-invalid")


def test_too_many_tries_asks_to_try_again_shortly(storefront: Storefront) -> None:
    """
    A 429 answer is told as "try again shortly", and the form stays for another go.
    """
    # given
    storefront.capture_replies = [(429, {"title": "Too Many Requests", "status": 429})]
    storefront.config = capture_config("cart_page")
    page = present(storefront, "cart_page")
    # when
    submit(page, "cart_page", "ada@example.com")
    storefront.posted(page)
    # then
    host(page, "cart_page").locator("[role=status]").get_by_text("try again shortly").wait_for()
    assert fields(page, "cart_page")[2].is_enabled()


# Declining is respected everywhere.


@pytest.mark.parametrize("widget", FORM_WIDGETS)
def test_submitting_without_ticking_the_box_sends_nothing(
    storefront: Storefront, widget: str
) -> None:
    """
    A typed contact without the box ticked stays in the page; the box says why.
    """
    # given
    storefront.config = capture_config(widget)
    page = present(storefront, widget)
    # when
    submit(page, widget, value_for(widget), tick=False)
    # then
    host(page, widget).locator("#ce").get_by_text("tick the box").wait_for()
    assert [] == storefront.posted(page, 0)


@pytest.mark.parametrize("widget", FORM_WIDGETS)
def test_no_thanks_sends_nothing_and_is_remembered_for_30_days(
    storefront: Storefront, widget: str
) -> None:
    """
    "No thanks" after typing: nothing is sent, the widget goes, and it stays gone next visit.
    """
    # given
    storefront.config = capture_config(widget)
    page = present(storefront, widget)
    fields(page, widget)[0].press_sequentially(value_for(widget))
    # when
    host(page, widget).get_by_role("button", name="No thanks").click()
    gone = host(page, widget).count()
    when = stored(page, f"cartback_dismissed_{widget}")
    page.close()
    page = present(storefront, widget)
    wait_for_capture(page)
    page.wait_for_timeout(400)
    # then
    assert (0, 0, []) == (gone, host(page, widget).count(), storefront.posted(page, 0))
    assert when is not None


@pytest.mark.parametrize(("widget", "how"), [(w, h) for w in PROMPTS for h in ("close", "Escape")])
def test_closing_a_prompt_sends_nothing_and_is_remembered(
    storefront: Storefront, widget: str, how: str
) -> None:
    """
    The close button, or Esc from inside the prompt, dismisses it as "No thanks" does.
    """
    # given
    storefront.config = capture_config(widget)
    page = present(storefront, widget)
    field = fields(page, widget)[0]
    field.press_sequentially(value_for(widget))
    # when
    if how == "close":
        host(page, widget).get_by_role("button", name="Close").click()
    else:
        field.press("Escape")
    # then
    assert 0 == host(page, widget).count()
    assert stored(page, f"cartback_dismissed_{widget}") is not None
    assert [] == storefront.posted(page, 0)


def test_a_dismissal_older_than_30_days_shows_the_widget_again(storefront: Storefront) -> None:
    """
    The dismissal has a time; 31 days later the widget is offered again.
    """
    # given
    storefront.config = capture_config("cart_page")
    storefront.context.add_init_script(
        "localStorage.setItem('cartback_dismissed_cart_page', String(Date.now() - 31 * 864e5));"
    )
    # when
    page = present(storefront, "cart_page")
    # then
    host(page, "cart_page").wait_for(state="visible")


# Marketing: a second step, never bundled.


def test_marketing_is_offered_only_after_recovery_consent(storefront: Storefront) -> None:
    """
    The first step has one box (recovery); only after it succeeded comes a separate, unticked
    marketing box, whose own words are sent in a second post.
    """
    # given
    storefront.config = capture_config("cart_page", marketing=True)
    page = present(storefront, "cart_page")
    widget = host(page, "cart_page")
    # Counting does not wait: the widget must be drawn first (a busy machine draws it later).
    widget.locator("input[type=checkbox]").first.wait_for()
    boxes_before = widget.locator("input[type=checkbox]").count()
    # when
    submit(page, "cart_page", "ada@example.com")
    storefront.posted(page)
    widget.get_by_label("Also email me news and offers").wait_for()
    box = widget.locator("#c")
    unticked = not box.is_checked()
    box.check()
    widget.get_by_role("button", name="Yes, please").click()
    sent = storefront.posted(page, 2)
    # then
    assert (1, True) == (boxes_before, unticked)
    assert [["recovery"], ["marketing"]] == [[c["purpose"] for c in s["consents"]] for s in sent]
    assert {
        "channel": "email",
        "purpose": "marketing",
        "granted": True,
        "text": "Also email me news and offers. I can unsubscribe at any time.",
        "text_version": "cart_page.marketing.v1",
    } == sent[1]["consents"][0]
    assert "ada@example.com" == sent[1]["email"]


def test_declining_marketing_sends_nothing_more(storefront: Storefront) -> None:
    """
    "No thanks" at the marketing step: the recovery consent stands, nothing else is sent.
    """
    # given
    storefront.config = capture_config("checkout_button", marketing=True)
    page = present(storefront, "checkout_button")
    submit(page, "checkout_button", "ada@example.com")
    storefront.posted(page)
    widget = host(page, "checkout_button")
    # when
    widget.get_by_label("Also email me news and offers").wait_for()
    widget.get_by_role("button", name="No thanks").click()
    # then
    assert 1 == len(storefront.posted(page, 0))
    assert 0 == widget.count()


def test_a_store_without_marketing_never_offers_it(storefront: Storefront) -> None:
    """
    With marketing off, the recovery consent ends with thanks.
    """
    # given
    storefront.config = capture_config("cart_page")
    page = present(storefront, "cart_page")
    # when
    submit(page, "cart_page", "ada@example.com")
    storefront.posted(page)
    # then
    host(page, "cart_page").get_by_text("Thanks! Your cart is saved.").wait_for()
    assert 0 == host(page, "cart_page").locator("input[type=checkbox]").count()


# Checkout pages: the shop's own field.


@pytest.mark.parametrize("kind", sorted(CHECKOUTS))
def test_a_typed_checkout_address_is_sent_when_the_shopper_leaves_the_field(
    storefront: Storefront, kind: str
) -> None:
    """
    Classic, block and generic checkouts: an unticked box under the field; once ticked, the
    typed address goes only after the shopper leaves the field, as a `checkout_field` capture.
    """
    # given
    body, classes, path, selector = CHECKOUTS[kind]
    storefront.config = capture_config("checkout")
    page = storefront.open(body=body, body_class=classes, path=path)
    widget = host(page, "checkout")
    box = widget.get_by_label("Email me a link to my cart if I don\u2019t finish")
    unticked = not box.is_checked()
    box.check()
    # when
    type_into(page, selector, "ada@example.com")
    while_typing = len(storefront.posted(page, 0))
    page.keyboard.press("Tab")
    sent = storefront.posted(page)
    # then
    assert (True, 0) == (unticked, while_typing)
    assert [("ada@example.com", "checkout_field", "checkout")] == [
        (s["email"], s["action"], s["widget"]) for s in sent
    ]
    assert [
        {
            "channel": "email",
            "purpose": "recovery",
            "granted": True,
            "text": "Email me a link to my cart if I don\u2019t finish",
            "text_version": "checkout.recovery.v1",
        }
    ] == sent[0]["consents"]


def test_an_autofilled_checkout_address_without_typing_is_not_sent(
    storefront: Storefront,
) -> None:
    """
    A value set by autofill or a script (with its input and change events) and left, with the
    box ticked, is not sent; typing into the field afterwards is.
    """
    # given
    storefront.config = capture_config("checkout")
    page = present(storefront, "checkout")
    host(page, "checkout").locator("#c").check()
    # when
    page.evaluate(
        "() => { const f = document.querySelector('#billing_email'); f.focus();"
        " f.value = 'ada@example.com';"
        " for (const name of ['input', 'change'])"
        " f.dispatchEvent(new Event(name, {bubbles: true}));"
        " f.blur(); }"
    )
    autofilled = list(storefront.posted(page, 0))
    page.locator("#billing_email").press("End")
    page.locator("#billing_email").press_sequentially(".uk")
    page.keyboard.press("Tab")
    typed = storefront.posted(page)
    # then
    assert [] == autofilled
    assert ["ada@example.com.uk"] == [s["email"] for s in typed]


def test_an_unticked_checkout_box_sends_nothing(storefront: Storefront) -> None:
    """
    Typed and left, but the shopper did not tick: nothing leaves the page.
    """
    # given
    storefront.config = capture_config("checkout")
    page = present(storefront, "checkout")
    # when
    type_into(page, "#billing_email", "ada@example.com")
    page.keyboard.press("Tab")
    # then
    assert [] == storefront.posted(page, 0)


def test_unticking_after_sending_withdraws_the_consent(storefront: Storefront) -> None:
    """
    Ticked, sent, then unticked: the same address is sent again with consent withdrawn.
    """
    # given
    storefront.config = capture_config("checkout")
    page = present(storefront, "checkout")
    box = host(page, "checkout").locator("#c")
    box.check()
    type_into(page, "#billing_email", "ada@example.com")
    page.keyboard.press("Tab")
    storefront.posted(page)
    # when
    box.uncheck()
    sent = storefront.posted(page, 2)
    # then
    assert [True, False] == [s["consents"][0]["granted"] for s in sent]


def test_us_checkout_shows_the_notice_and_sends_it_as_the_consent_text(
    storefront: Storefront,
) -> None:
    """
    In region "us" (opt-out model) there is no box: the notice is shown and is what is sent.
    """
    # given
    storefront.config = capture_config("checkout", region="us")
    page = present(storefront, "checkout")
    notice = label_text(page, "checkout")
    # when
    type_into(page, "#billing_email", "ada@example.com")
    page.keyboard.press("Tab")
    sent = storefront.posted(page)
    # then
    assert 0 == host(page, "checkout").locator("input[type=checkbox]").count()
    assert notice.startswith("If you don\u2019t finish, we\u2019ll email you a link")
    assert [(True, notice, "checkout.notice.v1")] == [
        (c["granted"], c["text"], c["text_version"]) for c in sent[0]["consents"]
    ]


def test_no_thanks_under_the_us_notice_sends_nothing_and_is_remembered(
    storefront: Storefront,
) -> None:
    """
    The shopper declines the notice: typing and leaving sends nothing, and the notice stays away.
    """
    # given
    storefront.config = capture_config("checkout", region="us")
    page = present(storefront, "checkout")
    # when
    host(page, "checkout").get_by_role("button", name="No thanks").click()
    type_into(page, "#billing_email", "ada@example.com")
    page.keyboard.press("Tab")
    page.reload()
    wait_for_capture(page)
    # then
    assert [] == storefront.posted(page, 0)
    assert 0 == host(page, "checkout").count()


def test_the_checkout_box_appears_on_a_field_rendered_later(storefront: Storefront) -> None:
    """
    Block checkouts render after load: a field added later still gets its box.
    """
    # given
    storefront.config = capture_config("checkout")
    page = storefront.open(
        body='<div class="wc-block-checkout" id="root"></div>', path="/checkout/"
    )
    wait_for_capture(page)
    # when
    page.evaluate(
        "() => { document.querySelector('#root').innerHTML = '<div class=\"wc-block-components-"
        'text-input"><input type="email" id="email" autocomplete="email"></div>\'; }'
    )
    # then
    host(page, "checkout").wait_for(state="visible")


# Keyboard, language, look, placement, API.


def test_a_prompt_works_by_keyboard_alone(storefront: Storefront) -> None:
    """
    Shown by the theme's call, focus moves into the prompt; Tab, Space and Enter submit it.
    """
    # given
    storefront.config = capture_config("cart_drawer")
    page = storefront.open(body=DRAWER_PAGE)
    wait_for_capture(page)
    # when
    page.evaluate("() => cartback.capture.show('cart_drawer')")
    page.keyboard.type("ada@example.com")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    sent = storefront.posted(page)
    # then
    assert [("ada@example.com", True)] == [(s["email"], s["consents"][0]["granted"]) for s in sent]


def test_escape_closes_a_prompt_and_gives_focus_back(storefront: Storefront) -> None:
    """
    Esc closes the prompt the theme opened, and the keyboard returns to where it was.
    """
    # given
    storefront.config = capture_config("cart_drawer")
    page = storefront.open(body=DRAWER_PAGE)
    wait_for_capture(page)
    page.focus("#cart-icon")
    page.evaluate("() => cartback.capture.show('cart_drawer')")
    inside = page.evaluate("() => document.activeElement.dataset.cartbackWidget")
    # when
    page.keyboard.press("Escape")
    # then
    assert ("cart_drawer", 0) == (inside, host(page, "cart_drawer").count())
    assert "cart-icon" == page.evaluate("() => document.activeElement.id")


def test_prompts_are_labelled_non_modal_dialogs(storefront: Storefront) -> None:
    """
    A prompt is a dialog named by its heading, not modal; its fields have real labels.
    """
    # given
    storefront.config = capture_config("exit_intent")
    # when
    page = present(storefront, "exit_intent")
    dialog = page.get_by_role("dialog", name=PROMISE)
    # then
    assert "false" == dialog.get_attribute("aria-modal")
    assert "email" == dialog.get_by_label("Email", exact=True).get_attribute("type")
    assert dialog.get_by_label(RECOVERY).is_visible()


@pytest.mark.parametrize(
    ("lang", "locale", "expected"),
    [("de", "en-US", "de"), ("", "de-DE", "de-DE")],
)
def test_a_german_shopper_sees_german_and_the_german_words_are_sent(
    browser: Browser, lang: str, locale: str, expected: str
) -> None:
    """
    `<html lang="de">`, or a German browser, shows the widget in German; the German consent
    text is what is sent, with the locale.
    """
    # given
    context = browser.new_context(user_agent=USER_AGENT, locale=locale)
    try:
        storefront = Storefront(context)
        storefront.config = capture_config("cart_page")
        page = present(storefront, "cart_page", lang=lang)
        widget = host(page, "cart_page")
        # when
        promise = widget.locator("h2").text_content()
        shown = label_text(page, "cart_page")
        no_thanks = widget.get_by_role("button", name="Nein, danke").count()
        submit(page, "cart_page", "ada@example.com")
        sent = storefront.posted(page)
        # then
        german = "Ich möchte per E-Mail einen Link zu meinem Warenkorb erhalten"
        assert promise is not None
        assert promise.startswith("Wir speichern Ihren Warenkorb")
        assert (german, german, expected, 1) == (
            shown,
            sent[0]["consents"][0]["text"],
            sent[0]["locale"],
            no_thanks,
        )
    finally:
        context.close()


@pytest.mark.parametrize(
    ("lang", "save"),
    [("fr", "Garder mon panier"), ("es", "Guardar mi carrito"), ("it", "Save my cart")],
)
def test_french_and_spanish_are_built_in_and_other_languages_fall_back_to_english(
    storefront: Storefront, lang: str, save: str
) -> None:
    """
    French and Spanish pages get their own words; an Italian page gets English.
    """
    # given
    storefront.config = capture_config("cart_page")
    # when
    page = present(storefront, "cart_page", lang=lang)
    # then
    assert save == host(page, "cart_page").locator("#go").text_content()


def test_the_stores_own_texts_are_shown_and_sent(storefront: Storefront) -> None:
    """
    A merchant's text for a language and key replaces ours, on screen and in the consent.
    """
    # given
    mine = "Send my basket to my inbox <please>"
    storefront.config = capture_config("cart_page", texts={"en": {"recovery": mine}})
    page = present(storefront, "cart_page")
    shown = label_text(page, "cart_page")
    # when
    submit(page, "cart_page", "ada@example.com")
    sent = storefront.posted(page)
    # then
    assert (mine, mine) == (shown, sent[0]["consents"][0]["text"])


def test_the_widgets_take_the_shops_css_variables(storefront: Storefront) -> None:
    """
    `--cartback-accent`, `--cartback-radius` and `--cartback-font` set on the page style the
    widget inside its shadow root.
    """
    # given
    style = (
        "document.documentElement.style.cssText = '--cartback-accent: rgb(200, 0, 100);"
        " --cartback-radius: 3px; --cartback-font: monospace';"
    )
    storefront.config = capture_config("cart_page")
    # when
    page = present(storefront, "cart_page", head=style)
    button = host(page, "cart_page").locator("#go")
    looks = button.evaluate(
        "(b) => { const s = getComputedStyle(b);"
        " return [s.backgroundColor, s.borderTopLeftRadius, s.fontFamily]; }"
    )
    # then
    assert ["rgb(200, 0, 100)", "3px", "monospace"] == looks


@pytest.mark.parametrize("widget", ["cart_page", "checkout_button"])
def test_the_checkout_button_does_not_move_and_stays_clickable(
    storefront: Storefront, widget: str
) -> None:
    """
    The prompt under "Proceed to checkout" and the cart-page field go below it: the button
    keeps its place, and a click on it is the page's own.
    """
    # given
    before_page = storefront.open(body=CART_PAGE, body_class="woocommerce-cart")
    before = before_page.locator(".checkout-button").bounding_box()
    storefront.config = capture_config(widget)
    # when
    page = present(storefront, widget)
    host(page, widget).wait_for(state="visible")
    after = page.locator(".checkout-button").bounding_box()
    hit = page.evaluate(
        "() => { const r = document.querySelector('.checkout-button').getBoundingClientRect();"
        " return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2).className; }"
    )
    # then
    assert before == after
    assert "checkout-button button" == hit


def test_a_floating_prompt_is_small_and_leaves_the_page_usable(storefront: Storefront) -> None:
    """
    No overlay: the page's middle is still the page's, and the prompt is a corner card.
    """
    # given
    storefront.config = capture_config("post_abandon")
    # when
    page = present(storefront, "post_abandon")
    box = host(page, "post_abandon").bounding_box()
    middle = page.evaluate(
        "() => document.elementFromPoint(innerWidth / 2, innerHeight / 2).tagName.toLowerCase()"
    )
    # then
    assert box is not None
    assert box["width"] <= 360
    assert "cartback-widget" != middle


def test_the_drawer_prompt_follows_the_drawer(storefront: Storefront) -> None:
    """
    Opening the theme's cart drawer brings the prompt; closing the drawer takes it away without
    counting as a "No thanks".
    """
    # given
    storefront.config = capture_config("cart_drawer")
    page = present(storefront, "cart_drawer")
    host(page, "cart_drawer").wait_for(state="visible")
    # when
    page.click("#shut")
    # then
    host(page, "cart_drawer").wait_for(state="detached")
    assert stored(page, "cartback_dismissed_cart_drawer") is None


def test_show_before_the_widgets_load_waits_and_hide_forgets_nothing(
    storefront: Storefront,
) -> None:
    """
    `cartback.capture.show()` called at once is honoured when the widget code arrives;
    `cartback.capture.hide()` closes it without remembering a dismissal.
    """
    # given
    storefront.config = capture_config("cart_drawer")
    early = (
        "(function call() { if (!window.cartback || !cartback.capture) return setTimeout(call);"
        " window.loadedAtCall = !!cartback.capture.ready;"
        " cartback.capture.show('cart_drawer'); })();"
    )
    page = storefront.open(head=early)
    host(page, "cart_drawer").wait_for(state="visible")
    assert False is page.evaluate("() => window.loadedAtCall")
    # when
    page.evaluate("() => cartback.capture.hide()")
    # then
    assert 0 == host(page, "cart_drawer").count()
    assert stored(page, "cartback_dismissed_cart_drawer") is None


def test_show_respects_a_switched_off_widget_and_a_dismissal(storefront: Storefront) -> None:
    """
    A theme cannot bring up a widget the store switched off, nor one the shopper declined.
    """
    # given
    storefront.config = capture_config("cart_drawer")
    storefront.context.add_init_script(
        "localStorage.setItem('cartback_dismissed_cart_drawer', String(Date.now()));"
    )
    page = storefront.open()
    wait_for_capture(page)
    # when
    page.evaluate(
        "() => { cartback.capture.show('cart_drawer'); cartback.capture.show('exit_intent'); }"
    )
    # then
    assert 0 == page.locator("cartback-widget").count()


def test_exit_intent_waits_for_a_cart(storefront: Storefront) -> None:
    """
    Leaving through the top with an empty cart brings nothing up.
    """
    # given
    storefront.config = capture_config("exit_intent")
    page = storefront.open(body=DRAWER_PAGE)
    wait_for_capture(page)
    # when
    leave_through_the_top(page)
    page.wait_for_timeout(200)
    # then
    assert 0 == host(page, "exit_intent").count()


def test_a_captured_email_is_not_asked_for_again(storefront: Storefront) -> None:
    """
    After one widget captured the address, no email widget asks again on a later visit.
    """
    # given
    storefront.config = capture_config("cart_page", "checkout_button")
    page = present(storefront, "cart_page")
    host(page, "cart_page").wait_for(state="visible")
    # when
    submit(page, "cart_page", "ada@example.com")
    storefront.posted(page)
    # The answer must have come back (and been remembered) before the shopper leaves.
    page.wait_for_function("() => localStorage.getItem('cartback_captured_email')")
    page.reload()
    wait_for_capture(page)
    # then
    assert 0 == page.locator("cartback-widget").count()


# Privacy: Global Privacy Control and the store's cookie consent.


def test_global_privacy_control_is_sent_with_captures_and_batches(
    storefront: Storefront,
) -> None:
    """
    With `navigator.globalPrivacyControl`, captures carry `gpc: true` and `/v1/t` batches
    `context.gpc: true`.
    """
    # given
    storefront.context.add_init_script(GPC)
    storefront.config = capture_config("cart_page")
    page = present(storefront, "cart_page")
    # when
    submit(page, "cart_page", "ada@example.com")
    capture = storefront.posted(page)[0]
    page.evaluate("() => cartback.track('Product Added', {product_id: 'mug'})")
    storefront.sent(page)
    # then
    assert (True, True) == (capture["gpc"], storefront.requests[0]["body"]["context"]["gpc"])


def test_without_gpc_batches_carry_no_gpc_flag(storefront: Storefront) -> None:
    """
    Without the signal, the batch context has no `gpc` at all.
    """
    # given
    page = storefront.open()
    # when
    page.evaluate("() => cartback.track('Product Added', {product_id: 'mug'})")
    storefront.sent(page)
    # then
    assert "gpc" not in storefront.requests[0]["body"]["context"]


GTAG = "window.dataLayer = window.dataLayer || []; function gtag(){ dataLayer.push(arguments); }"


def test_consent_mode_denied_sends_nothing_until_granted(storefront: Storefront) -> None:
    """
    `analytics_storage: 'denied'` by default: events are neither sent nor kept; after the
    shopper grants it, later events are sent and the earlier ones are gone.
    """
    # given
    head = (
        GTAG + "gtag('consent', 'default', {ad_storage: 'denied', analytics_storage: 'denied'});"
        "gtag('event', 'add_to_cart', {items: [{item_id: 'early', quantity: 1}]});"
    )
    page = storefront.open(head=head)
    # when
    page.evaluate("() => cartback.track('Product Added', {product_id: 'denied'})")
    denied = storefront.sent(page, count=0)
    page.wait_for_timeout(1200)
    requests_while_denied = len(storefront.requests)
    ids_kept = stored(page, "cartback_anonymous_id")
    page.evaluate(
        "() => { gtag('consent', 'update', {analytics_storage: 'granted'});"
        " cartback.track('Product Added', {product_id: 'granted'}); }"
    )
    sent = storefront.tracks(page)
    # then
    assert ([], 0, None) == (denied, requests_while_denied, ids_kept)
    assert [("Product Added", {"product_id": "granted"})] == sent


def test_consent_denied_through_the_api_stops_tracking(storefront: Storefront) -> None:
    """
    `cartback.consent({analytics: false})` drops what was queued and what comes next.
    """
    # given
    page = storefront.open()
    page.evaluate("() => cartback.track('Product Added', {product_id: 'queued'})")
    # when
    page.evaluate(
        "() => { cartback.consent({ads: false, analytics: false});"
        " cartback.track('Product Added', {product_id: 'later'}); }"
    )
    page.wait_for_timeout(1300)
    # then
    assert [] == storefront.requests


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            "gtag('consent', 'default', {ad_storage: 'denied', analytics_storage: 'granted'})",
            "denied",
        ),
        ("cartback.consent({ads: true, analytics: true})", "granted"),
        ("", None),
    ],
)
def test_the_cookie_consent_state_is_sent_with_a_capture(
    storefront: Storefront, call: str, expected: str | None
) -> None:
    """
    The store's cookie-consent state goes with the capture as `cookie_consent`; unknown, it is
    left out.
    """
    # given
    storefront.config = capture_config("cart_page")
    page = present(storefront, "cart_page", head=GTAG)
    page.evaluate(f"() => {{ {call} }}")
    # when
    submit(page, "cart_page", "ada@example.com")
    capture = storefront.posted(page)[0]
    # then
    assert expected == capture.get("cookie_consent")


def test_the_core_snippet_remembers_cart_activity_for_the_sms_prompt(
    storefront: Storefront,
) -> None:
    """
    Adds and removes keep a count and a time; an order clears it.
    """
    # given
    page = storefront.open()
    # when
    page.evaluate(
        "() => { cartback.track('Product Added', {product_id: 'a', quantity: 2});"
        " cartback.track('Product Removed', {product_id: 'a', quantity: 1}); }"
    )
    during = json.loads(stored(page, "cartback_cart_state"))
    page.evaluate("() => cartback.track('Order Completed', {order_id: 'o-1'})")
    # then
    assert 1 == during["n"]
    assert during["t"] > 0
    assert stored(page, "cartback_cart_state") is None


def test_the_stores_text_for_one_widget_wins_over_its_text_for_all(storefront: Storefront) -> None:
    """
    `cart_page.title` changes the cart-page widget only; `title` changes the others.
    """
    # given
    texts = {"en": {"title": "For all", "cart_page.title": "For the cart page"}}
    titles = []
    # when
    for widget in ("cart_page", "checkout_button"):
        storefront.config = capture_config(widget, texts=texts)
        page = present(storefront, widget)
        host(page, widget).wait_for()
        titles.append(host(page, widget).locator("h2").text_content())
        page.close()
    # then
    assert ["For the cart page", "For all"] == titles


# One journey against the real server.


def _cart_reader(client: Any, cart_id: str) -> Any:
    def read() -> dict[str, Any]:
        response = client.get(f"/v1/carts/{cart_id}")
        body: dict[str, Any] = response.json() if response.status_code == 200 else {}
        return body

    return read


def _until(read: Any, done: Any) -> Any:
    """
    Read until `done` holds, up to WAIT_SECONDS; the last reading either way.
    """
    deadline = time.monotonic() + WAIT_SECONDS
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.1)
        value = read()
    return value


def test_a_cart_page_capture_reaches_the_real_servers_consent_ledger(
    cli: Cli, tmp_path: Path, context: BrowserContext
) -> None:
    """
    `cartback serve`, the store's settings switching the cart-page widget on, a shop page on
    another origin: the shopper types, ticks and saves; the cart gets the contact, and the
    contact's export holds the consent with the exact words shown and their version.
    """
    # given
    keys = cli.create_store("--domain", "127.0.0.1")
    server = start_server(cli, tmp_path)
    server.keys = keys
    try:
        with server.client() as client:
            answer = client.put("/v1/capture/settings", json={"widgets": {"cart_page": True}})
            assert 200 == answer.status_code, answer.text
        page_html = (
            '<!doctype html><html lang="en"><head><title>Cart</title>'
            f'<script src="{server.base_url}/static/cartback.js" data-key="{keys["public_key"]}"'
            f' async></script></head><body class="woocommerce-cart">{CART_PAGE}</body></html>'
        )
        shop = ShopServer(
            server.base_url,
            keys["public_key"],
            {"/cart/": ("text/html; charset=utf-8", page_html.encode())},
        )
        try:
            page = context.new_page()
            page.goto(shop.url("/cart/"))
            widget = host(page, "cart_page")
            widget.wait_for(state="visible")
            cart_id = page.evaluate(
                "() => { cartback.track('Product Added', {product_id: 'mug', price: 12.5,"
                " quantity: 1}); cartback.flush(); return cartback.cartId(); }"
            )
            shown = label_text(page, "cart_page")
            with server.client() as client:
                read = _cart_reader(client, cart_id)
                _until(read, lambda c: bool(c.get("items")))
                # when
                submit(page, "cart_page", "ada@example.com")
                widget.get_by_text("Thanks! Your cart is saved.").wait_for()
                # then
                contact = _until(read, lambda c: bool(c.get("contact")))["contact"]
                export = client.get(f"/v1/contacts/{contact['id']}").json()
        finally:
            shop.stop()
    finally:
        server.stop()
    assert "ada@example.com" == contact["email"]
    assert [("email", "recovery", True, shown, "cart_page.recovery.v1", "cart_page")] == [
        (c["channel"], c["purpose"], c["granted"], c["text"], c["text_version"], c["source"])
        for c in export["consents"]
    ]
