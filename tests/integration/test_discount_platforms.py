"""
Discount codes on the shops' platforms (`sources/_shopify_discounts.py`,
`_woocommerce_discounts.py`, `_magento_discounts.py`, the factory in `sources/discounts.py`)
against one local HTTP server that answers like Shopify's Admin GraphQL API, WooCommerce's
REST API v3 and Magento 2's REST API, and checks every request the way they document it:
method, path, credentials, JSON content type, and each field's name and type. Codes are
created for each kind, revoked (twice: the second finds them gone), refused when taken, and
the failures are sorted: 429 and THROTTLED transient with the time to wait, 500 transient,
401 final naming the permission and never the credential.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from structlog.testing import capture_logs

from cartback.bootstrap import Container
from cartback.domain.discounts import DiscountError, DiscountPlatform, DiscountSpec
from cartback.domain.flows import OfferKind
from cartback.domain.stores import Platform, Store
from cartback.kit.keys import SecretBox
from cartback.services.polling import configure_polling
from cartback.services.stores import CreatedStore
from cartback.sources._magento_discounts import MagentoDiscounts
from cartback.sources._shopify_discounts import ShopifyDiscounts
from cartback.sources._woocommerce_discounts import WooCommerceDiscounts
from cartback.sources.discounts import discount_platform

SHOPIFY_TOKEN = "shpat_discounts_0123456789abcdef"
WOO_KEY, WOO_SECRET = "ck_discounts_key", "cs_discounts_secret"
MAGENTO_TOKEN = "magento-discounts-integration-token"
SECRETS = (SHOPIFY_TOKEN, WOO_KEY, WOO_SECRET, MAGENTO_TOKEN)
API_VERSION = "2026-01"
STARTS = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
PLATFORMS = ("shopify", "woocommerce", "magento")
NAMES = {"shopify": "Shopify", "woocommerce": "WooCommerce", "magento": "Magento"}

Answer = tuple[int, dict[str, str], Any]


# --- a local shop on every platform -----------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """
    One request as the server saw it.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeShop:
    """
    The three platforms' discount APIs. Each keeps what was created; `failures` answers the
    next requests instead (status, headers, body), and `throttle` makes Shopify answer its next
    request with a THROTTLED error.
    """

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    shopify: dict[str, dict[str, Any]] = field(default_factory=dict)
    coupons: dict[int, dict[str, Any]] = field(default_factory=dict)
    rules: dict[int, dict[str, Any]] = field(default_factory=dict)
    magento_coupons: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[Answer] = field(default_factory=list)
    throttle: bool = False
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1001))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: Received) -> Answer:
        with self.lock:
            self.requests.append(request)
            if self.failures:
                return self.failures.pop(0)
            if request.path.startswith("/admin/api/"):
                return _shopify(self, request)
            if request.path.startswith("/wp-json/"):
                return _woocommerce(self, request)
            if request.path.startswith("/rest/"):
                return _magento(self, request)
            return 404, {}, {"message": "no such API"}

    def last(self, path_start: str) -> Received:
        """
        The last request to a path starting with `path_start`.
        """
        return [r for r in self.requests if r.path.startswith(path_start)][-1]

    def codes(self) -> set[str]:
        """
        Every code live on any platform.
        """
        return (
            {str(d["code"]) for d in self.shopify.values()}
            | {str(c["code"]) for c in self.coupons.values()}
            | set(self.magento_coupons)
        )


# Shopify -------------------------------------------------------------------------------------


def _shopify_refusal(request: Received) -> Answer | None:
    """
    Shopify's answer to a request at the wrong path, without the token, or not in JSON.
    """
    if request.path != f"/admin/api/{API_VERSION}/graphql.json" or request.method != "POST":
        return 404, {}, {"errors": "Not Found"}
    if request.headers.get("x-shopify-access-token") != SHOPIFY_TOKEN:
        return 401, {}, {"errors": "[API] Invalid API key or access token (unrecognized login)"}
    if not request.headers.get("content-type", "").startswith("application/json"):
        return 415, {}, {"errors": "Content-Type must be application/json"}
    return None


