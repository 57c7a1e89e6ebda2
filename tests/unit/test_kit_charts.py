"""
`cartback.kit.charts`: every chart is one well-formed SVG element whatever its labels say,
with no inline style (the dashboard's CSP), an empty chart says so, and values outside the
scales stay inside the drawing.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any

import pytest

from cartback.kit.charts import (
    Day,
    HoldoutRow,
    Stage,
    daily_svg,
    funnel_svg,
    holdout_svg,
    percent,
    report_charts,
    text,
)

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> & \x00\x1b "quoted" \ud800'


def _xml(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 (our own charts, the subject under test)


def _row(label: str = "flow", **overrides: float) -> HoldoutRow:
    values = {
        "treated_rate": 0.3,
        "control_rate": 0.2,
        "lift": 0.1,
        "ci_low": -0.05,
        "ci_high": 0.25,
    }
    values.update(overrides)
    return HoldoutRow(label=label, **values)


def _charts(label: str) -> list[str]:
    return [
        funnel_svg([Stage(label=label, count=3)], title=label),
        daily_svg([Day(label=label, amount=Decimal("12.50"))], title=label),
        holdout_svg([_row(label)], title=label),
    ]


def _no_inline_style(root: ET.Element) -> None:
    for element in root.iter():
        assert not element.tag.endswith("style"), element.tag
        assert "style" not in element.attrib, element.tag
        assert not [name for name in element.attrib if name.startswith("on")], element.tag


@pytest.mark.parametrize("index", [0, 1, 2])
def test_hostile_labels_are_escaped_and_the_chart_parses_as_xml(index: int) -> None:
    """
    Markup, ampersands, quotes and characters XML cannot hold in a label: the output parses,
    the text comes back as written (less the impossible characters), and no element or
    attribute is injected.
    """
    # when
    chart = _charts(HOSTILE)[index]
    root = _xml(chart)
    # then
    assert f"{SVG}svg" == root.tag
    assert "script" not in {element.tag.removeprefix(SVG) for element in root.iter()}
    texts = [element.text or "" for element in root.iter()]
    assert '<script>alert("x")</script> &  "quoted" ' in texts
    assert '<script>alert("x")</script> &  "quoted" ' == root.get("aria-label")
    _no_inline_style(root)


def test_text_escapes_markup_and_quotes() -> None:
    """
    The escaping helper handles element text and quoted attributes alike.
    """
    assert "&lt;b&gt; &amp; &quot;x&quot; &#x27;y&#x27;" == text("<b> & \"x\" 'y'")


@pytest.mark.parametrize("draw", [funnel_svg, daily_svg, holdout_svg])
def test_an_empty_chart_says_so_and_parses(draw: Any) -> None:
    """
    No data: a small SVG that says there is nothing in this period.
    """
    # when
    root = _xml(draw([]))
    # then
    assert "Nothing in this period." in [element.text for element in root.iter()]
    assert [] == list(root.iter(f"{SVG}rect"))


def test_the_funnel_scales_to_its_largest_stage() -> None:
    """
    The largest stage gets the full length, a stage with half the carts half of it, and each
    bar is labelled with its count.
    """
    # when
    root = _xml(funnel_svg([Stage(label="carts", count=10), Stage(label="abandoned", count=5)]))
    # then
    widths = [float(rect.get("width", "0")) for rect in root.iter(f"{SVG}rect")]
    assert widths[0] == pytest.approx(2 * widths[1])
    assert ["carts", "10", "abandoned", "5"] == [t.text for t in root.iter(f"{SVG}text")]


def test_a_funnel_of_zeros_draws_empty_bars() -> None:
    """
    Every stage at 0 (a period without carts): bars of width 0, no division by zero.
    """
    root = _xml(funnel_svg([Stage(label="carts", count=0)]))
    assert ["0.0"] == [rect.get("width") for rect in root.iter(f"{SVG}rect")]


def test_daily_bars_have_their_day_and_amount_as_tooltips() -> None:
    """
    One bar per day; the highest is the tallest; negative amounts draw nothing.
    """
    # when
    root = _xml(
        daily_svg(
            [
                Day(label="2026-11-01", amount=Decimal("10")),
                Day(label="2026-11-02", amount=Decimal("40")),
                Day(label="2026-11-03", amount=Decimal("-5")),
            ]
        )
    )
    # then
    bars = list(root.iter(f"{SVG}rect"))
    assert ["2026-11-01: 10", "2026-11-02: 40", "2026-11-03: -5"] == [
        bar.findtext(f"{SVG}title") for bar in bars
    ]
    heights = [float(bar.get("height", "0")) for bar in bars]
    assert heights[1] == pytest.approx(4 * heights[0])
    assert 0 == heights[2]


def test_holdout_marks_stay_inside_the_drawing() -> None:
    """
    A lift or interval beyond ±100 % and a rate above 100 % are drawn at the edge; NaN draws
    at the centre instead of breaking the SVG.
    """
    # when
    root = _xml(
        holdout_svg(
            [
                _row("wild", treated_rate=1.7, ci_low=-3.0, ci_high=2.0, lift=float("nan")),
            ]
        )
    )
    # then
    width = float(root.get("width", "0"))
    for element in root.iter():
        for name in ("x", "x1", "x2", "cx"):
            if name in element.attrib:
                assert 0 <= float(element.attrib[name]) <= width, (element.tag, name)
    (interval,) = [line for line in root.iter(f"{SVG}line") if line.get("stroke-width") == "2"]
    (centre,) = [line for line in root.iter(f"{SVG}line") if line.get("stroke-width") is None]
    zero = float(centre.get("x1", "0"))
    (dot,) = root.iter(f"{SVG}circle")
    treated = next(iter(root.iter(f"{SVG}rect")))
    half = float(treated.get("width", "0"))
    assert zero == pytest.approx(float(dot.get("cx", "0")))
    assert (zero - half, zero + half) == pytest.approx(
        (float(interval.get("x1", "0")), float(interval.get("x2", "0")))
    )


def test_report_charts_draw_a_report_document() -> None:
    """
    A report document's funnel, days and holdouts (all flows first, then each flow).
    """
    # given
    holdout = {"treated_rate": 0.5, "control_rate": 0.25, "lift": 0.25, "ci_low": -0.1}
    holdout["ci_high"] = 0.6
    document = {
        "funnel": [{"stage": "carts", "count": 4}, {"stage": "recovered", "count": 1}],
        "revenue_by_day": [{"date": "2026-11-27", "recovered_revenue": "40.00"}],
        "holdout": holdout,
        "by_flow": [{"flow": "cart-recovery", "holdout": holdout}],
    }
    # when
    charts = report_charts(document)
    # then
    assert 2 == len(list(_xml(charts.funnel).iter(f"{SVG}rect")))
    assert ["2026-11-27: 40.00"] == [
        r.findtext(f"{SVG}title") for r in _xml(charts.revenue).iter(f"{SVG}rect")
    ]
    labels = [t.text for t in _xml(charts.holdout).iter(f"{SVG}text")]
    assert ["all flows", "cart-recovery"] == labels[:2]


def test_percent_formats_fractions() -> None:
    """
    One decimal, and a dash for nothing to divide by.
    """
    assert ("12.5%", "-") == (percent(0.125), percent(None))
