"""
The statistics of the holdout measurement (issue #9, `docs/metrics.md` "Holdout and lift").

A flow's enrolled carts fall into a treated group (messages sent) and a control group (every
touch withheld, `domain/assignment.py`). The lift is the treated recovery rate minus the
control's; its interval is Newcombe's hybrid score interval (1998, method 10), which keeps close
to its nominal coverage with small groups and rates near 0 where the textbook (Wald) interval
does not. Revenue per enrolled cart is a mean of mostly zeros with a long tail, so its lift gets
a percentile bootstrap interval, or the normal one when the groups are large enough for the
central limit theorem and a bootstrap would cost too much.

Standard library only; every function is pure and, given its seed, deterministic.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from statistics import NormalDist, fmean, variance

#: Below these sizes the lift is shown with a warning (see `sample_warning`).
MIN_CARTS_PER_GROUP = 100
#: Recovered and not recovered carts each group needs (the usual "10 of each" rule).
MIN_OUTCOMES_PER_GROUP = 10
#: Resamples of the revenue bootstrap in `compare_holdout`.
BOOTSTRAP_RESAMPLES = 2000
#: Above this many recovered carts (both groups together) `compare_holdout` gives revenue the
#: normal interval: by then it agrees with the bootstrap, whose cost grows with recovered carts
#: (about a third of a second at this limit).
BOOTSTRAP_MAX_RECOVERED = 500

_CENT = Decimal("0.01")
#: Binomial probabilities below this share of the most likely count's are left out.
_NEGLIGIBLE = 1e-17
_GROUPS = ("treated", "control")


@dataclass(frozen=True, kw_only=True, slots=True)
class Interval:
    """
    A confidence interval from `low` to `high` (both included).
    """

    low: float
    high: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True, kw_only=True, slots=True)
class HoldoutResult:
    """
    Treated against control for one flow: rates, revenue per enrolled cart, and their lifts.

    Rates are fractions (0.12 is 12 %); the lift is in rate points (treated minus control).
    Money is rounded to cents; `revenue_ci_low`/`revenue_ci_high` are None when a group is
    empty. `warning` says in plain words when the groups are too small to trust the lift.
    """

    treated_carts: int
    treated_recovered: int
    control_carts: int
    control_recovered: int
    treated_rate: float
    control_rate: float
    lift: float
    ci_low: float
    ci_high: float
    revenue_per_cart_treated: Decimal
    revenue_per_cart_control: Decimal
    revenue_lift: Decimal
    revenue_ci_low: Decimal | None
    revenue_ci_high: Decimal | None
    incremental_revenue: Decimal
    warning: str | None


def wilson_interval(successes: int, trials: int, *, confidence: float = 0.95) -> Interval:
    """
    Wilson's score interval for one proportion (no continuity correction).

    Args:
        successes: how many of the trials succeeded.
        trials: how many there were; none gives the uninformative interval 0 to 1.
        confidence: the interval's level, strictly between 0 and 1.

    Raises:
        ValueError: a negative count, more successes than trials, or a bad confidence.
    """
    _check_counts(successes, trials)
    z = _z(confidence)
    if trials == 0:
        return Interval(low=0.0, high=1.0)
    p = successes / trials
    z2n = z * z / trials
    centre = (p + z2n / 2) / (1 + z2n)
    half = z * math.sqrt(p * (1 - p) / trials + z2n / (4 * trials)) / (1 + z2n)
    # At 0 or all successes the formula gives the bound exactly in theory; pin it in practice.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return Interval(low=low, high=high)


def rate_difference_interval(
    treated_successes: int,
    treated_trials: int,
    control_successes: int,
    control_trials: int,
    *,
    confidence: float = 0.95,
) -> Interval:
    """
    Newcombe's hybrid score interval (1998, method 10) for p_treated - p_control.

    Each side combines the distances from each rate to its own Wilson bound in quadrature.
    An empty group leaves the difference unknown: -1 to 1.

    Raises:
        ValueError: as `wilson_interval`, for either group.
    """
    treated = wilson_interval(treated_successes, treated_trials, confidence=confidence)
    control = wilson_interval(control_successes, control_trials, confidence=confidence)
    if treated_trials == 0 or control_trials == 0:
        return Interval(low=-1.0, high=1.0)
    p_t = treated_successes / treated_trials
    p_c = control_successes / control_trials
    difference = p_t - p_c
    below = math.hypot(p_t - treated.low, control.high - p_c)
    above = math.hypot(treated.high - p_t, p_c - control.low)
    return Interval(low=max(-1.0, difference - below), high=min(1.0, difference + above))


def bootstrap_mean_difference(
    treated: Sequence[Decimal],
    control: Sequence[Decimal],
    *,
    seed: int,
    resamples: int = 2000,
    confidence: float = 0.95,
) -> Interval:
    """
    Percentile bootstrap interval of mean(treated) - mean(control).

    Each resample draws every group anew, with replacement and at its own size, from
    `random.Random(seed)`: the same inputs and seed give the same interval. The interval's ends
    are the resampled differences' quantiles (linear interpolation between order statistics).

    Revenue per cart is mostly zeros, and zeros add nothing to a sum, so a resample first draws
    how many of its carts are non-zero (binomial: n draws at the non-zero share) and then only
    those from the non-zero values. That is the same distribution as drawing all n carts, at
    the cost of the recovered carts alone.

    Returns:
        The interval; -inf to inf (unknown) when a group is empty.

    Raises:
        ValueError: fewer than one resample, or a bad confidence.
    """
    _z(confidence)  # refuses a bad confidence before any work
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, not {resamples}")
    if not treated or not control:
        return Interval(low=-math.inf, high=math.inf)
    rng = random.Random(seed)  # noqa: S311 - reproducible resampling, not a secret
    mean_t, mean_c = _Resampler(treated), _Resampler(control)
    differences = sorted(mean_t.draw(rng) - mean_c.draw(rng) for _ in range(resamples))
    tail = (1 - confidence) / 2
    return Interval(low=_quantile(differences, tail), high=_quantile(differences, 1 - tail))


class _Resampler:
    """
    Draws the mean of a bootstrap resample of `values` (with replacement, at their own size).
    """

    __slots__ = ("_cdf", "_first", "_nonzero", "_size")

    def __init__(self, values: Sequence[Decimal]) -> None:
        self._size = len(values)
        self._nonzero = [float(value) for value in values if value != 0]
        self._first, self._cdf = _binomial_cdf(self._size, len(self._nonzero) / self._size)

    def draw(self, rng: random.Random) -> float:
        count = self._first + bisect.bisect_right(self._cdf, rng.random())
        return math.fsum(rng.choices(self._nonzero, k=count)) / self._size


def _binomial_cdf(n: int, p: float) -> tuple[int, list[float]]:
    """
    The binomial(n, p) distribution's CDF over the counts that matter, and the first count.

    Probabilities are built outward from the mode by the ratio of neighbours (no factorials, no
    underflow) and cut where they fall below 1e-17 of the mode's, beyond a float's resolution.
    """
    if p in (0.0, 1.0):
        return round(n * p), [1.0]
    odds = p / (1 - p)
    mode = min(n, math.floor((n + 1) * p))
    above = _tail(lambda j: (n - j) / (j + 1) * odds, range(mode, n))  # weights of j + 1
    below = _tail(lambda j: j / (n - j + 1) / odds, range(mode, 0, -1))  # weights of j - 1
    weights = [*reversed(below), 1.0, *above]
    total = math.fsum(weights)
    cdf = list(itertools.accumulate(weight / total for weight in weights))
    cdf[-1] = 1.0
    return mode - len(below), cdf


def _tail(ratio: Callable[[int], float], steps: range) -> list[float]:
    """
    Probabilities relative to the mode's, each the last one times `ratio` of the step's count.
    """
    weights: list[float] = []
    weight = 1.0
    for j in steps:
        weight *= ratio(j)
        if weight < _NEGLIGIBLE:
            break
        weights.append(weight)
    return weights


def normal_mean_difference(
    treated: Sequence[Decimal], control: Sequence[Decimal], *, confidence: float = 0.95
) -> Interval:
    """
    The large-sample (normal) interval of mean(treated) - mean(control), unequal variances.

    Returns:
        The interval; -inf to inf (unknown) when a group has fewer than two values.

    Raises:
        ValueError: a bad confidence.
    """
    z = _z(confidence)
    if len(treated) < 2 or len(control) < 2:  # a variance needs two values
        return Interval(low=-math.inf, high=math.inf)
    values_t = [float(value) for value in treated]
    values_c = [float(value) for value in control]
    difference = fmean(values_t) - fmean(values_c)
    error = math.sqrt(variance(values_t) / len(values_t) + variance(values_c) / len(values_c))
    return Interval(low=difference - z * error, high=difference + z * error)


def compare_holdout(
    treated_revenue: Sequence[Decimal],
    control_revenue: Sequence[Decimal],
    *,
    seed: int,
    confidence: float = 0.95,
) -> HoldoutResult:
    """
    The holdout comparison of one flow.

    Args:
        treated_revenue: one entry per enrolled treated cart: its recovered order's revenue, or
            0 when it was not recovered (a cart counts as recovered when its revenue is > 0).
        control_revenue: the same for the control group.
        seed: the revenue bootstrap's seed (pass a stable one, e.g. from the flow's name, so
            the same data always shows the same interval).
        confidence: the intervals' level.

    Raises:
        ValueError: a negative or non-finite revenue, or a bad confidence.
    """
    for value in (*treated_revenue, *control_revenue):
        if not value.is_finite() or value < 0:
            raise ValueError(f"revenue must be a finite amount of at least 0, not {value}")
    n_t, n_c = len(treated_revenue), len(control_revenue)
    won_t = sum(1 for value in treated_revenue if value > 0)
    won_c = sum(1 for value in control_revenue if value > 0)
    rate_t, rate_c = _rate(won_t, n_t), _rate(won_c, n_c)
    rates = rate_difference_interval(won_t, n_t, won_c, n_c, confidence=confidence)
    mean_t, mean_c = _mean(treated_revenue), _mean(control_revenue)
    if won_t + won_c > BOOTSTRAP_MAX_RECOVERED:
        revenue = normal_mean_difference(treated_revenue, control_revenue, confidence=confidence)
    else:
        revenue = bootstrap_mean_difference(
            treated_revenue,
            control_revenue,
            seed=seed,
            resamples=BOOTSTRAP_RESAMPLES,
            confidence=confidence,
        )
    return HoldoutResult(
        treated_carts=n_t,
        treated_recovered=won_t,
        control_carts=n_c,
        control_recovered=won_c,
        treated_rate=rate_t,
        control_rate=rate_c,
        lift=rate_t - rate_c,
        ci_low=rates.low,
        ci_high=rates.high,
        revenue_per_cart_treated=_cents(mean_t),
        revenue_per_cart_control=_cents(mean_c),
        revenue_lift=_cents(mean_t - mean_c),
        revenue_ci_low=_cents_or_none(revenue.low),
        revenue_ci_high=_cents_or_none(revenue.high),
        incremental_revenue=_cents((mean_t - mean_c) * n_t),
        warning=sample_warning(n_t, n_c, won_t, won_c),
    )


def sample_warning(
    treated_carts: int, control_carts: int, treated_recovered: int, control_recovered: int
) -> str | None:
    """
    Plain words when the groups are too small for the lift to mean much, else None.

    Each group needs `MIN_CARTS_PER_GROUP` carts, and `MIN_OUTCOMES_PER_GROUP` recovered and
    as many not recovered. The message names each group that falls short, by its first
    shortfall.

    Raises:
        ValueError: a negative count or more recovered carts than carts.
    """
    _check_counts(treated_recovered, treated_carts)
    _check_counts(control_recovered, control_carts)
    shortfalls = [
        shortfall
        for group, carts, recovered in zip(
            _GROUPS,
            (treated_carts, control_carts),
            (treated_recovered, control_recovered),
            strict=True,
        )
        if (shortfall := _shortfall(group, carts, recovered)) is not None
    ]
    if not shortfalls:
        return None
    return (
        f"Too few carts to tell: {' and '.join(shortfalls)}; at least {MIN_CARTS_PER_GROUP} "
        f"carts per group, with {MIN_OUTCOMES_PER_GROUP} recovered and "
        f"{MIN_OUTCOMES_PER_GROUP} not recovered in each, are needed before the lift means much."
    )


def _shortfall(group: str, carts: int, recovered: int) -> str | None:
    if carts < MIN_CARTS_PER_GROUP:
        return f"the {group} group has {_carts(carts)}"
    if recovered < MIN_OUTCOMES_PER_GROUP:
        return f"the {group} group has {recovered} recovered {_carts_word(recovered)}"
    if carts - recovered < MIN_OUTCOMES_PER_GROUP:
        return f"the {group} group has only {_carts(carts - recovered)} not recovered"
    return None


def _carts(count: int) -> str:
    return f"{count} {_carts_word(count)}"


def _carts_word(count: int) -> str:
    return "cart" if count == 1 else "carts"


def _check_counts(successes: int, trials: int) -> None:
    if successes < 0 or trials < 0:
        raise ValueError(f"counts cannot be negative ({successes} of {trials})")
    if successes > trials:
        raise ValueError(f"{successes} successes cannot exceed {trials} trials")


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:  # also refuses NaN
        raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def _quantile(ordered: Sequence[float], q: float) -> float:
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def _rate(successes: int, trials: int) -> float:
    return successes / trials if trials else 0.0


def _mean(values: Sequence[Decimal]) -> Decimal:
    return sum(values, Decimal(0)) / len(values) if values else Decimal(0)


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(_CENT, rounding=ROUND_HALF_EVEN)


def _cents_or_none(amount: float) -> Decimal | None:
    return _cents(Decimal(repr(amount))) if math.isfinite(amount) else None
