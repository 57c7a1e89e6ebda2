"""
The simulator's pure part: a catalog, a population of shoppers, and the rules by which a
shopper comes back and buys (a base chance, and a higher one after clicking a touch). Every
draw comes from a `random.Random` seeded from the run's seed and the shopper's number, so a
seed always gives the same shop, and one shopper's luck does not depend on another's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum

#: Categories and their products' base prices (USD).
CATEGORIES = {
    "mugs": ("Mug", Decimal(18)),
    "teapots": ("Teapot", Decimal(64)),
    "kettles": ("Kettle", Decimal(120)),
    "tea": ("Tea tin", Decimal(14)),
    "grinders": ("Grinder", Decimal(95)),
    "gift-sets": ("Gift set", Decimal(180)),
}
VARIANTS = ("small", "medium", "large")
HUMAN_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Safari/605.1.15"
)
PHONE_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
BOT_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64; Storebot-Google/1.0) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/79.0.3945.88 Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
)
LEAVING_REASONS = ("shipping_cost", "slow_checkout", "out_of_stock", "comparing_prices")
PAYMENT_REASONS = ("card_declined", "insufficient_funds", "3ds_failed")


class Kind(StrEnum):
    """
    What a shopper came to do.
    """

    BROWSER = "browser"
    CART = "cart_builder"
    CHECKOUT = "checkout_starter"
    PAYMENT_FAILED = "payment_failed"
    BUYER = "buyer"
    BOT = "bot"


#: The population's mix (shares sum to 1).
MIX = (
    (Kind.BROWSER, 0.38),
    (Kind.CART, 0.27),
    (Kind.CHECKOUT, 0.15),
    (Kind.PAYMENT_FAILED, 0.04),
    (Kind.BUYER, 0.13),
    (Kind.BOT, 0.03),
)
#: The chance that an abandoner comes back and buys with no touch at all.
BASE_RETURN = {Kind.CART: 0.07, Kind.CHECKOUT: 0.12, Kind.PAYMENT_FAILED: 0.18}
#: The chance of clicking a touch's restore link, by channel.
CLICK = {"email": 0.25, "sms": 0.32}
#: The chance of buying after a click, fresh (decays with hours since leaving).
CLICK_BUY = {"email": 0.45, "sms": 0.5}
OFFER_BONUS = 0.12
#: The share of checkouts that leave Shopify's marketing box ticked (the shop pre-ticks it).
ACCEPTS_MARKETING = 0.6


@dataclass(frozen=True, kw_only=True, slots=True)
class Product:
    """
    One sellable variant of the catalog.
    """

    id: str
    variant: str
    name: str
    category: str
    price: Decimal
    on_sale: bool
    stock: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Shopper:
    """
    One visitor and everything the simulator decided about them up front.
    """

    index: int
    kind: Kind
    arrive: timedelta
    anonymous_id: str
    agent: str
    items: tuple[tuple[int, int], ...]
    email: str | None
    captures: bool
    phone: str | None
    reason: str | None
    base_buys: bool
    base_return: timedelta
    other_device: bool
    #: Leaves the checkout's "Email me with news and offers" box ticked.
    accepts_marketing: bool


def catalog(rng: random.Random) -> list[Product]:
    """
    Products in every category, each in three variants, some on sale, some with little stock.
    """
    products = []
    for number, (category, (name, base)) in enumerate(CATEGORIES.items()):
        for item in range(4):
            on_sale = rng.random() < 0.2
            for size, variant in enumerate(VARIANTS):
                price = base * (Decimal(1) + Decimal(size) / 4) * Decimal(rng.choice((9, 10, 11)))
                price = (price / 10 * (Decimal("0.8") if on_sale else 1)).quantize(Decimal("0.01"))
                products.append(
                    Product(
                        id=f"p{number}{item}",
                        variant=f"p{number}{item}-{variant}",
                        name=f"{name} {item + 1}",
                        category=category,
                        price=price,
                        on_sale=on_sale,
                        stock=rng.choice((3, 8, 20, 60, 200)),
                    )
                )
    return products


def population(seed: int, count: int, days: int, products: int) -> list[Shopper]:
    """
    `count` shoppers arriving over the first `days` (the last six hours left for the worker).
    """
    span = timedelta(days=days) - timedelta(hours=6)
    return [_shopper(seed, index, span, products) for index in range(count)]


def _shopper(seed: int, index: int, span: timedelta, products: int) -> Shopper:
    rng = random.Random(f"{seed}:shopper:{index}")  # noqa: S311 - a simulation, not secrets
    kind = _kind(rng.random())
    bot = kind is Kind.BOT
    abandons = kind in BASE_RETURN
    items = tuple(
        (rng.randrange(products), rng.choice((1, 1, 1, 2))) for _ in range(rng.choice((1, 1, 2, 3)))
    )
    email = _email(index, bot) if kind is not Kind.BROWSER else None
    if kind is Kind.CART and rng.random() > 0.35:
        email = None  # most cart builders never say who they are
    phone = f"+1212555{index % 10000:04d}" if email and not bot and rng.random() < 0.12 else None
    # Drawn apart, so adding it left every other draw of a seed as it was.
    ticks = random.Random(f"{seed}:marketing:{index}").random()  # noqa: S311 - a simulation
    return Shopper(
        index=index,
        kind=kind,
        arrive=span * rng.random(),
        anonymous_id=f"anon-{seed}-{index}",
        agent=BOT_AGENTS[index % len(BOT_AGENTS)]
        if bot
        else rng.choice((HUMAN_AGENT, PHONE_AGENT)),
        items=items,
        email=email,
        captures=kind is Kind.CART or bot,
        phone=phone,
        reason=_reason(rng, kind),
        base_buys=abandons and rng.random() < BASE_RETURN[kind],
        base_return=timedelta(hours=2) + timedelta(hours=rng.expovariate(1 / 30)),
        other_device=rng.random() < 0.25,
        accepts_marketing=ticks < ACCEPTS_MARKETING,
    )


def _kind(draw: float) -> Kind:
    total = 0.0
    for kind, share in MIX:
        total += share
        if draw < total:
            return kind
    return Kind.BROWSER


def _email(index: int, bot: bool) -> str:
    if bot:
        return f"storebot{index}@storebotmail.joonix.net"
    return f"shopper{index}@example.com"


def _reason(rng: random.Random, kind: Kind) -> str | None:
    if kind is Kind.PAYMENT_FAILED:
        return rng.choice(PAYMENT_REASONS)
    if kind in (Kind.CART, Kind.CHECKOUT):
        return rng.choice(LEAVING_REASONS)
    return None


@dataclass(frozen=True, kw_only=True, slots=True)
class Response:
    """
    What a shopper does with one touch: click after `after`, then buy or not.
    """

    clicks: bool
    after: timedelta
    buys: bool


def respond(
    seed: int, shopper: int, touch: int, *, channel: str, offer: bool, since_left: timedelta
) -> Response:
    """
    A shopper's answer to their `touch`-th message: timing, channel and offer matter (a click
    turns into an order less often the longer ago the cart was left; an offer helps).
    """
    rng = random.Random(f"{seed}:touch:{shopper}:{touch}")  # noqa: S311 - a simulation
    hours = since_left.total_seconds() / 3600
    fresh = max(0.35, 1 - hours / 120)
    buy = CLICK_BUY.get(channel, 0.3) * fresh + (OFFER_BONUS if offer else 0.0)
    return Response(
        clicks=rng.random() < CLICK.get(channel, 0.2),
        after=timedelta(minutes=5 + rng.expovariate(1 / 90)),
        buys=rng.random() < buy,
    )
