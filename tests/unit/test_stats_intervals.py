"""
The holdout statistics (`domain/stats.py`): Wilson and Newcombe intervals against published
values, the revenue bootstrap, the holdout comparison and its small-sample warning.
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from cartback.domain.stats import (
    BOOTSTRAP_MAX_RECOVERED,
    HoldoutResult,
    Interval,
    bootstrap_mean_difference,
    compare_holdout,
    normal_mean_difference,
    rate_difference_interval,
    sample_warning,
    wilson_interval,
)

#: Published values are given to four decimals.
PUBLISHED = 0.00005


def _dollars(*amounts: str) -> list[Decimal]:
    return [Decimal(amount) for amount in amounts]


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombes_published_examples(
    successes: int, trials: int, low: float, high: float
) -> None:
    """
    Wilson's interval (no continuity correction) as Newcombe tabulates it: R. G. Newcombe,
    "Two-sided confidence intervals for the single proportion: comparison of seven methods",
    Statistics in Medicine 17 (1998) 857-872, Table I, method 3. The first two rows are also the
    expected values of the R package propint's tests; all four were recomputed by hand from
    Wilson's formula.
    """
    # when
    interval = wilson_interval(successes, trials)
    # then
    assert low == pytest.approx(interval.low, abs=PUBLISHED)
    assert high == pytest.approx(interval.high, abs=PUBLISHED)


@pytest.mark.parametrize(
    ("counts", "low", "high"),
    [
        ((56, 70, 48, 80), 0.0524, 0.3339),
        ((9, 10, 3, 10), 0.1705, 0.8090),
        ((6, 7, 2, 7), 0.0582, 0.8062),
        ((5, 56, 0, 29), -0.0381, 0.1926),
        ((0, 10, 0, 20), -0.1611, 0.2775),
        ((0, 10, 0, 10), -0.2775, 0.2775),
        ((10, 10, 0, 20), 0.6791, 1.0),
        ((10, 10, 0, 10), 0.6075, 1.0),
    ],
)
def test_rate_difference_matches_newcombes_table_ii(
    counts: tuple[int, int, int, int], low: float, high: float
) -> None:
    """
    Newcombe's hybrid score interval on the eight worked examples (a)-(h) of R. G. Newcombe,
    "Interval estimation for the difference between independent proportions: comparison of
    eleven methods", Statistics in Medicine 17 (1998) 873-890, Table II, method 10. Rows (a)
    and (b) are also the R package propint's test values; every row was recomputed from the
    paper's formula (Wilson bounds combined in quadrature). Example (c), 6/7 vs 2/7, is
    0.0582 to 0.8062 by that formula (0.0381 to 0.8263 is not method 10's answer).
    """
    # when
    interval = rate_difference_interval(*counts)
    # then
    assert low == pytest.approx(interval.low, abs=PUBLISHED)
    assert high == pytest.approx(interval.high, abs=PUBLISHED)


def test_wilson_pins_the_bounds_at_none_and_all() -> None:
    """
    No successes gives a lower bound of exactly 0; all successes an upper bound of exactly 1.
    """
    # when
    none, every = wilson_interval(0, 7), wilson_interval(7, 7)
    # then
    assert 0.0 == none.low
    assert 1.0 == every.high
    assert 0 < none.high < 1
    assert 0 < every.low < 1


def test_wilson_without_trials_knows_nothing() -> None:
    """
    Zero trials give the whole range.
    """
    assert Interval(low=0.0, high=1.0) == wilson_interval(0, 0)


def test_a_higher_confidence_gives_a_wider_interval() -> None:
    """
    The 99 % interval holds the 95 % one, which holds the 80 % one.
    """
    # when
    wide, usual, narrow = (
        rate_difference_interval(30, 200, 18, 200, confidence=level) for level in (0.99, 0.95, 0.8)
    )
    # then
    assert wide.low < usual.low < narrow.low
    assert narrow.high < usual.high < wide.high


def test_swapping_the_groups_mirrors_the_interval() -> None:
    """
    The difference control minus treated has the negated interval.
    """
    # when
    forward = rate_difference_interval(17, 120, 9, 95)
    backward = rate_difference_interval(9, 95, 17, 120)
    # then
    assert forward.low == pytest.approx(-backward.high)
    assert forward.high == pytest.approx(-backward.low)


@pytest.mark.parametrize("counts", [(0, 0, 5, 50), (5, 50, 0, 0), (0, 0, 0, 0)])
def test_an_empty_group_leaves_the_difference_unknown(counts: tuple[int, int, int, int]) -> None:
    """
    Without carts in a group the difference can be anything from -1 to 1.
    """
    assert Interval(low=-1.0, high=1.0) == rate_difference_interval(*counts)


@pytest.mark.parametrize(
    ("successes", "trials", "confidence", "message"),
    [
        (-1, 10, 0.95, "negative"),
        (1, -10, 0.95, "negative"),
        (11, 10, 0.95, "cannot exceed"),
        (1, 10, 0.0, "between 0 and 1"),
        (1, 10, 1.0, "between 0 and 1"),
        (1, 10, 95.0, "between 0 and 1"),
        (1, 10, math.nan, "between 0 and 1"),
    ],
)
def test_bad_counts_and_levels_are_refused(
    successes: int, trials: int, confidence: float, message: str
) -> None:
    """
    Negative counts, more successes than trials and levels outside (0, 1) raise ValueError,
    in the one-group and in the two-group interval.
    """
    with pytest.raises(ValueError, match=message):
        wilson_interval(successes, trials, confidence=confidence)
    with pytest.raises(ValueError, match=message):
        rate_difference_interval(5, 10, successes, trials, confidence=confidence)


def test_the_bootstrap_is_the_same_for_a_seed() -> None:
    """
    The same data and seed give the same interval; another seed gives another one.
    """
    # given
    treated = _dollars(*["0"] * 40, *["35.10", "80", "12.99", "150", "64.25"] * 4)
    control = _dollars(*["0"] * 50, *["41", "75.50", "19.99"] * 3)
    # when
    first = bootstrap_mean_difference(treated, control, seed=7, resamples=300)
    again = bootstrap_mean_difference(treated, control, seed=7, resamples=300)
    other = bootstrap_mean_difference(treated, control, seed=8, resamples=300)
    # then
    assert first == again
    assert first != other


def test_the_bootstrap_of_identical_groups_holds_zero() -> None:
    """
    Two groups with the same carts differ by nothing, and the interval says so.
    """
    # given
    carts = _dollars(*["0"] * 60, "25", "49.90", "80", "120", "15.50", "230", "60", "99")
    # when
    interval = bootstrap_mean_difference(carts, list(carts), seed=1)
    # then
    assert 0.0 in interval
    assert interval.low < 0 < interval.high


def test_the_bootstrap_of_clearly_different_groups_excludes_zero() -> None:
    """
    A group where a third of the carts bring 50 against one where a twentieth do.
    """
    # given
    treated = _dollars(*["0"] * 200, *["50"] * 100)
    control = _dollars(*["0"] * 285, *["50"] * 15)
    # when
    interval = bootstrap_mean_difference(treated, control, seed=3)
    # then
    assert 0 < interval.low
    assert (100 * 50 / 300 - 15 * 50 / 300) in interval


@pytest.mark.parametrize(("treated", "control"), [([], ["10"]), (["10"], []), ([], [])])
def test_a_bootstrap_without_carts_is_unknown(treated: list[str], control: list[str]) -> None:
    """
    An empty group gives minus to plus infinity, so callers can say "unknown".
    """
    # when
    interval = bootstrap_mean_difference(_dollars(*treated), _dollars(*control), seed=1)
    # then
    assert Interval(low=-math.inf, high=math.inf) == interval


@pytest.mark.parametrize(("resamples", "confidence"), [(0, 0.95), (100, 1.0), (100, -0.5)])
def test_the_bootstrap_refuses_bad_settings(resamples: int, confidence: float) -> None:
    """
    No resamples, or a level outside (0, 1), raise ValueError.
    """
    with pytest.raises(ValueError, match=r"resamples|confidence"):
        bootstrap_mean_difference(
            _dollars("1"), _dollars("2"), seed=1, resamples=resamples, confidence=confidence
        )


def test_the_normal_interval_matches_its_formula() -> None:
    """
    Means 2 and 1, sample variances 8/3 and 2/3, four values each: 1 +/- 1.96 * sqrt(10/12).
    """
    # when
    interval = normal_mean_difference(_dollars("0", "2", "2", "4"), _dollars("0", "1", "1", "2"))
    # then
    half = 1.959964 * math.sqrt((8 / 3 + 2 / 3) / 4)
    assert 1 - half == pytest.approx(interval.low, abs=1e-5)
    assert 1 + half == pytest.approx(interval.high, abs=1e-5)


def test_compare_holdout_on_a_hand_computed_example() -> None:
    """
    Treated: 200 carts, 40 recovered at 50.00 (rate 0.2, 10.00 a cart). Control: 100 carts,
    10 recovered at 45.00 (rate 0.1, 4.50 a cart). Lift 0.1 and 5.50 a cart; the flow added
    5.50 x 200 = 1,100.00.
    """
    # given
    treated = _dollars(*["50.00"] * 40, *["0"] * 160)
    control = _dollars(*["45.00"] * 10, *["0"] * 90)
    # when
    result = compare_holdout(treated, control, seed=11)
    # then
    rates = rate_difference_interval(40, 200, 10, 100)
    assert (200, 40, 100, 10) == (
        result.treated_carts,
        result.treated_recovered,
        result.control_carts,
        result.control_recovered,
    )
    assert (0.2, 0.1) == (result.treated_rate, result.control_rate)
    assert 0.1 == pytest.approx(result.lift)
    assert (rates.low, rates.high) == (result.ci_low, result.ci_high)
    assert (Decimal("10.00"), Decimal("4.50")) == (
        result.revenue_per_cart_treated,
        result.revenue_per_cart_control,
    )
    assert Decimal("5.50") == result.revenue_lift
    assert Decimal("1100.00") == result.incremental_revenue
    assert result.revenue_ci_low is not None
    assert result.revenue_ci_high is not None
    assert result.revenue_ci_low < Decimal("5.50") < result.revenue_ci_high
    assert result.warning is None


def test_compare_holdout_rounds_money_half_even_after_exact_arithmetic() -> None:
    """
    0.125 a cart shows as 0.12 (half to even), but the incremental revenue is 0.125 x 2 = 0.25,
    not 0.12 x 2.
    """
    # when
    result = compare_holdout(_dollars("0.25", "0"), _dollars("0"), seed=1)
    # then
    assert Decimal("0.12") == result.revenue_per_cart_treated
    assert Decimal("0.00") == result.revenue_per_cart_control
    assert Decimal("0.12") == result.revenue_lift
    assert Decimal("0.25") == result.incremental_revenue


def test_compare_holdout_without_a_control_group_says_it_cannot_tell() -> None:
    """
    No control carts: the rate interval spans everything, the revenue interval is None, and
    the warning names the empty group.
    """
    # when
    result = compare_holdout(_dollars("20", "0", "0"), [], seed=1)
    # then
    assert (0.0, -1.0, 1.0) == (result.control_rate, result.ci_low, result.ci_high)
    assert (None, None) == (result.revenue_ci_low, result.revenue_ci_high)
    assert result.warning is not None
    assert "the control group has 0 carts" in result.warning


def test_compare_holdout_uses_the_normal_interval_for_large_groups() -> None:
    """
    With more than `BOOTSTRAP_MAX_RECOVERED` recovered carts the revenue interval is the normal
    one, rounded to cents.
    """
    # given
    assert 300 + 210 > BOOTSTRAP_MAX_RECOVERED
    treated = _dollars(*["0"] * 900, *["60", "25.50", "110"] * 100)
    control = _dollars(*["0"] * 1200, *["60", "25.50", "110"] * 70)
    # when
    result = compare_holdout(treated, control, seed=5)
    # then
    normal = normal_mean_difference(treated, control)
    assert Decimal(repr(normal.low)).quantize(Decimal("0.01")) == result.revenue_ci_low
    assert Decimal(repr(normal.high)).quantize(Decimal("0.01")) == result.revenue_ci_high


@pytest.mark.parametrize("bad", ["-5", "NaN", "Infinity"])
def test_compare_holdout_refuses_amounts_that_are_not_revenue(bad: str) -> None:
    """
    Negative, NaN and infinite amounts raise ValueError.
    """
    with pytest.raises(ValueError, match="revenue must be"):
        compare_holdout(_dollars("10", bad), _dollars("0"), seed=1)


def test_compare_holdout_returns_a_frozen_value() -> None:
    """
    The result is a value object.
    """
    # given
    result = compare_holdout(_dollars("10"), _dollars("0"), seed=1)
    # then
    assert isinstance(result, HoldoutResult)
    with pytest.raises(AttributeError):
        result.lift = 1.0  # type: ignore[misc]


def test_no_warning_when_both_groups_are_large_enough() -> None:
    """
    100 carts with 10 recovered and 90 not in each group is enough.
    """
    assert sample_warning(100, 100, 10, 90) is None


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((500, 12, 60, 3), "the control group has 12 carts"),
        ((500, 1, 60, 0), "the control group has 1 cart;"),
        ((500, 200, 4, 30), "the treated group has 4 recovered carts"),
        ((500, 200, 60, 1), "the control group has 1 recovered cart;"),
        ((500, 200, 495, 30), "the treated group has only 5 carts not recovered"),
        (
            (40, 12, 0, 0),
            "the treated group has 40 carts and the control group has 12 carts",
        ),
    ],
)
def test_the_warning_names_each_groups_shortfall(
    counts: tuple[int, int, int, int], expected: str
) -> None:
    """
    Carts first, then recovered, then not recovered; every short group is named.
    """
    # when
    warning = sample_warning(*counts)
    # then
    assert warning is not None
    assert warning.startswith("Too few carts to tell: ")
    assert expected in warning
    assert warning.endswith(
        "at least 100 carts per group, with 10 recovered and 10 not recovered in each, "
        "are needed before the lift means much."
    )


@pytest.mark.parametrize("counts", [(10, 10, 11, 5), (10, 10, 5, -1), (-1, 10, 0, 0)])
def test_the_warning_refuses_impossible_counts(counts: tuple[int, int, int, int]) -> None:
    """
    More recovered carts than carts, or a negative count, raise ValueError.
    """
    with pytest.raises(ValueError, match=r"negative|cannot exceed"):
        sample_warning(*counts)
