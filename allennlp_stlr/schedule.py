"""
The slanted triangular schedule as plain arithmetic on update counters (no torch, no AllenNLP).

[docs/schedule.md](../docs/schedule.md) writes the rules out; this module is that text as
code. Updates are counted from 1, as AllenNLP's trainer numbers them: "after update `start`"
means that update `start + 1` is the first one of a piece. Its concepts, one sentence each
(the scheduler's four are in `allennlp_stlr/scheduler.py`):

1. A *fraction* is how far a rate is from the floor (`base / ratio`, 0) to the peak (`base`,
   1): the scheduler turns it into a rate, `lr = base * (1 + fraction * (ratio - 1)) / ratio`.
2. A `Plan` gives the fraction at every update as straight-line `Piece`s between update
   counts, and after its last piece that piece's end value (or, when open, the open warm-up).
3. A `triangle` of `T` updates rises from the floor to the peak at update
   `cut = warmup_updates(T, cut_frac)` and falls back to the floor at update `T`.
4. The open warm-up, `open_warmup(t) = 1 - 1/sqrt(t)`, runs while the epoch length is unknown:
   it starts on the floor and only rises, never reaching the peak, so it needs no guess.
5. `Stages` are gradual unfreezing's: each stage that keeps a layer frozen (an epoch, or
   `unfreeze_every_num_updates` updates) is a triangle of its own, and the main stage's
   triangle spans the rest of training.
6. `epoch_length` is the length the schedule plans with: the floored mean of the completed
   epochs, else the configured one (stretched while the first epoch runs longer), else unknown.
7. `plan` is the plan until the next epoch end: the stages' triangles, then the main triangle
   as first planned, re-planned (`Plan.replan`) at each later epoch end that moves its end,
   from where the fraction stands and rising no faster than its own warm-up.
8. `discriminative_factors` scales each layer's base rate by `decay_factor` per layer above it.
"""
import math
from bisect import bisect_left, bisect_right
from typing import Any, FrozenSet, List, NamedTuple, Optional, Sequence, Tuple


# ----------------------------------------------------------------------------- 2. plans
class Piece(NamedTuple):
    """The fraction runs linearly from `start_value` (after update `start`) to `end_value` (at
    update `end`)."""

    start: int
    end: int
    start_value: float
    end_value: float


class Plan:
    """
    The fraction at every update: `pieces` in order, at least one; after the last piece, its
    end value, or, with `open_warmup`, the open warm-up counted from the last piece's end.

    `valid_through` is the last update the plan holds for while the first epoch runs: a first
    epoch longer than configured stretches the plan at every update (`epoch_length`).
    """

    __slots__ = ("pieces", "open_warmup", "valid_through", "_ends", "_last_end")

    def __init__(
        self, pieces: Sequence[Piece], open_warmup: bool = False, valid_through: float = math.inf
    ):
        self.pieces = list(pieces)
        self.open_warmup = open_warmup
        self.valid_through = valid_through
        self._ends = [piece.end for piece in self.pieces]
        self._last_end = self._ends[-1]

    def at(self, updates: int) -> float:
        """The fraction for update number `updates`. The one place where a piece's shape is
        evaluated: a fall of another shape would be a change here."""
        if updates > self._last_end:
            if self.open_warmup:
                return open_warmup(updates - self._last_end)
            return self.pieces[-1].end_value
        start, end, start_value, end_value = self.pieces[bisect_left(self._ends, updates)]
        if updates <= start:
            return start_value
        # For a triangle's pieces these are the built-in's `step / cut` and
        # `1 - (step - cut) / (T - cut)`: equal inputs give equal floats, and a piece lands
        # exactly on its end value.
        return start_value + (end_value - start_value) * ((updates - start) / (end - start))

    def replan(self, anchor: int, start: int, end: int, cut_frac: float) -> "Plan":
        """
        This plan continued from where it stands at update `anchor`, for a triangle that began
        after update `start` and now ends at update `end`: while still rising, up to the peak
        at the triangle's `cut`, or later, so as to rise no faster than the triangle's own
        warm-up (the rate never jumps); past its peak, straight down to the floor at `end`.
        """
        if end <= anchor:  # the new end has passed: the floor from here on
            return Plan([Piece(anchor, anchor, 0.0, 0.0)])
        value = self.at(anchor)
        cut = warmup_updates(end - start, cut_frac)
        if value >= 1.0 or cut == 0 or not self._rises_after(anchor):
            return Plan([Piece(anchor, end, value, 0.0)])
        # Rising (1 - value) at the warm-up's slope of 1/cut per update takes this many updates.
        catch_up = math.ceil((1.0 - value) * cut - 1e-9)
        peak = min(max(start + cut, anchor + catch_up, anchor + 1), end)
        pieces = [Piece(anchor, peak, value, 1.0)]
        if end > peak:
            pieces.append(Piece(peak, end, 1.0, 0.0))
        return Plan(pieces)

    def _rises_after(self, anchor: int) -> bool:
        """Whether the fraction rises at update `anchor + 1`."""
        if anchor + 1 > self._last_end:
            return self.open_warmup
        piece = self.pieces[bisect_left(self._ends, anchor + 1)]
        return piece.end_value > piece.start_value


