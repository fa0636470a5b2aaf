"""
The learning-rate range test's arithmetic, pure functions of the recorded rates and losses:
the sweep's rates, the smoothed loss, the divergence test, and the rules that suggest a
rate from a curve.

The rules are fastai's (`fastai.callback.schedule`: `valley`, `slide`, `steep`, `minimum`),
written here over plain lists, and read the curve as fastai's `lr_find` does: on the
smoothed loss, without the first tenth of the planned steps and the last 5 recorded ones
(`trimmed`). Each takes (rates, losses) and returns the suggested rate. `DEFAULT_RULE`,
fastai's default, was kept after comparing the rules with peak rates searched on dev sets
(benchmarks/README.md, "The finder's suggestion against the searched best").
"""
import math
from typing import Callable, Dict, List, Sequence, Tuple

import numpy

Rule = Callable[[Sequence[float], Sequence[float]], float]


def exponential_rates(start: float, end: float, steps: int) -> List[float]:
    """`steps` rates from `start` to `end` (both included), a constant factor apart."""
    if steps == 1:
        return [start]
    factor = math.log(end / start) / (steps - 1)
    return [start * math.exp(factor * step) for step in range(steps)]


def smoothed(losses: Sequence[float], beta: float) -> List[float]:
    """The bias-corrected exponential moving average of `losses` (fastai's and AllenNLP's)."""
    average, out = 0.0, []
    for count, loss in enumerate(losses, start=1):
        average = beta * average + (1 - beta) * loss
        out.append(average / (1 - beta**count))
    return out


def diverged(smoothed_losses: Sequence[float], stopping_factor: float) -> bool:
    """Whether the last smoothed loss is not finite or exceeds `stopping_factor` times the
    lowest so far (fastai's rule, on the smoothed loss as fastai applies it)."""
    last = smoothed_losses[-1]
    return not math.isfinite(last) or last > stopping_factor * min(smoothed_losses)


def trimmed(
    rates: Sequence[float], losses: Sequence[float], planned_steps: int, skip_end: int = 5
) -> Tuple[List[float], List[float]]:
    """The part of the curve the rules read (fastai's `lr_find`): without the first tenth of
    the planned steps, the last `skip_end` recorded ones, and anything from the first
    non-finite loss on."""
    begin = planned_steps // 10
    end = max(begin, len(losses) - skip_end)
    rates, losses = list(rates[begin:end]), list(losses[begin:end])
    for index, loss in enumerate(losses):
        if not math.isfinite(loss):
            return rates[:index], losses[:index]
    return rates, losses


def valley(rates: Sequence[float], losses: Sequence[float]) -> float:
    """fastai's `valley`: the longest run of ever lower losses (a decreasing subsequence,
    not necessarily contiguous), and the rate about halfway along it in steps, that is in
    log rate. As in fastai, the run is taken to start at its last point minus its length
    (here no earlier than the first point: fastai's index then wraps to the curve's end)."""
    count = len(losses)
    longest = [1] * count  # longest decreasing subsequence ending at each point
    end = 0
    for i in range(1, count):
        for j in range(i):
            if losses[i] < losses[j] and longest[i] < longest[j] + 1:
                longest[i] = longest[j] + 1
            if longest[end] < longest[i]:
                end = i
    start = max(0, end - longest[end])
    third = (end - start) / 3
    return float(rates[start + int(third) + int(third / 2)])


def slide(
    rates: Sequence[float],
    losses: Sequence[float],
    lr_diff: int = 15,
    thresh: float = 0.005,
    adjust_value: float = 1.0,
) -> float:
    """fastai's `slide`: walk a window of `lr_diff` steps leftwards from the end of the curve
    while the loss's slope (per step) differs between its two ends by more than `thresh`;
    the rate at the window's left end where it stops, times `adjust_value`."""
    slope = numpy.gradient(numpy.asarray(losses, dtype=float)) if len(losses) > 1 else [0.0]
    lr_diff = min(lr_diff, len(losses) - 1)
    right, left = -1, -1 - lr_diff
    found = rates[left]
    while left >= -len(losses) and abs(slope[right] - slope[left]) > thresh:
        found = rates[left]
        right, left = right - 1, left - 1
    return float(found) * adjust_value


def steepest(rates: Sequence[float], losses: Sequence[float]) -> float:
    """fastai's `steep`: the rate where the loss falls fastest per unit of log rate (the
    left end of the steepest segment)."""
    slopes = [
        (losses[i + 1] - losses[i]) / (math.log(rates[i + 1]) - math.log(rates[i]))
        for i in range(len(losses) - 1)
    ]
    return float(rates[int(numpy.argmin(slopes))]) if slopes else float(rates[0])


def minimum_tenth(rates: Sequence[float], losses: Sequence[float]) -> float:
    """fastai's `minimum`: a tenth of the rate at the lowest loss."""
    return float(rates[int(numpy.argmin(losses))]) / 10


RULES: Dict[str, Rule] = {
    "valley": valley,
    "slide": slide,
    "steepest": steepest,
    "minimum": minimum_tenth,
}
# fastai's default since 2.5; against the dev searches, the only rule within a factor of 2 of
# the searched best on every set measured.
DEFAULT_RULE = "valley"
