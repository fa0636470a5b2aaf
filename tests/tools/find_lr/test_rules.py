"""
The range test's arithmetic and fastai's suggestion rules, on synthetic curves whose answer
is known by construction (an index of the curve, hence its rate).
"""
import math
from typing import Callable, List, Sequence

import pytest

from allennlp_stlr.tools.find_lr import rules

RATES = rules.exponential_rates(1e-6, 1.0, 61)  # 10 points per decade


def curve(function: Callable[[int], float], count: int = 61) -> List[float]:
    return [function(index) for index in range(count)]


# A plateau at 2 until index 20, a straight fall of 1/16 per step to 1 at index 36, flat
# until 50, then a blow-up.
FALL = curve(lambda i: 2.0 - max(0, min(i, 36) - 20) / 16 + max(0, i - 50) / 2)
# A fall whose slope is steepest between indices 30 and 31: 1 - tanh((i - 30.5) / 5).
SIGMOID = curve(lambda i: 1.0 - math.tanh((i - 30.5) / 5))
# A parabola in log rate with its minimum at index 45.
BOWL = curve(lambda i: (i - 45) ** 2 / 100 + 1.0)
RISING = curve(lambda i: 1.0 + 0.01 * i)
# Flat until index 40, then rising ever faster: 1 + (i - 40)^2 / 10.
ELBOW = curve(lambda i: 1.0 + max(0, i - 40) ** 2 / 10)

# rule, curve, index of the expected rate, factor applied to that rate
CASES = [
    # The longest strictly falling run of FALL is 20..36 (17 points); fastai's start is its
    # end minus its length, 19, and the point is 19 + int(17 / 3) + int(17 / 6) = 26.
    ("valley", FALL, 26, 1.0),
    # BOWL falls over 0..45 (46 points): start 45 - 46 = -1, taken as 0; 0 + 15 + 7 = 22.
    ("valley", BOWL, 22, 1.0),
    # Never falling: the one-point run at 0.
    ("valley", RISING, 0, 1.0),
    ("steepest", SIGMOID, 30, 1.0),  # the left end of the steepest segment, 30..31
    ("steepest", BOWL, 0, 1.0),  # the first segment falls the most
    ("minimum", BOWL, 45, 0.1),
    ("minimum", FALL, 36, 0.1),  # the first of the lowest points (36..50)
    # ELBOW's slope (central differences) is 0 up to index 39 and at least 0.05 from 40:
    # windows of 15 steps walk left from 45..60 while their ends' slopes differ; the first
    # whose ends agree is 24..39, and the rate is that of the left end of the one before, 25.
    ("slide", ELBOW, 25, 1.0),
]  # fmt: skip


@pytest.mark.parametrize("name, losses, index, factor", CASES)
def test_rule_suggests_the_rate_the_curve_is_built_for(
    name: str, losses: Sequence[float], index: int, factor: float
) -> None:
    assert rules.RULES[name](RATES, losses) == pytest.approx(RATES[index] * factor, rel=1e-12)


def test_slide_takes_its_window_and_threshold() -> None:
    # With a wide threshold every window passes at once: the first window's left end.
    assert rules.slide(RATES, ELBOW, lr_diff=10, thresh=100.0) == RATES[-11]
    assert rules.slide(RATES, ELBOW, lr_diff=10, thresh=100.0, adjust_value=0.5) == RATES[-11] / 2
    # A narrower window walks further right: the first agreeing window is 29..39.
    assert rules.slide(RATES, ELBOW, lr_diff=10) == RATES[30]
    # A curve shorter than the window: the window shrinks to the curve.
    assert rules.slide(RATES[:5], FALL[:5]) == RATES[0]


def test_exponential_rates_run_from_start_to_end_by_one_factor() -> None:
    rates = rules.exponential_rates(1e-7, 10.0, 9)
    assert rates[0] == 1e-7 and rates[-1] == pytest.approx(10.0, rel=1e-12)
    assert [b / a for a, b in zip(rates, rates[1:])] == pytest.approx([10.0] * 8, rel=1e-12)


def test_smoothed_is_the_bias_corrected_moving_average() -> None:
    assert rules.smoothed([4.0, 2.0], 0.5) == [4.0, (0.25 * 4.0 + 0.5 * 2.0) / 0.75]
    assert rules.smoothed([3.0, 1.0, 2.0], 0.0) == [3.0, 1.0, 2.0]
    assert rules.smoothed([5.0] * 50, 0.98) == pytest.approx([5.0] * 50, rel=1e-12)


@pytest.mark.parametrize(
    "losses, factor, expected",
    [
        ([2.0, 1.0, 3.9], 4.0, False),
        ([2.0, 1.0, 4.1], 4.0, True),
        ([2.0, 1.0, 2.1], 2.0, True),
        ([2.0, float("nan")], 4.0, True),
        ([2.0, float("inf")], 4.0, True),
    ],
)
def test_diverged_compares_with_the_lowest_smoothed_loss(
    losses: List[float], factor: float, expected: bool
) -> None:
    assert rules.diverged(losses, factor) is expected


def test_trimmed_drops_the_first_tenth_of_the_plan_the_last_five_and_non_finite_losses() -> None:
    rates = list(range(1, 101))
    losses = [1.0] * 100
    assert rules.trimmed(rates, losses, 100) == (rates[10:95], losses[10:95])
    # Stopped at step 40 of 100: still the first 10 planned steps off.
    assert rules.trimmed(rates[:40], losses[:40], 100) == (rates[10:35], losses[10:35])
    broken = losses[:30] + [float("nan")] + losses[31:]
    assert rules.trimmed(rates, broken, 100) == (rates[10:30], losses[10:30])
    assert rules.trimmed(rates[:12], losses[:12], 100) == ([], [])
