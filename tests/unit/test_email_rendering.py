"""
Email rendering (`services.rendering.render_email`): escaping, scripts, money by locale, UTM on
every link, stock words only on fresh reads, unavailable items, offers, the support step's
facts, store overrides and their precedence, and template validation with line numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from cartback.domain.cart import Cart
from cartback.domain.consent import Channel
from cartback.domain.errors import InvalidInput
from cartback.domain.events import LineItem, Stage
from cartback.domain.guards import ItemStock
from cartback.domain.stores import Platform, Store
from cartback.engine.clock import SimulatedClock
from cartback.services._email_context import FRESH_STOCK_READ
from cartback.services._formatting import with_utm
from cartback.services.message_parts import (
    MessageLinks,
    OfferView,
    Rendered,
    RenderRequest,
    TemplateOverride,
)
from cartback.services.message_settings import (
    message_settings,
    parse_shipping,
    update_message_settings,
)
from cartback.services.rendering import pick_override, render_email, template_kind
from cartback.services.templates import delete_template, list_templates, set_template
from fakes import FakeDatabase, FakeUnitOfWorkFactory

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
LINKS = MessageLinks(
    restore="https://cb.example/r/tok?x=1",
    short_restore=None,
    unsubscribe="https://cb.example/u/unsub",
    store="https://shop.example",
)


class _Links(HTMLParser):
    """
    Collects hrefs, image sources and whether a script element appears.
    """

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.scripts = 0
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts += 1
        for name, value in attrs:
            if tag == "a" and name == "href" and value:
                self.hrefs.append(value)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parsed(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def _store(**settings: Any) -> Store:
    return Store(
        id="st_test",
        name="Test Shop",
        platform=Platform.CUSTOM,
        domains=("shop.example",),
        currency="USD",
        timezone="America/New_York",
        country="US",
        created_at=NOW,
        updated_at=NOW,
        settings={"messages": settings} if settings else {},
    )


def _line(name: str = "Blue mug", **overrides: Any) -> LineItem:
    values: dict[str, Any] = {
        "product_id": name.lower().replace(" ", "-")[:20] or "p",
        "name": name,
        "quantity": 1,
        "unit_price": Decimal("12.50"),
        "image_url": "https://cdn.example/mug.png",
        "url": "https://shop.example/products/mug?ref=home#reviews",
        **overrides,
    }
    return LineItem(**values)


@pytest.fixture
def request_factory() -> Callable[..., RenderRequest]:
    """
    Builds render requests for a US store and a one-line cart; override anything.
    """

    def make(*lines: LineItem, currency: str = "USD", **overrides: Any) -> RenderRequest:
        cart = Cart(key="c1", currency=currency, stage=Stage.CART, lines=lines or (_line(),))
        values: dict[str, Any] = {
            "store": _store(),
            "cart": cart,
            "channel": Channel.EMAIL,
            "template": "reminder",
            "flow": "cart-recovery",
            "step": 0,
            "links": LINKS,
            "now": NOW,
            **overrides,
        }
        return RenderRequest(**values)

    return make


def test_a_script_as_product_name_is_escaped_in_html_and_plain_in_text(
    request_factory: Callable[..., RenderRequest],
) -> None:
    """
    A product titled `<script>` shows as text: no script element, no raw tag in the HTML.
    """
    # given
    request = request_factory(_line("<script>alert(1)</script>"))
    # when
    rendered = render_email(request)
    # then
    assert rendered.html is not None
    assert "<script" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert _parsed(rendered.html).scripts == 0
    assert "<script>alert(1)</script>" in "".join(_parsed(rendered.html).text)
    assert "<script>alert(1)</script>" in rendered.text


@pytest.mark.parametrize(
    "name", ["قميص قطني أزرق", "青いマグカップ", "Party hat 🎉🥳", "Crème brûlée & co"]
)
def test_names_in_any_script_render_as_written(
    request_factory: Callable[..., RenderRequest], name: str
) -> None:
    """
    Arabic, Japanese, emoji and ampersands come out as written in both parts.
    """
    # when
    rendered = render_email(request_factory(_line(name)))
    # then
    assert rendered.html is not None
    assert name in "".join(_parsed(rendered.html).text)
    assert name in rendered.text


def test_jpy_has_no_decimals(request_factory: Callable[..., RenderRequest]) -> None:
    """
    Yen amounts are whole.
    """
    # given
    request = request_factory(
        _line(unit_price=Decimal(1200), quantity=2), currency="JPY", locale="ja-JP"
    )
    # when
    rendered = render_email(request)
    # then
    assert re.search(r"[¥￥]2,400(?![.,]\d)", rendered.text)
    assert ".00" not in rendered.text


def test_euro_in_german_uses_a_decimal_comma(
    request_factory: Callable[..., RenderRequest],
) -> None:
    """
    de-DE writes 12,50 € and the German words.
    """
    # when
    rendered = render_email(request_factory(currency="EUR", locale="de-DE"))
    # then
    assert "12,50\xa0€" in rendered.text
    assert rendered.subject == "Sie haben etwas im Warenkorb vergessen"
    assert rendered.locale == "de-DE"


def test_an_rtl_language_sets_dir_and_lang(request_factory: Callable[..., RenderRequest]) -> None:
    """
    Arabic emails are right to left.
    """
    # when
    rendered = render_email(request_factory(locale="ar-EG"))
    # then
    assert rendered.html is not None
    assert '<html lang="ar-EG" dir="rtl">' in rendered.html


def test_every_link_but_unsubscribe_carries_utm(
    request_factory: Callable[..., RenderRequest],
) -> None:
    """
    Restore, product, store and returns links carry the four UTM parameters, merged with
    their own query and fragment; the unsubscribe link none.
    """
    # given
    store = _store(returns_summary="30 days", returns_url="https://shop.example/returns?a=b")
    request = request_factory(store=store, template="cart-support", step=1)
    # when
    rendered = render_email(request)
    # then
    assert rendered.html is not None
    hrefs = _parsed(rendered.html).hrefs
    tracked = [h for h in hrefs if h != LINKS.unsubscribe]
    assert LINKS.unsubscribe in hrefs
    assert len(tracked) >= 4
    for href in tracked:
        query = parse_qs(urlsplit(href).query)
        assert query["utm_source"] == ["cartback"]
        assert query["utm_medium"] == ["email"]
        assert query["utm_campaign"] == ["cart-recovery"]
        assert query["utm_content"] == ["cart-support-1"]
    product = next(h for h in tracked if "/products/mug" in h)
    assert parse_qs(urlsplit(product).query)["ref"] == ["home"]
    assert product.endswith("#reviews")
    assert f"{LINKS.unsubscribe}\n" in rendered.text


def test_utm_replaces_a_links_own_utm_values() -> None:
    """
    A link with its own utm_source gets Cartback's, once; other parameters stay in order.
    """
    # when
    url = with_utm("https://s.example/p?utm_source=x&a=1&a=2", campaign="f", content="t-0")
    # then
    assert url == (
        "https://s.example/p?a=1&a=2&utm_source=cartback&utm_medium=email"
        "&utm_campaign=f&utm_content=t-0"
    )


def _stocked(request_factory: Callable[..., RenderRequest], read: ItemStock) -> Rendered:
    return render_email(request_factory(stock=(read,)))


def test_a_fresh_read_says_still_available(request_factory: Callable[..., RenderRequest]) -> None:
    """
    A read within the freshness window with plenty in stock says "still available".
    """
    read = ItemStock(key="k", in_stock=True, quantity=50, read_at=NOW - timedelta(minutes=1))
    assert "still available" in _stocked(request_factory, read).text


def test_a_fresh_low_count_says_only_n_left(request_factory: Callable[..., RenderRequest]) -> None:
    """
    A fresh count of 2 says "only 2 left".
    """
    read = ItemStock(key="k", in_stock=True, quantity=2, read_at=NOW)
    assert "only 2 left" in _stocked(request_factory, read).text


@pytest.mark.parametrize("read_at", [None, NOW - FRESH_STOCK_READ - timedelta(seconds=1)])
def test_a_stale_or_missing_read_claims_nothing(
    request_factory: Callable[..., RenderRequest], read_at: datetime | None
) -> None:
    """
    Without a fresh read no stock words appear.
    """
    # given
    read = ItemStock(key="k", in_stock=True, quantity=2, read_at=read_at)
    # when
    rendered = _stocked(request_factory, read)
    # then
    assert "only 2 left" not in rendered.text
    assert "available" not in rendered.text
    assert rendered.html is not None
    assert "still available" not in rendered.html


def test_an_unavailable_item_is_marked_and_left_out_of_the_total(
    request_factory: Callable[..., RenderRequest],
) -> None:
    """
    A sold-out item (even on an old read) is marked and not counted; no link offers it.
    """
    # given
    gone = _line("Red mug", unit_price=Decimal("30.00"), url="https://shop.example/red")
    request = request_factory(
        _line(),
        gone,
        stock=(
            ItemStock(key="a", in_stock=True, read_at=None),
            ItemStock(key="b", in_stock=False, read_at=NOW - timedelta(days=3)),
        ),
    )
    # when
    rendered = render_email(request)
    # then
    assert "Red mug, Qty 1: $30.00 [no longer available]" in rendered.text
    assert "Total: $12.50" in rendered.text
    assert rendered.html is not None
    assert "https://shop.example/red" not in rendered.html


def test_an_offer_shows_only_when_given(request_factory: Callable[..., RenderRequest]) -> None:
    """
    A resolution with an offer names the code and discount; without one, no offer words.
    """
    # given
    offer = OfferView(code="SAVE10", kind="percent", value=Decimal(10), expires_at=NOW)
    # when
    with_offer = render_email(request_factory(template="cart-resolution", offer=offer))
    without = render_email(request_factory(template="cart-resolution"))
    # then
    assert "SAVE10" in with_offer.text
    assert with_offer.subject == "10% off on your cart"
    assert without.subject == "Your cart is still waiting"
    for word in ("SAVE10", "% off", "Your code", "valid until"):
        assert word not in without.text
        assert word not in (without.html or "")


def test_the_support_step_states_shipping_returns_payment_and_reply(
    request_factory: Callable[..., RenderRequest],
) -> None:
    """
    Shipping to the store's country with the free threshold, delivery days, returns, payment
    options and the invitation to reply.
    """
    # given
    store = _store(
        shipping=[
            {"country": "US", "cost": "5", "free_over": "50", "min_days": 2, "max_days": 4},
            {"country": "*", "cost": "20"},
        ],
        returns_summary="Free returns within 30 days.",
        returns_url="https://shop.example/returns",
        payment_options=["Visa", "PayPal", "Klarna"],
        support_email="help@shop.example",
    )
    # when
    rendered = render_email(request_factory(store=store, template="checkout-support-detailed"))
    # then
    assert "Shipping to United States: $5.00, free on orders over $50.00" in rendered.text
    assert "Delivery in 2 to 4 days" in rendered.text
    assert "Free returns within 30 days." in rendered.text
    assert "We accept Visa, PayPal, Klarna." in rendered.text
    assert "reply to this email, or write to help@shop.example" in rendered.text


def test_the_footer_has_the_address_reason_and_unsubscribe_link(
    request_factory: Callable[..., RenderRequest],
) -> None:
    """
    The postal address (each line), why the email came and the unsubscribe link.
    """
    # when
    store = _store(postal_address="Test Shop Inc.\n1 Main St\nSpringfield, IL 62701")
    rendered = render_email(request_factory(store=store))
    # then
    assert rendered.html is not None
    assert "1 Main St<br>Springfield, IL 62701" in rendered.html
    assert "because you left items in your cart at Test Shop" in rendered.text
    assert f'href="{LINKS.unsubscribe}"' in rendered.html


def test_html_has_preheader_dark_mode_and_sized_images(
    request_factory: Callable[..., RenderRequest],
) -> None:
    """
    A hidden preheader first in the body, dark-mode styles kept, CSS inlined, images sized.
    """
    # when
    rendered = render_email(request_factory())
    # then
    html = rendered.html or ""
    body = html.split("<body", 1)[1]
    assert body.index('class="preheader"') < body.index("<table")
    assert rendered.preheader is not None
    assert rendered.preheader in body
    assert "prefers-color-scheme: dark" in html
    assert '<meta name="color-scheme" content="light dark">' in html
    assert 'style="' in body
    assert re.search(r'<img [^>]*alt="Blue mug"[^>]*>', html)
    for tag in re.findall(r"<img [^>]*>", html):
        assert {"width", "height", "alt"} <= set(re.findall(r'(\w+)="', tag))


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("checkout-reminder", "reminder"),
        ("checkout-support-detailed", "support"),
        ("cart-resolution", "resolution"),
        ("browse-reminder", "browse"),
        ("back_in_stock", "back_in_stock"),
        ("launch", "launch"),
        ("spring-sale", None),
    ],
)
def test_template_names_pick_their_built_in_email(name: str, kind: str | None) -> None:
    """
    The shipped flows' names map to the built-in kinds; an unknown name to none.
    """
    found = template_kind(name)
    assert kind == (found.value if found else None)


def test_an_unknown_template_gets_the_reminder_under_a_neutral_subject(
    request_factory: Callable[..., RenderRequest],
) -> None:
    """
    A name Cartback does not know still renders.
    """
    rendered = render_email(request_factory(template="spring-sale"))
    assert rendered.subject == "Your cart at Test Shop"
    assert "You left these in your cart" in rendered.text


def test_browse_abandonment_renders_without_lines(
    request_factory: Callable[..., RenderRequest],
) -> None:
    """
    A browse email with no cart lines names the count of products looked at.
    """
    # given
    request = request_factory(template="browse-reminder")
    cart = replace(request.cart, lines=(), stage=Stage.BROWSING)
    cart = replace(cart, signals=cart.signals.with_view("p1").with_view("p2"))
    # when
    rendered = render_email(replace(request, cart=cart))
    # then
    assert "You looked at 2 products at Test Shop" in rendered.text
    assert rendered.subject == "Still thinking it over?"


def _override(locale: str, subject: str) -> TemplateOverride:
    return TemplateOverride(
        name="reminder",
        channel=Channel.EMAIL,
        locale=locale,
        subject=subject,
        preheader=None,
        html="<p>{{ greeting }} {{ store.name }}</p>",
        text="",
    )


def test_override_precedence_is_exact_then_language_then_any() -> None:
    """
    de-AT takes de-AT, else de, else *.
    """
    # given
    every = [_override("*", "any"), _override("de", "de"), _override("de-AT", "de-AT")]
    # then
    assert pick_override(every, name="reminder", locale="de-AT") == every[2]
    assert pick_override(every[:2], name="reminder", locale="de-AT") == every[1]
    assert pick_override(every[:1], name="reminder", locale="de-AT") == every[0]
    assert pick_override(every, name="support", locale="de-AT") is None


def test_an_override_wins_over_the_built_in_words_but_keeps_the_footer(
    request_factory: Callable[..., RenderRequest],
) -> None:
    """
    The store's subject and HTML body replace the built-in ones; the footer stays.
    """
    # given
    overrides = (_override("*", "Psst, {{ store.name }}"),)
    # when
    rendered = render_email(request_factory(overrides=overrides))
    # then
    assert rendered.subject == "Psst, Test Shop"
    assert rendered.html is not None
    assert "Hello, Test Shop" in rendered.html
    assert LINKS.unsubscribe in rendered.html
    assert "You left these in your cart" in rendered.text


def test_an_override_that_fails_at_send_time_falls_back_to_the_built_in(
    request_factory: Callable[..., RenderRequest],
) -> None:
    """
    A broken stored template never stops the email.
    """
    broken = replace(_override("*", "{{ missing.name }}"), html="{{ ().__class__ }}")
    rendered = render_email(request_factory(overrides=(broken,)))
    assert rendered.subject == "You left something in your cart"


def _shop(database: FakeDatabase) -> Store:
    store = _store()
    database.stores[store.id] = store
    return store


@pytest.mark.parametrize(
    ("part", "source", "line"),
    [
        ("html", "<p>ok</p>\n<p>{% if %}</p>", 2),
        ("text", "line one\nline two\n{{ nope.name }}", 3),
        ("subject", "{{ store.__class__ }}", 1),
    ],
)
def test_a_template_that_does_not_render_is_refused_with_its_line(
    database: FakeDatabase, clock: SimulatedClock, part: str, source: str, line: int
) -> None:
    """
    Syntax errors, unknown names and unsafe access are refused with the part and the line,
    and nothing is saved.
    """
    # given
    store = _shop(database)
    parts = {"subject": None, "html": None, "text": "fine", part: source}
    # when
    with pytest.raises(InvalidInput) as raised:
        set_template(
            uow=FakeUnitOfWorkFactory(database)(),
            clock=clock,
            store_id=store.id,
            name="cart-reminder",
            channel="email",
            locale="*",
            subject=parts["subject"],
            html=parts["html"],
            text=parts["text"] or "",
        )
    # then
    [error] = raised.value.errors
    assert error.path == part
    assert error.message.startswith(f"line {line}: ")
    assert database.templates == {}


def test_templates_are_saved_listed_replaced_and_deleted(
    database: FakeDatabase, clock: SimulatedClock
) -> None:
    """
    A valid template is saved, replaced on the same key, listed and deleted.
    """
    # given
    store = _shop(database)
    factory = FakeUnitOfWorkFactory(database)
    for subject in ("one", "two"):
        set_template(
            uow=factory(),
            clock=clock,
            store_id=store.id,
            name="cart-reminder",
            channel="email",
            locale="de-de",
            subject=subject,
            text="{{ greeting }} {{ total }}",
        )
    # when
    listed = list_templates(uow=factory(), store_id=store.id)
    deleted = delete_template(
        uow=factory(), store_id=store.id, name="cart-reminder", channel="email"
    )
    # then
    assert [(t.locale, t.subject) for t in listed] == [("de-DE", "two")]
    assert deleted == 1
    assert database.templates == {}


def test_bad_template_keys_are_all_reported(database: FakeDatabase, clock: SimulatedClock) -> None:
    """
    A bad name, channel and locale are reported together.
    """
    store = _shop(database)
    with pytest.raises(InvalidInput) as raised:
        set_template(
            uow=FakeUnitOfWorkFactory(database)(),
            clock=clock,
            store_id=store.id,
            name="bad name!",
            channel="fax",
            locale="not a locale",
            text="x",
        )
    assert {e.path for e in raised.value.errors} == {"name", "channel", "locale"}


def test_message_settings_are_validated_and_change_nothing_on_error(
    database: FakeDatabase, clock: SimulatedClock
) -> None:
    """
    Every bad field is reported and the store keeps its settings.
    """
    # given
    store = _shop(database)
    factory = FakeUnitOfWorkFactory(database)
    # when
    with pytest.raises(InvalidInput) as raised:
        update_message_settings(
            uow=factory(),
            clock=clock,
            store_id=store.id,
            changes={
                "brand_color": "red",
                "support_email": "nope",
                "returns_url": "ftp://x",
                "shipping": [{"country": "Germany", "cost": "1"}],
                "colour": "#000000",
            },
        )
    # then
    paths = {e.path for e in raised.value.errors}
    assert paths == {"brand_color", "support_email", "returns_url", "shipping", "colour"}
    assert database.stores[store.id].settings == {}


def test_message_settings_round_trip(database: FakeDatabase, clock: SimulatedClock) -> None:
    """
    Saved settings read back normalised; null restores a default.
    """
    # given
    store = _shop(database)
    factory = FakeUnitOfWorkFactory(database)
    update_message_settings(
        uow=factory(),
        clock=clock,
        store_id=store.id,
        changes={
            "locale": "de-de",
            "brand_color": "#0A7C59",
            "shipping": [parse_shipping("de:4.90 free over 50:1-3")],
            "payment_options": ["Visa", "PayPal"],
        },
    )
    # when
    update_message_settings(uow=factory(), clock=clock, store_id=store.id, changes={"locale": None})
    found = message_settings(database.stores[store.id])
    # then
    assert found.locale == "en-US"
    assert found.brand_color == "#0a7c59"
    assert found.payment_options == ("Visa", "PayPal")
    [rate] = found.shipping
    assert (rate.country, rate.cost, rate.free_over, rate.min_days, rate.max_days) == (
        "DE",
        Decimal("4.90"),
        Decimal(50),
        1,
        3,
    )


def test_a_template_using_settings_the_store_lacks_is_accepted(
    database: FakeDatabase, clock: SimulatedClock
) -> None:
    """
    A store without a shipping table or returns policy may still write a template that
    shows them (checked against example values).
    """
    # given
    store = _shop(database)
    # when
    saved = set_template(
        uow=FakeUnitOfWorkFactory(database)(),
        clock=clock,
        store_id=store.id,
        name="cart-support",
        channel="email",
        locale="*",
        html="<p>{{ shipping.text }} {{ returns.summary }} {{ offer.code }}</p>",
        text="",
    )
    # then
    assert saved.html is not None
    assert saved.text == ""
