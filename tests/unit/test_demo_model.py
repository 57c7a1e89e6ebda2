"""
The simulator's pure part: the same seed gives the same shop, and the answer rules hold.
"""

from __future__ import annotations

import random
from datetime import timedelta

from cartback.demo.model import ACCEPTS_MARKETING, Kind, catalog, population, respond


def test_the_same_seed_gives_the_same_population() -> None:
    """
    Two draws of one seed are equal; another seed differs.
    """
    assert population(3, 50, 7, 72) == population(3, 50, 7, 72)
    assert population(3, 50, 7, 72) != population(4, 50, 7, 72)


def test_bots_carry_a_robot_agent_and_storebot_address() -> None:
    """
    Every bot has a crawler's user agent and Google StoreBot's mail domain.
    """
    bots = [s for s in population(1, 2000, 7, 72) if s.kind is Kind.BOT]
    assert bots
    assert all("bot" in s.agent.lower() for s in bots)
    assert all(s.email and s.email.endswith("storebotmail.joonix.net") for s in bots)


def test_about_the_set_share_of_shoppers_leave_the_marketing_box_ticked() -> None:
    """
    Shopify's marketing box is left ticked by about `ACCEPTS_MARKETING` of shoppers, drawn from
    a stream of its own.
    """
    shoppers = population(1, 4000, 7, 72)
    share = sum(s.accepts_marketing for s in shoppers) / len(shoppers)
    assert abs(share - ACCEPTS_MARKETING) < 0.03


def test_the_catalog_has_sales_and_scarce_stock() -> None:
    """
    Some variants are on sale, some have little stock, every price is positive.
    """
    products = catalog(random.Random(1))
    assert any(p.on_sale for p in products)
    assert any(p.stock <= 3 for p in products)
    assert all(p.price > 0 for p in products)


def test_an_offer_makes_a_click_more_likely_to_buy() -> None:
    """
    Over many shoppers, touches with an offer turn into more orders than the same without.
    """

    def buys(offer: bool) -> int:
        return sum(
            respond(1, i, 0, channel="email", offer=offer, since_left=timedelta(hours=2)).buys
            for i in range(2000)
        )

    assert buys(True) > buys(False)


def test_a_holdout_share_is_set_on_every_shipped_flow() -> None:
    """
    The calibration's larger holdout replaces every flow's share and still parses; None keeps
    the shipped text.
    """
    from cartback.demo.runner import _with_holdout, default_flows
    from cartback.domain.flows import parse_flows

    text = _with_holdout(default_flows(), 0.5)
    assert {flow.holdout for flow in parse_flows(text).flows} == {0.5}
    assert _with_holdout(default_flows(), None) == default_flows()
