"""
Restore links for custom sites: the store's URL template with `{items}` and `{code}` filled in
(`cartback.sources.custom`), and the template checks that refuse what could not work.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from cartback.domain.events import LineItem
from cartback.sources.custom import check_restore_template, custom_restore_url

TEMPLATE = "https://shop.example.com/cart/restore?items={items}&coupon={code}"


def _lines() -> list[LineItem]:
    return [
        LineItem(product_id="mug", variant_id="mug-blue", quantity=2),
        LineItem(product_id="tee", quantity=1),
        LineItem(sku="SOCK-9", quantity=3),
    ]


def test_items_and_code_fill_the_template() -> None:
    """
    Each line becomes `id:quantity`, joined by commas, and the code fills its parameter.
    """
    # given
    lines = _lines()
    # when
    url = custom_restore_url(TEMPLATE, lines, "WELCOME10")
    # then
    expected = (
        "https://shop.example.com/cart/restore?items=mug-blue:2,tee:1,SOCK-9:3&coupon=WELCOME10"
    )
    assert expected == url


def test_the_variant_id_wins_over_the_product_id_and_the_sku() -> None:
    """
    A line is named by its variant id, else its product id, else its sku.
    """
    # given
    lines = [
        LineItem(product_id="p", variant_id="v", sku="s", quantity=1),
        LineItem(product_id="p2", sku="s2", quantity=1),
        LineItem(sku="s3", quantity=1),
    ]
    # when
    url = custom_restore_url("https://shop.example.com/r?i={items}", lines)
    # then
    assert "https://shop.example.com/r?i=v:1,p2:1,s3:1" == url


def test_without_a_code_its_parameter_is_left_out() -> None:
    """
    No code: the `coupon={code}` parameter disappears whole, the others stay.
    """
    # given
    template = "https://shop.example.com/restore?coupon={code}&items={items}&utm_source=cartback"
    # when
    url = custom_restore_url(template, _lines(), None)
    # then
    expected = (
        "https://shop.example.com/restore?items=mug-blue:2,tee:1,SOCK-9:3&utm_source=cartback"
    )
    assert expected == url


def test_ids_and_codes_are_percent_encoded() -> None:
    """
    Separators inside an id or a code cannot break the list or the query.
    """
    # given
    lines = [LineItem(product_id="a,b:c&d=e", quantity=1), LineItem(product_id="x y", quantity=2)]
    # when
    url = custom_restore_url(TEMPLATE, lines, "10% OFF&more")
    # then
    query = parse_qs(urlsplit(url).query)
    assert {"items": ["a,b:c&d=e:1,x y:2"], "coupon": ["10% OFF&more"]} == query
    assert "items=a%2Cb%3Ac%26d%3De:1,x%20y:2" in url


def test_lines_with_nothing_left_are_skipped() -> None:
    """
    A line whose quantity is zero is not rebuilt.
    """
    # given
    lines = [LineItem(product_id="gone", quantity=0), LineItem(product_id="kept", quantity=1)]
    # when
    url = custom_restore_url("https://shop.example.com/r?i={items}", lines)
    # then
    assert "https://shop.example.com/r?i=kept:1" == url


def test_items_may_sit_in_the_path() -> None:
    """
    A template like Shopify's permalinks puts the items in the path, the fragment survives.
    """
    # given
    template = "https://shop.example.com/cart/{items}?discount={code}#checkout"
    # when
    url = custom_restore_url(template, [LineItem(product_id="p", quantity=2)], "SAVE")
    # then
    assert "https://shop.example.com/cart/p:2?discount=SAVE#checkout" == url


def test_a_valid_template_has_no_problems() -> None:
    """
    The documented example passes the checks.
    """
    # given
    template = TEMPLATE
    # when
    problems = check_restore_template(template)
    # then
    assert [] == problems


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("/cart/restore?items={items}", "must be an absolute http(s) URL"),
        ("javascript:alert(1)//{items}", "must be an absolute http(s) URL"),
        ("https://shop.example.com/cart?coupon={code}", "must contain {items}"),
        (
            "https://shop.example.com/cart?i={items}&c={coupon}",
            "unknown placeholder {coupon}; use {items} and {code}",
        ),
        (
            "https://shop.example.com/discount/{code}?i={items}",
            "{code} must be in the query string, so it can be left out",
        ),
        ("https://shop.example.com/cart?i={items}}", "has an unmatched brace"),
    ],
)
def test_a_bad_template_is_refused_with_its_reason(template: str, problem: str) -> None:
    """
    Each kind of mistake is named, and filling such a template raises with the same words.
    """
    # given
    lines = _lines()
    # when
    problems = check_restore_template(template)
    with pytest.raises(ValueError, match=r"must|unknown|unmatched") as raised:
        custom_restore_url(template, lines, "CODE")
    # then
    assert [problem] == problems
    assert problem in str(raised.value)