# ----------------------------------------------------------------------------- 3. triangles
def warmup_updates(total: int, cut_frac: float) -> int:
    """
    ULMFiT's `cut = floor(T * cut_frac)`: the update (counted from the triangle's start) at which
    a triangle of `total` updates peaks. Floored at 1 for `cut_frac > 0`, so that a short
    triangle still reaches its peak; 0 with `cut_frac = 0` (decay only, as the built-in).
    """
    if cut_frac == 0:
        return 0
    return min(total, max(1, int(total * cut_frac)))


def triangle(start: int, total: int, cut_frac: float) -> List[Piece]:
    """The pieces of a triangle of `total` updates after update `start`: up to the peak at
    `cut`, then down to the floor at the last update; with no updates, the floor."""
    if total <= 0:
        return [Piece(start, start, 0.0, 0.0)]
    peak = start + warmup_updates(total, cut_frac)
    end = start + total
    pieces = []
    if peak > start:
        pieces.append(Piece(start, peak, 0.0, 1.0))
    if end > peak:
        pieces.append(Piece(peak, end, 1.0, 0.0))
    return pieces


# ----------------------------------------------------------------------------- 4. open warm-up
def open_warmup(step: int) -> float:
    """
    The fraction of update `step` of a stage whose length is not known yet: `1 - 1/sqrt(step)`
    (50% of the way after 4 updates, 90% after 100, 99% after 10,000).
    """
    return 0.0 if step <= 0 else 1 - 1 / math.sqrt(step)


def _first_plan(start: int, total: Optional[int], cut_frac: float) -> Plan:
    """A triangle of `total` updates after update `start`; with `total` unknown, the open
    warm-up from `start` (with `cut_frac = 0`, which asks for no warm-up: the peak)."""
    if total is not None:
        return Plan(triangle(start, total, cut_frac))
    if cut_frac == 0:
        return Plan([Piece(start, start, 0.0, 1.0)])  # the floor at `start`, the peak after it
    return Plan([Piece(start, start, 0.0, 0.0)], open_warmup=True)


# ----------------------------------------------------------------------------- 5. stages
class Stages(NamedTuple):
    """
    Gradual unfreezing as stages. Stage `k` (0 .. `frozen` - 1) trains the top `k + 1` layers
    and is a triangle of its own; stage `frozen`, the main stage, trains every layer, and one
    triangle spans the rest of training. A stage is one epoch (ULMFiT's rule), or
    `every_num_updates` updates (stage `k` is updates `k * N + 1` to `(k + 1) * N`).
    `Stages()` is a run without gradual unfreezing: the main stage only.

    This is the one place that knows whether stages are counted in epochs or in updates.
    """

    frozen: int = 0
    every_num_updates: Optional[int] = None

    def of_update(self, update: int, epoch_ends: Sequence[int]) -> int:
        """The stage that update number `update` (1-based) belongs to."""
        if self.every_num_updates is None:
            begun = bisect_left(epoch_ends, update)  # epochs that ended before this update
        else:
            begun = (update - 1) // self.every_num_updates
        return min(begun, self.frozen)

    def trained_layers(self, stage: int, num_layers: int) -> int:
        """How many layers, counted from the top, train in stage `stage`."""
        return num_layers if stage >= self.frozen else stage + 1

    def begin_after_updates(self) -> FrozenSet[int]:
        """The update counts after which a stage begins, when stages are counted in updates
        (a set: the scheduler looks its count up at every update)."""
        every = self.every_num_updates
        return frozenset() if every is None else frozenset(k * every for k in range(1, self.frozen + 1))

    def main_start(self, epoch_ends: Sequence[int]) -> Optional[int]:
        """The update after which the main stage begins; None while an epoch-long frozen stage
        has not ended."""
        if self.every_num_updates is not None:
            return self.frozen * self.every_num_updates
        if len(epoch_ends) < self.frozen:
            return None
        return epoch_ends[self.frozen - 1] if self.frozen else 0

    def frozen_triangles(self, cut_frac: float) -> List[Piece]:
        """The pieces of the frozen stages counted in updates, known in advance (an epoch-long
        stage is planned when it begins)."""
        every = self.every_num_updates
        if every is None:
            return []
        return [piece for k in range(self.frozen) for piece in triangle(k * every, every, cut_frac)]