def _shopify(shop: FakeShop, request: Received) -> Answer:
    refusal = _shopify_refusal(request)
    if refusal is not None:
        return refusal
    if shop.throttle:
        shop.throttle = False
        error = {"message": "Throttled", "extensions": {"code": "THROTTLED"}}
        return 200, {}, {"errors": [error], "extensions": {"cost": {"requestedQueryCost": 10}}}
    query, variables = request.body["query"], request.body["variables"]
    if "discountCodeDelete(" in query:
        return 200, {}, _shopify_delete(shop, variables["id"])
    for mutation, argument in (
        ("discountCodeBasicCreate", "basicCodeDiscount"),
        ("discountCodeFreeShippingCreate", "freeShippingCodeDiscount"),
    ):
        if f"{mutation}({argument}: ${argument})" in query:
            return 200, {}, _shopify_create(shop, mutation, variables[argument])
    return 200, {}, {"errors": [{"message": "Field doesn't exist on type 'Mutation'"}]}


def _shopify_create(shop: FakeShop, mutation: str, discount: dict[str, Any]) -> Any:
    invalid = _shopify_invalid(mutation, discount)
    if invalid:
        message = f"Variable $input was provided invalid value for {invalid}"
        return {"errors": [{"message": message, "extensions": {"code": "INVALID_VARIABLE"}}]}
    if discount["code"] in shop.codes():
        error = {
            "field": ["basicCodeDiscount", "code"],
            "code": "TAKEN",
            "message": "Code must be unique. Please try a different code.",
        }
        return {"data": {mutation: {"codeDiscountNode": None, "userErrors": [error]}}}
    node_id = f"gid://shopify/DiscountCodeNode/{next(shop.ids)}"
    shop.shopify[node_id] = discount
    return {"data": {mutation: {"codeDiscountNode": {"id": node_id}, "userErrors": []}}}


def _shopify_invalid(mutation: str, discount: dict[str, Any]) -> list[str]:
    """
    The fields of a DiscountCodeBasicInput / DiscountCodeFreeShippingInput that Shopify would
    refuse (names and types as documented; `context` replaced `customerSelection`).
    """
    checks: dict[str, Callable[[Any], object]] = {
        "title": _text,
        "code": _text,
        "startsAt": _aware,
        "endsAt": _aware,
        "context": lambda v: v == {"all": "ALL"},
        "usageLimit": lambda v: type(v) is int and v >= 1,
        "appliesOncePerCustomer": lambda v: type(v) is bool,
        "combinesWith": lambda v: isinstance(v, dict) and all(type(x) is bool for x in v.values()),
        "minimumRequirement": lambda v: _decimal(v["subtotal"]["greaterThanOrEqualToSubtotal"]),
        "customerGets": _customer_gets,
        "destination": lambda v: v == {"all": True},
    }
    required = {"title", "code", "startsAt", "context"}
    required |= {"customerGets"} if mutation == "discountCodeBasicCreate" else set()
    known = set(checks) - ({"destination"} if mutation == "discountCodeBasicCreate" else set())
    wrong = [
        name for name in discount if name not in known or not _passes(checks[name], discount[name])
    ]
    return wrong + sorted(required - set(discount))


def _customer_gets(value: Any) -> bool:
    gets = value["value"]
    if value["items"] != {"all": True} or len(gets) != 1:
        return False
    if "percentage" in gets:
        return type(gets["percentage"]) is float and 0 < gets["percentage"] <= 1
    amount = gets["discountAmount"]
    return _decimal(amount["amount"]) and type(amount["appliesOnEachItem"]) is bool


def _shopify_delete(shop: FakeShop, node_id: str) -> Any:
    if shop.shopify.pop(node_id, None) is None:
        error = {"field": ["id"], "code": "INVALID", "message": "Discount does not exist"}
        return {
            "data": {"discountCodeDelete": {"deletedCodeDiscountId": None, "userErrors": [error]}}
        }
    return {"data": {"discountCodeDelete": {"deletedCodeDiscountId": node_id, "userErrors": []}}}


# WooCommerce ---------------------------------------------------------------------------------


