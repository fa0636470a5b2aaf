"""
The slanted triangular schedule as plain arithmetic on update counters.

Nothing here knows about torch or AllenNLP. `plan` maps the progress counters (updates
applied so far, the update count at each epoch end) to a `Plan`: the schedule as a short
list of straight-line `Piece`s, each moving the *fraction* of the way from the floor
(`base / ratio`, fraction 0) to the peak (`base`, fraction 1) linearly between two update
counts. The scheduler class owns the counters and turns fractions into learning rates,
`lr = base * (1 + fraction * (ratio - 1)) / ratio`.

The triangle of Howard & Ruder (2018), eq. 3, with `t` counted from 1 as AllenNLP does:

    cut = max(1, floor(T * cut_frac))           (0 when cut_frac = 0: decay only)
    p(t) = t / cut                              if t < cut
         = 1 - (t - cut) / (T - cut)            otherwise
    lr(t) = base * (1 + p(t) * (ratio - 1)) / ratio

is two pieces: `(0, cut, 0 -> 1)` and `(cut, T, 1 -> 0)`. AllenNLP's built-in uses
`cut = floor(T * cut_frac)`; flooring it at one update for `cut_frac > 0` means a short
triangle still reaches its peak instead of starting the decay below it.

The whole schedule is a sequence of stages:

* With gradual unfreezing over `L` layer groups, each of the first `L - 1` stages is a
  triangle of its own: one epoch each (AllenNLP's rule), or `stage_updates` updates each.
* The main triangle then spans the rest of training, up to `num_epochs` epochs of the
  planned length.

The planned epoch length is the floored mean of the completed epochs (as in the built-in),
else the configured length (stretched while the first epoch runs longer), else unknown.
While it is unknown the main stage runs the *open warm-up* `1 - 1/sqrt(t)`, the one curve
in the schedule: it starts on the floor, never falls and never reaches the peak, so it
needs no guess of the length. Whenever an epoch end moves the planned end of the main
triangle (the first epoch's length becomes known, or differs from the configured one, or
epoch lengths vary), the rest is *re-planned* from where the fraction stands at that epoch
end: before the peak, it rises to the peak at the new triangle's cut, but never faster than
the new triangle's own warm-up (`1/cut` of the way per update), so a re-plan never makes the
rate jump; after the peak, it falls linearly to the floor at the new end.
"""
import math
from bisect import bisect_left, bisect_right
from typing import List, NamedTuple, Optional, Sequence


class Piece(NamedTuple):
    """The fraction runs linearly from `start_value` (after update `start`) to `end_value`
    (at update `end`)."""

    start: int
    end: int
    start_value: float
    end_value: float


class Plan:
    """
    The fraction of every update from some point on: `pieces` in order, then, from update
    `open_from` on (if set), the open warm-up. Updates past the last piece keep its end value.
    The plan holds through update `holds_through`: until the next epoch end, except in a first
    epoch that runs past its configured length, where each update stretches the plan.
    """

    __slots__ = ("pieces", "ends", "open_from", "open_value", "holds_through")

    def __init__(
        self,
        pieces: Sequence[Piece],
        open_from: Optional[int] = None,
        cut_frac: float = 0.1,
        holds_through: float = math.inf,
    ):
        self.pieces = list(pieces)
        # One last piece that holds the end value, so every update finds a piece.
        last_end = self.pieces[-1].end if self.pieces else 0
        last_value = self.pieces[-1].end_value if self.pieces else 0.0
        self.pieces.append(Piece(last_end, math.inf, last_value, last_value))  # type: ignore[arg-type]
        self.ends = [piece.end for piece in self.pieces]
        self.open_from = math.inf if open_from is None else open_from
        self.holds_through = holds_through
        # With cut_frac 0 (no warm-up asked for) the open stage holds the peak instead.
        self.open_value = 1.0 if cut_frac == 0 else None

    def at(self, updates: int) -> float:
        """The fraction for update number `updates` (1-based)."""
        if updates > self.open_from:
            if self.open_value is not None:
                return self.open_value
            return open_warmup(updates - self.open_from)
        start, end, start_value, end_value = self.pieces[bisect_left(self.ends, updates)]
        if updates <= start:
            return start_value
        # For a triangle's pieces these are the built-in's `step / cut` and
        # `1 - (step - cut) / (T - cut)`, so equal inputs give equal floats; and a piece
        # lands exactly on its end value.
        return start_value + (end_value - start_value) * ((updates - start) / (end - start))


def warmup_updates(total: int, cut_frac: float) -> int:
    """The update (counted from the triangle's start) at which a triangle of `total` peaks."""
    if cut_frac == 0:
        return 0
    return min(total, max(1, int(total * cut_frac)))


def triangle(start: int, total: int, cut_frac: float) -> List[Piece]:
    """The pieces of a triangle of `total` updates that starts after update `start`."""
    if total <= 0:
        return []
    peak = start + warmup_updates(total, cut_frac)
    end = start + total
    pieces = []
    if peak > start:
        pieces.append(Piece(start, peak, 0.0, 1.0))
    if end > peak:
        pieces.append(Piece(peak, end, 1.0, 0.0))
    return pieces


def open_warmup(step: int) -> float:
    """
    Fraction of update `step` of a stage whose length is not known yet: `1 - 1/sqrt(step)`
    (50% of the way after 4 updates, 90% after 100, 99% after 10,000).
    """
    return 0.0 if step <= 0 else 1 - 1 / math.sqrt(step)