# ----------------------------------------------------------------------------- 6. epoch length
def epoch_length(
    epoch_ends: Sequence[int], configured: Optional[int], updates: int
) -> Optional[int]:
    """
    The epoch length the schedule plans with: the floored mean length of the completed epochs
    (as AllenNLP's built-in), else the configured length (stretched while the first epoch runs
    longer), else None while the first epoch's length is unknown.
    """
    if epoch_ends:
        return epoch_ends[-1] // len(epoch_ends)
    if configured is None:
        return None
    return max(configured, updates)


# ----------------------------------------------------------------------------- 7. the plan
def plan(
    updates: int,
    epoch_ends: Sequence[int],
    num_epochs: int,
    configured_steps_per_epoch: Optional[int],
    cut_frac: float,
    stages: Stages = Stages(),
) -> Plan:
    """
    The `Plan` for the updates after `updates`, until the next epoch end.

    The main triangle begins as first planned, with the epoch length known when it started
    (or the open warm-up, when none is known). Each later epoch end that moves its planned end
    (`num_epochs` epochs of the mean length so far) then re-plans the rest from where the
    fraction stands at that epoch end.

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
    stages : `Stages`, optional (default = `Stages()`, no gradual unfreezing)
        Gradual unfreezing's stages.
    """
    length = epoch_length(epoch_ends, configured_steps_per_epoch, updates)
    valid_through = math.inf if epoch_ends or length is None else float(length)

    main_start = stages.main_start(epoch_ends)
    if main_start is None:
        # An epoch-long frozen stage: this epoch is a triangle of its own.
        start = epoch_ends[-1] if epoch_ends else 0
        first = _first_plan(start, length, cut_frac)
        return Plan(first.pieces, first.open_warmup, valid_through)

    # The main triangle as first planned, with the length known by the first epoch end after
    # its start (a configured first epoch stretches up to there).
    done = bisect_right(epoch_ends, main_start)
    first_end = epoch_ends[done] if done < len(epoch_ends) else updates
    length = epoch_length(epoch_ends[:done], configured_steps_per_epoch, first_end)
    end = None if length is None else num_epochs * length
    main = _first_plan(main_start, None if end is None else end - main_start, cut_frac)
    # Every later epoch end that moves the planned end re-plans the rest from there.
    for completed in range(done + 1, len(epoch_ends) + 1):
        anchor = epoch_ends[completed - 1]
        moved = num_epochs * (anchor // completed)  # the mean length so far, as `epoch_length`
        if moved != end:
            main, end = main.replan(anchor, main_start, moved, cut_frac), moved
    return Plan(stages.frozen_triangles(cut_frac) + main.pieces, main.open_warmup, valid_through)


def plan_key(
    updates: int,
    epoch_ends: Sequence[int],
    configured_steps_per_epoch: Optional[int],
    stages: Stages = Stages(),
) -> Tuple[Any, ...]:
    """
    What `plan` reads of the epoch ends, for the scheduler's cache: a plan stays right across
    an epoch end that leaves this key as it was (the usual case: a steady epoch length in the
    main stage). `plan` re-plans exactly when the mean epoch length moves, and each frozen
    epoch is a triangle of its own.
    """
    main_start = stages.main_start(epoch_ends)
    return (
        len(epoch_ends) if main_start is None else main_start,
        epoch_length(epoch_ends, configured_steps_per_epoch, updates),
    )


# ----------------------------------------------------------------------------- 8. layers
def discriminative_factors(nonempty: Sequence[bool], decay_factor: float) -> List[float]:
    """
    Per-layer multipliers of discriminative fine-tuning: the top (last) non-empty layer keeps
    its rate, each non-empty layer below it is `decay_factor` times the one above. Empty layers
    keep a factor of 1 and do not count as depth.
    """
    factors = [1.0] * len(nonempty)
    depth = 0
    for index in reversed(range(len(nonempty))):
        if nonempty[index]:
            factors[index] = decay_factor**depth
            depth += 1
    return factors