def _woocommerce(shop: FakeShop, request: Received) -> Answer:
    expected = "Basic " + base64.b64encode(f"{WOO_KEY}:{WOO_SECRET}".encode()).decode()
    if request.headers.get("authorization") != expected:
        message = "Sorry, you are not allowed to create resources."
        return 401, {}, {"code": "woocommerce_rest_cannot_create", "message": message}
    if request.method == "POST" and request.path == "/wp-json/wc/v3/coupons":
        return _woo_create(shop, request)
    found = re.fullmatch(r"/wp-json/wc/v3/coupons/(\d+)", request.path)
    if request.method == "DELETE" and found:
        assert {"force": "true"} == request.query  # without it the coupon goes to the trash
        coupon = shop.coupons.pop(int(found[1]), None)
        if coupon is None:
            invalid = {"code": "woocommerce_rest_shop_coupon_invalid_id", "message": "Invalid ID."}
            return 404, {}, {**invalid, "data": {"status": 404}}
        return 200, {}, coupon
    return 404, {}, {"code": "rest_no_route", "message": "No route was found.", "data": {}}


def _woo_create(shop: FakeShop, request: Received) -> Answer:
    if not request.headers.get("content-type", "").startswith("application/json"):
        return 400, {}, {"code": "rest_invalid_json", "message": "Invalid JSON body passed."}
    coupon = request.body
    checks: dict[str, Callable[[Any], object]] = {
        "code": _text,
        "description": lambda v: isinstance(v, str),
        "discount_type": lambda v: v in ("percent", "fixed_cart", "fixed_product"),
        "amount": _decimal,
        "individual_use": lambda v: type(v) is bool,
        "usage_limit": lambda v: type(v) is int,
        "usage_limit_per_user": lambda v: type(v) is int,
        "date_expires_gmt": lambda v: re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", v),
        "free_shipping": lambda v: type(v) is bool,
        "minimum_amount": _decimal,
        "email_restrictions": lambda v: all(isinstance(e, str) and "@" in e for e in v),
        "exclude_sale_items": lambda v: type(v) is bool,
    }
    invalid = [k for k in coupon if k not in checks or not _passes(checks[k], coupon[k])]
    if invalid or "code" not in coupon:
        message = f"Invalid parameter(s): {', '.join(invalid or ['code'])}"
        return 400, {}, {"code": "rest_invalid_param", "message": message, "data": {"status": 400}}
    if coupon["code"] in shop.codes():
        taken = {"code": "woocommerce_rest_coupon_code_already_exists", "data": {"status": 400}}
        return 400, {}, {**taken, "message": "The coupon code already exists"}
    coupon_id = next(shop.ids)
    stored = {"id": coupon_id, "date_created_gmt": "2026-11-27T09:00:00", **coupon}
    shop.coupons[coupon_id] = stored
    return 201, {}, stored


# Magento -------------------------------------------------------------------------------------


def _magento(shop: FakeShop, request: Received) -> Answer:
    if request.headers.get("authorization") != f"Bearer {MAGENTO_TOKEN}":
        message = "The consumer isn't authorized to access %resources."
        return (
            401,
            {},
            {"message": message, "parameters": {"resources": "Magento_SalesRule::quote"}},
        )
    if request.method == "POST" and request.path == "/rest/V1/salesRules":
        return _magento_rule(shop, request.body["rule"])
    if request.method == "POST" and request.path == "/rest/V1/coupons":
        return _magento_coupon(shop, request.body["coupon"])
    found = re.fullmatch(r"/rest/V1/salesRules/(\d+)", request.path)
    if request.method == "DELETE" and found:
        if shop.rules.pop(int(found[1]), None) is None:
            message = "No such entity with %fieldName = %fieldValue"
            parameters = {"fieldName": "rule_id", "fieldValue": found[1]}
            return 404, {}, {"message": message, "parameters": parameters}
        shop.magento_coupons = {
            code: c for code, c in shop.magento_coupons.items() if c["rule_id"] != int(found[1])
        }
        return 200, {}, True
    return 404, {}, {"message": "Request does not match any route."}


