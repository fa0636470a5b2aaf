"""
The slanted triangular schedule as plain arithmetic on update counters.

Nothing here knows about torch or AllenNLP: every function maps counters (how many
updates have been applied, where the epochs ended) to the *fraction* of the way from
the floor (`base / ratio`) to the peak (`base`) that the next update uses. The scheduler
class owns the counters and turns fractions into learning rates.

The triangle of Howard & Ruder (2018), eq. 3, with `t` counted from 1 as AllenNLP does:

    cut = max(1, floor(T * cut_frac))
    p(t) = t / cut                              if t < cut
         = 1 - (t - cut) / (T - cut)            otherwise
    lr(t) = base * (1 + p(t) * (ratio - 1)) / ratio

AllenNLP's built-in uses `cut = floor(T * cut_frac)`; flooring it at one update means a
short triangle still reaches its peak instead of starting the decay below it.
"""
import math
from typing import List, NamedTuple, Optional, Sequence, Tuple


def rate(base: float, fraction: float, ratio: float) -> float:
    """The learning rate `fraction` of the way from `base / ratio` up to `base`."""
    # Same operation order as AllenNLP's built-in, so equal inputs give equal floats.
    return base * (1 + fraction * (ratio - 1)) / ratio


def rates(bases: Sequence[float], fraction: float, ratio: float) -> List[float]:
    """`rate` of each of `bases`, with the part that depends on `fraction` worked out once."""
    rise = 1 + fraction * (ratio - 1)
    # `base * rise / ratio` is `rate`'s operation order, so the floats are identical.
    return [base * rise / ratio for base in bases]


def warmup_updates(total: int, cut_frac: float) -> int:
    """The update at which a triangle of `total` updates peaks (1 <= cut <= total)."""
    return min(total, max(1, int(total * cut_frac)))


def triangle(step: int, total: int, cut_frac: float) -> float:
    """
    Fraction of update `step` (1-based; 0 is "before training") in a triangle of `total`
    updates. Steps past the end stay on the floor.
    """
    return Plan(0, total, cut_frac, cut=warmup_updates(total, cut_frac)).at(step)


def open_warmup(step: int) -> float:
    """
    Fraction of update `step` while the length of the first epoch is still unknown.

    `1 - 1/sqrt(step)`: starts on the floor, never decreases and never reaches the peak
    (50% of the way after 4 updates, 90% after 100, 99% after 10,000), so it needs no
    guess of the epoch's length. Once that length is known the schedule continues with
    `replanned_triangle`.
    """
    return 0.0 if step <= 0 else 1 - 1 / math.sqrt(step)


def replanned_triangle(
    step: int, total: int, cut_frac: float, start: int, start_fraction: float
) -> float:
    """
    A triangle of `total` updates whose first `start` updates ran on `open_warmup`.

    From `(start, start_fraction)` the fraction rises linearly to the peak at the
    triangle's own cut (or at the next update, if the cut has already passed) and then
    falls linearly to the floor at update `total`.
    """
    if step <= start:
        return open_warmup(step)
    if total <= start:
        return 0.0
    step = min(step, total)
    peak = max(warmup_updates(total, cut_frac), start + 1)
    if step < peak:
        return start_fraction + (1 - start_fraction) * (step - start) / (peak - start)
    if peak == total:
        return 1.0
    return 1 - (step - peak) / (total - peak)


def discriminative_factors(nonempty: Sequence[bool], decay_factor: float) -> List[float]:
    """
    Per-group multipliers of discriminative fine-tuning: the top (last) non-empty group
    keeps its rate, each non-empty group below it is `decay_factor` times the one above.
    Empty groups keep a factor of 1 and do not count as a layer.
    """
    factors = [1.0] * len(nonempty)
    depth = 0
    for index in reversed(range(len(nonempty))):
        if nonempty[index]:
            factors[index] = decay_factor**depth
            depth += 1
    return factors


def unfrozen_groups(epochs_done: int, num_layer_groups: int) -> int:
    """How many layer groups, counted from the top, train in the epoch after `epochs_done`."""
    return min(epochs_done + 1, num_layer_groups)


def steps_per_epoch(
    epoch_ends: Sequence[int], configured: Optional[int], updates: int
) -> Optional[int]:
    """
    The epoch length the schedule plans with: the mean length of the completed epochs
    (floored, as AllenNLP's built-in does), else the configured length (stretched if the
    first epoch runs longer), else None while the first epoch's length is unknown.
    """
    if epoch_ends:
        return epoch_ends[-1] // len(epoch_ends)
    if configured is None:
        return None
    return max(configured, updates)


# (update where the plan changed, fraction there, whether the peak was already behind)
Anchor = Tuple[int, float, bool]