def replanned(
    anchor: int, value: float, past_peak: bool, start: int, end: int, cut_frac: float
) -> List[Piece]:
    """
    The rest of a main triangle (from update `start` to `end`) continued from `value` at
    update `anchor`: up to the peak, rising no faster than the triangle's own warm-up (unless
    the triangle ends first), then down to the floor at `end`; or, past the peak already,
    straight down to the floor.
    """
    if end <= anchor:
        return [Piece(anchor, anchor, 0.0, 0.0)]
    cut = warmup_updates(end - start, cut_frac)
    if past_peak or value >= 1.0 or cut == 0:
        return [Piece(anchor, end, value, 0.0)]
    # Rising (1 - value) at the warm-up's slope of 1/cut per update takes this many updates.
    catch_up = math.ceil((1.0 - value) * cut - 1e-9)
    peak = min(max(start + cut, anchor + catch_up, anchor + 1), end)
    pieces = [Piece(anchor, peak, value, 1.0)]
    if end > peak:
        pieces.append(Piece(peak, end, 1.0, 0.0))
    return pieces


def epoch_length(
    epoch_ends: Sequence[int], configured: Optional[int], updates: int
) -> Optional[int]:
    """
    The epoch length the schedule plans with: the floored mean length of the completed
    epochs (as AllenNLP's built-in), else the configured length (stretched while the first
    epoch runs longer), else None while the first epoch's length is unknown.
    """
    if epoch_ends:
        return epoch_ends[-1] // len(epoch_ends)
    if configured is None:
        return None
    return max(configured, updates)


def stage(updates: int, epoch_ends: Sequence[int], freezing_stages: int, stage_updates: Optional[int]) -> int:
    """
    The stage that the update after `updates` belongs to: 0 .. `freezing_stages` - 1 while
    layer groups are being unfrozen, `freezing_stages` once all are.
    """
    done = len(epoch_ends) if stage_updates is None else updates // stage_updates
    return min(done, freezing_stages)


def unfrozen_groups(stage_index: int, num_layer_groups: int) -> int:
    """How many layer groups, counted from the top, train in stage `stage_index`."""
    return min(stage_index + 1, num_layer_groups)


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


def plan(
    updates: int,
    epoch_ends: Sequence[int],
    num_epochs: int,
    configured_steps_per_epoch: Optional[int],
    cut_frac: float,
    freezing_stages: int = 0,
    stage_updates: Optional[int] = None,
) -> Plan:
    """
    The `Plan` for the updates after `updates`, until the next epoch end.

    # Parameters

    updates : `int`
        Updates applied so far (0 = none yet).
    epoch_ends : `Sequence[int]`
        The value of `updates` at the end of each completed epoch.
    num_epochs : `int`
        Epochs the whole schedule spans.
    configured_steps_per_epoch : `Optional[int]`
        The configured epoch length, `None` when unknown.
    cut_frac : `float`
        Fraction of each triangle spent warming up.
    freezing_stages : `int`, optional (default = `0`)
        With gradual unfreezing, the number of stages (`layer groups - 1`) that each run
        their own triangle before the main triangle spans the rest of training.
    stage_updates : `Optional[int]`, optional (default = `None`)
        The length of each freezing stage in updates; `None`: one epoch each.
    """
    length = epoch_length(epoch_ends, configured_steps_per_epoch, updates)
    # A configured first epoch stretches the plan once it runs longer.
    holds = math.inf if epoch_ends or length is None else float(length)
    pieces: List[Piece] = []
    if stage_updates is None:
        if len(epoch_ends) < freezing_stages:
            # Still unfreezing: this epoch is a triangle of its own.
            start = epoch_ends[-1] if epoch_ends else 0
            if length is None:
                return Plan([], open_from=start, cut_frac=cut_frac)
            return Plan(triangle(start, length, cut_frac), holds_through=holds)
        main_start = epoch_ends[freezing_stages - 1] if freezing_stages else 0
    else:
        for index in range(freezing_stages):
            pieces += triangle(index * stage_updates, stage_updates, cut_frac)
        main_start = freezing_stages * stage_updates

    # The main triangle as planned when it started: with the length known by the first
    # epoch end after its start (a configured first epoch stretches up to there).
    done = bisect_right(epoch_ends, main_start)
    first_end = epoch_ends[done] if done < len(epoch_ends) else updates
    length = epoch_length(epoch_ends[:done], configured_steps_per_epoch, first_end)
    if length is None:
        if done == len(epoch_ends):
            return Plan(pieces, open_from=main_start, cut_frac=cut_frac, holds_through=holds)
        # The open warm-up ran until the first epoch end; continue from where it stands.
        anchor = epoch_ends[done]
        done += 1
        end = num_epochs * (anchor // done)
        value = 1.0 if cut_frac == 0 else open_warmup(anchor - main_start)
        main = replanned(anchor, value, cut_frac == 0, main_start, end, cut_frac)
    else:
        end = num_epochs * length
        main = triangle(main_start, end - main_start, cut_frac) or [
            Piece(main_start, main_start, 0.0, 0.0)
        ]
    # Every later epoch end that moves the planned end re-plans the rest from there.
    for completed in range(done + 1, len(epoch_ends) + 1):
        moved = num_epochs * (epoch_ends[completed - 1] // completed)
        if moved == end:
            continue
        anchor = epoch_ends[completed - 1]
        rising = [piece.end for piece in main if piece.end_value > piece.start_value]
        past_peak = not rising or anchor >= rising[-1]
        value = Plan(main).at(anchor)
        main, end = replanned(anchor, value, past_peak, main_start, moved, cut_frac), moved
    return Plan(pieces + main, holds_through=holds)