def _magento_rule(shop: FakeShop, rule: dict[str, Any]) -> Answer:
    checks: dict[str, Callable[[Any], object]] = {
        "name": _text,
        "is_active": lambda v: type(v) is bool,
        "website_ids": lambda v: v and all(type(i) is int for i in v),
        "customer_group_ids": lambda v: v and all(type(i) is int for i in v),
        "from_date": lambda v: re.fullmatch(r"\d{4}-\d\d-\d\d", v),
        "to_date": lambda v: re.fullmatch(r"\d{4}-\d\d-\d\d", v),
        "coupon_type": lambda v: v in ("NO_COUPON", "SPECIFIC_COUPON", "AUTO"),
        "use_auto_generation": lambda v: type(v) is bool,
        "uses_per_coupon": lambda v: type(v) is int,
        "uses_per_customer": lambda v: type(v) is int,
        "simple_action": lambda v: v in ("by_percent", "by_fixed", "cart_fixed", "buy_x_get_y"),
        "discount_amount": _decimal,
        "apply_to_shipping": lambda v: type(v) is bool,
        "simple_free_shipping": lambda v: v in ("0", "1", "2"),
        "stop_rules_processing": lambda v: type(v) is bool,
        "condition": _magento_condition,
    }
    invalid = [k for k in rule if k not in checks or not _passes(checks[k], rule[k])]
    if invalid:
        return 400, {}, {"message": f'The "{invalid[0]}" value is invalid.'}
    rule_id = next(shop.ids)
    shop.rules[rule_id] = {"rule_id": rule_id, **rule}
    return 200, {}, shop.rules[rule_id]


def _magento_condition(condition: dict[str, Any]) -> bool:
    combine = "Magento\\SalesRule\\Model\\Rule\\Condition\\Combine"
    address = "Magento\\SalesRule\\Model\\Rule\\Condition\\Address"
    inner = condition["conditions"]
    return (
        condition["condition_type"] == combine
        and condition["aggregator_type"] in ("all", "any")
        and all(c["condition_type"] == address and _decimal(c["value"]) for c in inner)
    )


def _magento_coupon(shop: FakeShop, coupon: dict[str, Any]) -> Answer:
    if coupon.get("rule_id") not in shop.rules or not _text(coupon.get("code")):
        return 400, {}, {"message": "The coupon wasn't saved. Verify the coupon and try again."}
    if coupon["code"] in shop.codes():
        return 400, {}, {"message": "Coupon with the same code already exists."}
    stored = {"coupon_id": next(shop.ids), "times_used": 0, "type": 0, **coupon}
    shop.magento_coupons[coupon["code"]] = stored
    return 200, {}, stored


# value checks --------------------------------------------------------------------------------


def _passes(check: Callable[[Any], object], value: Any) -> bool:
    """
    Whether a value passes a field's check; a value of the wrong shape fails it.
    """
    try:
        return bool(check(value))
    except (KeyError, TypeError, ValueError, AttributeError):
        return False


def _text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 255