class Plan(NamedTuple):
    """
    The shape of the schedule between two epoch ends: everything `fraction` needs besides
    the update count. Working it out walks the completed epochs, so the scheduler does it
    once per epoch and then only evaluates `at(updates)` per update.
    """

    origin: int  # the update the current triangle (or open warm-up) counts from
    total: Optional[int]  # updates in the current triangle; None: length unknown
    cut_frac: float
    anchor: Optional[Anchor] = None  # where a re-planned triangle continues from
    # The last update count the plan holds for; None: until the next epoch end. Only a
    # configured first epoch that runs long stretches the plan update by update.
    valid_through: Optional[int] = None
    cut: int = 0  # the triangle's peak, `warmup_updates(total, cut_frac)`; unused with an anchor

    def at(self, updates: int) -> float:
        """The fraction of the way from floor to peak for update number `updates`."""
        step = updates - self.origin
        if self.total is None:
            return open_warmup(step)
        if self.anchor is not None:
            return _continued(step, self.total, self.cut_frac, self.anchor)[0]
        # The triangle, evaluated here rather than in a helper: this runs once per update.
        total, cut = self.total, self.cut
        if total <= 0:
            return 0.0
        if step < 0:  # clamp to [0, total] (plain comparisons cost less than min/max)
            step = 0
        elif step > total:
            step = total
        if step < cut:
            return step / cut
        if cut == total:  # cut_frac = 1 (or a one-update triangle): pure warm-up
            return 1.0
        return 1 - (step - cut) / (total - cut)


def fraction(
    updates: int,
    epoch_ends: Sequence[int],
    num_epochs: int,
    configured_steps_per_epoch: Optional[int],
    cut_frac: float,
    freezing_epochs: int = 0,
) -> float:
    """
    The fraction of the way from floor to peak for update number `updates`.

    # Parameters

    updates : `int`
        Updates applied so far, including the one this fraction is for (0 = none yet).
    epoch_ends : `Sequence[int]`
        The value of `updates` at the end of each completed epoch.
    num_epochs : `int`
        Epochs the whole schedule spans.
    configured_steps_per_epoch : `Optional[int]`
        The configured epoch length, `None` when unknown.
    cut_frac : `float`
        Fraction of each triangle spent warming up.
    freezing_epochs : `int`, optional (default = `0`)
        With gradual unfreezing, the number of epochs (`layer groups - 1`) that each run
        their own one-epoch triangle before one triangle spans the rest of training.
    """
    return plan(
        updates, epoch_ends, num_epochs, configured_steps_per_epoch, cut_frac, freezing_epochs
    ).at(updates)


def plan(
    updates: int,
    epoch_ends: Sequence[int],
    num_epochs: int,
    configured_steps_per_epoch: Optional[int],
    cut_frac: float,
    freezing_epochs: int = 0,
) -> Plan:
    """The `Plan` that gives `fraction` of `updates`; same parameters as `fraction`."""
    length = steps_per_epoch(epoch_ends, configured_steps_per_epoch, updates)
    # The configured length of a first epoch is stretched by an epoch that runs longer.
    valid_through = length if not epoch_ends and length is not None else None
    epochs_done = len(epoch_ends)
    if epochs_done < freezing_epochs:
        # One triangle per epoch while layers are still being unfrozen.
        epoch_start = epoch_ends[-1] if epoch_ends else 0
        cut = 0 if length is None else warmup_updates(length, cut_frac)
        return Plan(epoch_start, length, cut_frac, None, valid_through, cut)
    start = epoch_ends[freezing_epochs - 1] if freezing_epochs else 0
    if length is None:
        return Plan(start, None, cut_frac)
    anchor: Optional[Anchor] = None
    planned_from = freezing_epochs
    if configured_steps_per_epoch is None and freezing_epochs == 0:
        # The first epoch ran on the open warm-up; continue from where it left off.
        anchor, planned_from = (epoch_ends[0], open_warmup(epoch_ends[0]), False), 1

    def planned_total(epochs_done: int, at_update: int) -> int:
        planned = steps_per_epoch(epoch_ends[:epochs_done], configured_steps_per_epoch, at_update)
        return num_epochs * (planned or 0) - start

    # An epoch whose length moves the mean re-plans the rest of the triangle from where the
    # schedule stands at that epoch's end, so the warm-up never falls and the decay never rises.
    first_end = epoch_ends[planned_from] if len(epoch_ends) > planned_from else updates
    total = planned_total(planned_from, first_end)
    for done in range(planned_from + 1, len(epoch_ends) + 1):
        at_update = epoch_ends[done] if done < len(epoch_ends) else updates
        replanned = planned_total(done, at_update)
        if replanned != total:
            at = epoch_ends[done - 1] - start
            value, past_peak = _continued(at, total, cut_frac, anchor)
            anchor, total = (at, value, past_peak), replanned
    return Plan(start, total, cut_frac, anchor, valid_through, warmup_updates(total, cut_frac))


def _continued(
    step: int, total: int, cut_frac: float, anchor: Optional[Anchor]
) -> Tuple[float, bool]:
    """The fraction at `step` of a triangle of `total` updates, and whether it has peaked."""
    if anchor is None:
        return triangle(step, total, cut_frac), step >= warmup_updates(total, cut_frac)
    start, start_fraction, past_peak = anchor
    if step <= start:
        return start_fraction, past_peak
    if total <= start:
        return 0.0, True
    if past_peak:
        # Already decaying: fall linearly from here to the floor at the new end.
        step = min(step, total)
        return start_fraction * (1 - (step - start) / (total - start)), True
    value = replanned_triangle(step, total, cut_frac, start, start_fraction)
    return value, step >= max(warmup_updates(total, cut_frac), start + 1)