def _decimal(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return Decimal(value).is_finite() and Decimal(value) >= 0
    except InvalidOperation:
        return False


def _aware(value: Any) -> bool:
    return isinstance(value, str) and datetime.fromisoformat(value).utcoffset() is not None


@pytest.fixture
def shop() -> Iterator[FakeShop]:
    """
    The fake platforms, served by a thread on 127.0.0.1 for the test.
    """
    with serving(FakeShop()) as fake:
        yield fake


@contextmanager
def serving(fake: FakeShop) -> Iterator[FakeShop]:
    """
    Serve the fake platforms on 127.0.0.1 (a thread) while the block runs; `fake.url` is set.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._handle()

        def do_DELETE(self) -> None:
            self._handle()

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            received = Received(
                method=self.command,
                path=parts.path,
                query=dict(parse_qsl(parts.query)),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=json.loads(raw) if raw else None,
            )
            status, headers, body = fake.answer(received)
            encoded = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(encoded)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, format: str, *args: Any) -> None:
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join()


def client(shop: FakeShop, platform: str, **overrides: Any) -> DiscountPlatform:
    """
    A platform's client pointed at the fake shop, with the right credentials unless overridden.
    """
    if platform == "shopify":
        options = {"token": SHOPIFY_TOKEN, **overrides}
        return ShopifyDiscounts(
            shop="snowdevil.myshopify.com", currency="USD", admin_url=shop.url, **options
        )
    if platform == "woocommerce":
        options = {"consumer_key": WOO_KEY, "consumer_secret": WOO_SECRET, **overrides}
        return WooCommerceDiscounts(url=shop.url, currency="USD", **options)
    options = {"token": MAGENTO_TOKEN, "timezone": "America/New_York", **overrides}
    return MagentoDiscounts(url=shop.url, currency="USD", **options)


def spec(**changes: Any) -> DiscountSpec:
    """
    A 15 % code valid for two days from 09:00 UTC on 27 November 2026.
    """
    values: dict[str, Any] = {
        "code": "CB-15-7KQ2",
        "kind": OfferKind.PERCENT,
        "value": Decimal("15"),
        "currency": "USD",
        "title": "Cartback checkout-recovery step 2",
        "starts_at": STARTS,
        "expires_at": STARTS + timedelta(days=2),
        **changes,
    }
    return DiscountSpec(**values)


def refusal(action: Callable[[], object]) -> DiscountError:
    """
    The DiscountError an action raises.
    """
    with pytest.raises(DiscountError) as raised:
        action()
    return raised.value


# --- Shopify ----------------------------------------------------------------------------------


def test_a_shopify_percent_code_is_a_basic_code_discount_for_everyone_used_once(
    shop: FakeShop,
) -> None:
    """
    15 % becomes `percentage: 0.15` on all items, for all buyers, once in total and per
    customer, from `startsAt` to `endsAt`, stacking with nothing; the node id is the reference.
    """
    # when
    reference = client(shop, "shopify").create(spec())
    # then
    discount = shop.shopify[reference]
    assert reference.startswith("gid://shopify/DiscountCodeNode/")
    assert {"value": {"percentage": 0.15}, "items": {"all": True}} == discount["customerGets"]
    assert ("CB-15-7KQ2", 1, True, {"all": "ALL"}) == (
        discount["code"], discount["usageLimit"], discount["appliesOncePerCustomer"],
        discount["context"],
    )  # fmt: skip
    assert ("2026-11-27T09:00:00+00:00", "2026-11-29T09:00:00+00:00") == (
        discount["startsAt"],
        discount["endsAt"],
    )
    assert not any(discount["combinesWith"].values())
    assert "minimumRequirement" not in discount


def test_a_shopify_fixed_code_is_an_amount_off_the_order_with_its_minimum(
    shop: FakeShop,
) -> None:
    """
    $10 off is a decimal string once per order (not per item); the minimum subtotal too.
    """
    # when
    reference = client(shop, "shopify").create(
        spec(kind=OfferKind.FIXED, value=Decimal("10"), minimum_subtotal=Decimal("50"))
    )
    # then
    discount = shop.shopify[reference]
    assert {"discountAmount": {"amount": "10.00", "appliesOnEachItem": False}} == (
        discount["customerGets"]["value"]
    )
    assert {"subtotal": {"greaterThanOrEqualToSubtotal": "50.00"}} == (
        discount["minimumRequirement"]
    )


def test_shopify_free_shipping_is_a_free_shipping_code_to_every_destination(
    shop: FakeShop,
) -> None:
    """
    Free shipping goes through `discountCodeFreeShippingCreate`, with no `customerGets`.
    """
    # when
    reference = client(shop, "shopify").create(spec(kind=OfferKind.FREE_SHIPPING, value=0))
    # then
    query = shop.last("/admin/").body["query"]
    assert "discountCodeFreeShippingCreate(" in query
    assert {"all": True} == shop.shopify[reference]["destination"]
    assert "customerGets" not in shop.shopify[reference]


def test_a_shopify_graphql_throttle_is_transient_after_two_seconds(shop: FakeShop) -> None:
    """
    THROTTLED arrives with HTTP 200 and no Retry-After: try again in 2 s.
    """
    # given
    shop.throttle = True
    # when
    error = refusal(lambda: client(shop, "shopify").create(spec()))
    # then
    assert (True, 2.0) == (error.transient, error.retry_after)
    assert set() == shop.codes()


# --- WooCommerce ------------------------------------------------------------------------------


def test_a_woocommerce_percent_coupon_is_individual_single_use_and_for_the_shopper(
    shop: FakeShop,
) -> None:
    """
    A percent coupon with the amount as a string, for individual use, once in total and per
    user, restricted to the shopper's email, expiring at the GMT moment; the id is the reference.
    """
    # when
    reference = client(shop, "woocommerce").create(
        spec(customer_email="ada@example.com", exclude_sale_items=True)
    )
    # then
    request = shop.last("/wp-json/")
    assert ("POST", "/wp-json/wc/v3/coupons") == (request.method, request.path)
    assert {
        "code": "CB-15-7KQ2",
        "description": "Cartback checkout-recovery step 2",
        "discount_type": "percent",
        "amount": "15",
        "free_shipping": False,
        "individual_use": True,
        "usage_limit": 1,
        "usage_limit_per_user": 1,
        "exclude_sale_items": True,
        "date_expires_gmt": "2026-11-29T09:00:00",
        "email_restrictions": ["ada@example.com"],
    } == request.body
    assert int(reference) in shop.coupons


def test_a_woocommerce_fixed_coupon_is_off_the_cart_with_its_minimum(shop: FakeShop) -> None:
    """
    $10 off is `fixed_cart` with "10.00"; the minimum is `minimum_amount`.
    """
    # when
    reference = client(shop, "woocommerce").create(
        spec(kind=OfferKind.FIXED, value=Decimal("10"), minimum_subtotal=Decimal("49.5"))
    )
    # then
    coupon = shop.coupons[int(reference)]
    assert ("fixed_cart", "10.00", "49.50") == (
        coupon["discount_type"],
        coupon["amount"],
        coupon["minimum_amount"],
    )


def test_woocommerce_free_shipping_is_a_coupon_of_nothing_with_free_shipping(
    shop: FakeShop,
) -> None:
    """
    Free shipping: amount "0" and `free_shipping: true`.
    """
    # when
    reference = client(shop, "woocommerce").create(spec(kind=OfferKind.FREE_SHIPPING, value=0))
    # then
    coupon = shop.coupons[int(reference)]
    assert ("0", True) == (coupon["amount"], coupon["free_shipping"])


# --- Magento ----------------------------------------------------------------------------------


def test_a_magento_percent_code_is_a_rule_of_its_own_with_one_coupon(shop: FakeShop) -> None:
    """
    A specific-coupon rule (`by_percent`, once per coupon and customer, every customer group,
    days in the store's timezone, stopping later rules) and then its coupon; the rule id is the
    reference.
    """
    # when
    reference = client(shop, "magento").create(spec())
    # then
    rule = shop.rules[int(reference)]
    assert {
        "rule_id": int(reference),
        "name": "Cartback checkout-recovery step 2",
        "is_active": True,
        "website_ids": [1],
        "customer_group_ids": [0, 1, 2, 3],
        "from_date": "2026-11-27",
        "to_date": "2026-11-29",
        "coupon_type": "SPECIFIC_COUPON",
        "use_auto_generation": False,
        "uses_per_coupon": 1,
        "uses_per_customer": 1,
        "simple_action": "by_percent",
        "discount_amount": "15",
        "apply_to_shipping": False,
        "simple_free_shipping": "0",
        "stop_rules_processing": True,
    } == rule
    coupon = shop.magento_coupons["CB-15-7KQ2"]
    assert (int(reference), 1, 1, True) == (
        coupon["rule_id"],
        coupon["usage_limit"],
        coupon["usage_per_customer"],
        coupon["is_primary"],
    )


def test_a_magento_fixed_code_is_off_the_cart_with_a_subtotal_condition(shop: FakeShop) -> None:
    """
    $10 off the cart is `cart_fixed`; the minimum is a `base_subtotal >=` condition.
    """
    # when
    reference = client(shop, "magento", website_ids=[2, 3]).create(
        spec(kind=OfferKind.FIXED, value=Decimal("10"), minimum_subtotal=Decimal("50"))
    )
    # then
    rule = shop.rules[int(reference)]
    condition = rule["condition"]["conditions"][0]
    assert ("cart_fixed", "10.00", [2, 3]) == (
        rule["simple_action"],
        rule["discount_amount"],
        rule["website_ids"],
    )
    assert ("base_subtotal", ">=", "50.00") == (
        condition["attribute_name"],
        condition["operator"],
        condition["value"],
    )


def test_magento_free_shipping_frees_the_whole_shipment(shop: FakeShop) -> None:
    """
    Free shipping: no discount, `simple_free_shipping` for the shipment with matching items.
    """
    # when
    reference = client(shop, "magento").create(spec(kind=OfferKind.FREE_SHIPPING, value=0))
    # then
    rule = shop.rules[int(reference)]
    assert ("0", "2") == (rule["discount_amount"], rule["simple_free_shipping"])


# --- every platform ---------------------------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_revoked_code_is_gone_and_revoking_it_again_is_fine(
    shop: FakeShop, platform: str
) -> None:
    """
    Revoking removes the code from the platform; a second revoke finds it gone and succeeds.
    """
    # given
    discounts = client(shop, platform)
    reference = discounts.create(spec())
    # when
    discounts.revoke(reference)
    discounts.revoke(reference)
    # then
    assert set() == shop.codes()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_taken_code_is_a_final_error_that_says_so(shop: FakeShop, platform: str) -> None:
    """
    The platform refuses a code it already has: final, the reason says the code is taken, and
    nothing is left behind (Magento's rule made for it is deleted again).
    """
    # given
    discounts = client(shop, platform)
    discounts.create(spec())
    before = (len(shop.shopify), len(shop.coupons), len(shop.rules))
    # when
    error = refusal(lambda: discounts.create(spec(title="another")))
    # then
    assert (False, f"the code CB-15-7KQ2 is already taken on {NAMES[platform]}") == (
        error.transient,
        error.reason,
    )
    assert before == (len(shop.shopify), len(shop.coupons), len(shop.rules))


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_429_is_transient_after_the_retry_after_it_sent(shop: FakeShop, platform: str) -> None:
    """
    A rate limit is tried again later, after the platform's `Retry-After`.
    """
    # given
    shop.failures.append((429, {"Retry-After": "7"}, {"errors": "Exceeded 2 calls per second"}))
    # when
    error = refusal(lambda: client(shop, platform).create(spec()))
    # then
    assert (True, 7.0) == (error.transient, error.retry_after)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_500_is_transient(shop: FakeShop, platform: str) -> None:
    """
    A server error is tried again later; a revoke too.
    """
    # given
    shop.failures += [(500, {}, {"message": "Internal Server Error"})] * 2
    discounts = client(shop, platform)
    # when
    created = refusal(lambda: discounts.create(spec()))
    revoked = refusal(lambda: discounts.revoke("1001"))
    # then
    assert (True, True) == (created.transient, revoked.transient)


@pytest.mark.parametrize(
    ("platform", "wrong", "permission"),
    [
        ("shopify", {"token": "shpat_wrong_token"}, "write_discounts"),
        ("woocommerce", {"consumer_secret": "cs_wrong_secret"}, "Read/Write"),
        ("magento", {"token": "wrong-magento-token"}, "Magento_SalesRule::quote"),
    ],
)
def test_refused_credentials_are_final_and_name_the_permission_not_the_secret(
    shop: FakeShop, platform: str, wrong: dict[str, str], permission: str
) -> None:
    """
    A 401 is not tried again; the reason says which permission Cartback needs and contains no
    credential, neither the wrong one sent nor a right one.
    """
    # when
    error = refusal(lambda: client(shop, platform, **wrong).create(spec()))
    # then
    assert (False, True) == (error.transient, permission in error.reason)
    assert [] == [s for s in (*SECRETS, *wrong.values()) if s in error.reason]


def test_an_amount_in_another_currency_than_the_shops_is_refused_before_asking(
    shop: FakeShop,
) -> None:
    """
    €10 off cannot be asked of a shop selling in dollars: final, and no request is sent.
    """
    # when
    error = refusal(
        lambda: client(shop, "woocommerce").create(
            spec(kind=OfferKind.FIXED, value=Decimal("10"), currency="EUR")
        )
    )
    # then
    assert ("the offer is in EUR but the WooCommerce shop sells in USD", []) == (
        error.reason,
        shop.requests,
    )


def test_an_unreachable_shop_is_transient() -> None:
    """
    Nothing listening at the URL: tried again later.
    """
    # given
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    discounts = WooCommerceDiscounts(
        url=f"http://127.0.0.1:{port}", consumer_key=WOO_KEY, consumer_secret=WOO_SECRET,
        currency="USD",
    )  # fmt: skip
    # when
    error = refusal(lambda: discounts.create(spec()))
    # then
    assert (True, []) == (error.transient, [s for s in SECRETS if s in error.reason])


# --- the factory ------------------------------------------------------------------------------


def _store(platform: Platform, settings: dict[str, object]) -> Store:
    return Store(
        id="st_discounts",
        name="Snowdevil",
        platform=platform,
        domains=("snowdevil.example",),
        currency="USD",
        timezone="Europe/Berlin",
        created_at=STARTS,
        updated_at=STARTS,
        settings=settings,
    )


BOX = SecretBox(["discounts-test-secret-key"])


@pytest.mark.parametrize(
    ("platform", "settings"),
    [
        (Platform.CUSTOM, {}),
        (Platform.SHOPIFY, {"shopify": {"shop": "snowdevil.myshopify.com"}}),
        (Platform.WOOCOMMERCE, {"woocommerce": {"cursors": {}}}),
        (Platform.MAGENTO, {"magento": {"url": "https://shop.example"}}),
    ],
    ids=["custom", "shopify-without-kept-token", "woocommerce-unconfigured", "magento-no-token"],
)
def test_without_api_access_a_store_has_no_discount_platform(
    platform: Platform, settings: dict[str, object]
) -> None:
    """
    A custom site, or a shop whose API access was not configured: codes stay Cartback's.
    """
    # when
    found = discount_platform(_store(platform, settings), BOX)
    # then
    assert found is None


def test_a_shopify_store_with_a_kept_token_creates_codes_in_its_shop() -> None:
    """
    The sealed token and the connected shop make a Shopify client.
    """
    # given
    sealed = BOX.seal(SHOPIFY_TOKEN)
    settings: dict[str, object] = {
        "shopify": {"shop": "snowdevil.myshopify.com", "credentials": {"access_token": sealed}}
    }
    # when
    found = discount_platform(_store(Platform.SHOPIFY, settings), BOX)
    # then
    assert "shopify" == (found.name if found is not None else None)


def test_a_woocommerce_store_configured_for_polling_creates_codes_with_those_credentials(
    container: Container,
    store_factory: Callable[..., CreatedStore],
    shop: FakeShop,
) -> None:
    """
    What `cartback sources poll configure` stored (URL, sealed key and secret) is what the
    factory's client uses: a coupon is created in the shop, and the call is logged without
    the secret.
    """
    # given
    created = store_factory(platform="woocommerce", country="US")
    store = configure_polling(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        store_id=created.store.id,
        url=shop.url,
        credentials={"consumer_key": WOO_KEY, "consumer_secret": WOO_SECRET},
    )
    # when
    discounts = discount_platform(store, container.box)
    assert discounts is not None
    with capture_logs() as logs:
        reference = discounts.create(spec())
    # then
    assert ("woocommerce", {"CB-15-7KQ2"}) == (discounts.name, shop.codes())
    assert [("discount.created", reference, store.id)] == [
        (e["event"], e["reference"], e["store_id"])
        for e in logs
        if e["event"].startswith("discount.")
    ]
    assert [] == [s for s in SECRETS if s in repr(logs)]


def test_a_magento_store_uses_its_website_ids(shop: FakeShop) -> None:
    """
    `magento.website_ids` in the store's settings are the rule's websites.
    """
    # given
    section = {
        "url": shop.url,
        "credentials": {"token": BOX.seal(MAGENTO_TOKEN)},
        "website_ids": [4],
    }
    discounts = discount_platform(_store(Platform.MAGENTO, {"magento": section}), BOX)
    assert discounts is not None
    # when
    reference = discounts.create(spec())
    # then
    assert [4] == shop.rules[int(reference)]["website_ids"]
