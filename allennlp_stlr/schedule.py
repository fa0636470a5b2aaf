"""
The slanted triangular schedule as plain arithmetic on update counters (no torch, no AllenNLP).

The formula, the stages and the re-planning rules are written out once, in
[docs/schedule.md](../docs/schedule.md); this module is that text as code. Read it top to
bottom: a triangle, a plan of triangles, gradual unfreezing's stages, and `plan`, which folds
the epoch ends seen so far into the plan for the next updates.

Everything is a *fraction* of the way from the floor (`base / ratio`, 0) to the peak (`base`,
1); the scheduler turns fractions into rates, `lr = base * (1 + fraction * (ratio - 1)) / ratio`.
Updates are counted from 1, as AllenNLP's trainer numbers them: "after update `start`" means
that update `start + 1` is the first one of a piece.
"""
import math
from bisect import bisect_left, bisect_right
from typing import Any, FrozenSet, List, NamedTuple, Optional, Sequence, Tuple


# ----------------------------------------------------------------------------- one triangle
def warmup_updates(total: int, cut_frac: float) -> int:
    """
    ULMFiT's `cut = floor(T * cut_frac)`: the update (counted from the triangle's start) at which
    a triangle of `total` updates peaks. Floored at 1 for `cut_frac > 0`, so that a short
    triangle still reaches its peak; 0 with `cut_frac = 0` (decay only, as the built-in).
    """
    if cut_frac == 0:
        return 0
    return min(total, max(1, int(total * cut_frac)))


class Piece(NamedTuple):
    """The fraction runs linearly from `start_value` (after update `start`) to `end_value` (at
    update `end`)."""

    start: int
    end: int
    start_value: float
    end_value: float


def triangle(start: int, total: int, cut_frac: float) -> List[Piece]:
    """The pieces of a triangle of `total` updates after update `start`: up to the peak at
    `cut`, then down to the floor at the last update."""
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
    The fraction of update `step` of a stage whose length is not known yet: `1 - 1/sqrt(step)`
    (50% of the way after 4 updates, 90% after 100, 99% after 10,000). It starts on the floor,
    never falls and never reaches the peak, so it needs no guess of where the peak is.
    """
    return 0.0 if step <= 0 else 1 - 1 / math.sqrt(step)


# ----------------------------------------------------------------------------- a plan
class Plan:
    """
    The fraction at every update from some point on: `pieces` in order, then, after update
    `open_from` (if given), the open warm-up (the peak itself with `cut_frac = 0`). Updates past
    the last piece keep its end value.

    `peak_at` is the update from which the fraction only falls (infinite while the open warm-up
    runs). `holds_through` is the last update the plan is valid for before the first epoch ends
    (a first epoch that runs past its configured length stretches the plan at every update);
    after that, only an epoch end can change it (`plan_key`).
    """

    __slots__ = ("pieces", "open_from", "open_value", "peak_at", "holds_through", "_lookup", "_ends")

    def __init__(
        self,
        pieces: Sequence[Piece],
        open_from: Optional[float] = None,
        cut_frac: float = 0.1,
        holds_through: float = math.inf,
    ):
        self.pieces = list(pieces)
        self.open_from: float = math.inf if open_from is None else open_from
        self.open_value = 1.0 if cut_frac == 0 else None
        self.holds_through = holds_through
        rising = [piece.end for piece in self.pieces if piece.end_value > piece.start_value]
        if rising:
            self.peak_at: float = rising[-1]
        elif math.isfinite(self.open_from) and self.open_value is None:
            self.peak_at = math.inf
        else:  # decay only: the plan starts at (or past) its peak
            self.peak_at = -math.inf
        # One last piece that holds the end value, so every update finds a piece.
        last = self.pieces[-1] if self.pieces else Piece(0, 0, 0.0, 0.0)
        self._lookup = self.pieces + [Piece(last.end, math.inf, last.end_value, last.end_value)]  # type: ignore[arg-type]
        self._ends = [piece.end for piece in self._lookup]

    def at(self, updates: int) -> float:
        """The fraction for update number `updates`. The one place where a piece's shape is
        evaluated: a fall of another shape would be a change here."""
        if updates > self.open_from:
            if self.open_value is not None:
                return self.open_value
            return open_warmup(updates - self.open_from)  # type: ignore[arg-type]
        start, end, start_value, end_value = self._lookup[bisect_left(self._ends, updates)]
        if updates <= start:
            return start_value
        # For a triangle's pieces these are the built-in's `step / cut` and
        # `1 - (step - cut) / (T - cut)`: equal inputs give equal floats, and a piece lands
        # exactly on its end value.
        return start_value + (end_value - start_value) * ((updates - start) / (end - start))

    def replanned(self, anchor: int, start: int, end: int, cut_frac: float) -> "Plan":
        """This plan continued from where it stands at update `anchor`, for a triangle that
        started after update `start` and now ends at `end` (see `replanned`)."""
        value = self.at(anchor)
        pieces = replanned(anchor, value, anchor >= self.peak_at, start, end, cut_frac)
        return Plan(pieces, cut_frac=cut_frac)


def replanned(
    anchor: int, value: float, past_peak: bool, start: int, end: int, cut_frac: float
) -> List[Piece]:
    """
    The rest of a triangle (from update `start` to `end`) continued from `value` at update
    `anchor`: up to the peak, rising no faster than the triangle's own warm-up (unless the
    triangle ends first), so that the rate never jumps; or, past the peak already, straight
    down to the floor.
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


def opening(
    start: int, total: Optional[int], cut_frac: float, holds_through: float = math.inf
) -> Plan:
    """A triangle of `total` updates after update `start` as first planned; with `total`
    unknown, the open warm-up."""
    if total is None:
        return Plan([], open_from=start, cut_frac=cut_frac, holds_through=holds_through)
    # A triangle with no updates left (training is already past it): the floor.
    pieces = triangle(start, total, cut_frac) or [Piece(start, start, 0.0, 0.0)]
    return Plan(pieces, cut_frac=cut_frac, holds_through=holds_through)


# ----------------------------------------------------------------------------- epochs
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


# ----------------------------------------------------------------------------- stages
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
        """The update counts after which a stage that unfreezes a layer begins, when stages are
        counted in updates (as a set: the scheduler looks its count up at every update)."""
        every = self.every_num_updates
        return frozenset() if every is None else frozenset(k * every for k in range(1, self.frozen + 1))

    def begins_after_epoch(self, completed_epochs: int) -> bool:
        """Whether the epoch after `completed_epochs` starts a stage that unfreezes a layer."""
        return self.every_num_updates is None and 0 < completed_epochs <= self.frozen

    def updates_to_unfreeze(self) -> Optional[int]:
        """Updates before the main stage begins, when stages are counted in updates."""
        every = self.every_num_updates
        return None if every is None else self.frozen * every

    def main_start(self, epoch_ends: Sequence[int]) -> Optional[int]:
        """The update after which the main stage begins; None while an epoch-long frozen stage
        has not ended."""
        if self.every_num_updates is not None:
            return self.frozen * self.every_num_updates
        if len(epoch_ends) < self.frozen:
            return None
        return epoch_ends[self.frozen - 1] if self.frozen else 0

    def frozen_triangles(self) -> List[Tuple[int, int]]:
        """`(start, total)` of each frozen stage counted in updates, known in advance (an
        epoch-long stage is planned when it begins)."""
        every = self.every_num_updates
        return [] if every is None else [(k * every, every) for k in range(self.frozen)]


# ----------------------------------------------------------------------------- the plan
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
    (`num_epochs` epochs of the mean length so far) is then folded in: the rest is re-planned
    from where the fraction stands at that epoch end.

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
    # A configured first epoch stretches the plan once it runs longer.
    length = epoch_length(epoch_ends, configured_steps_per_epoch, updates)
    holds = math.inf if epoch_ends or length is None else float(length)

    main_start = stages.main_start(epoch_ends)
    if main_start is None:
        # An epoch-long frozen stage: this epoch is a triangle of its own.
        return opening(epoch_ends[-1] if epoch_ends else 0, length, cut_frac, holds)

    frozen = [
        piece for start, total in stages.frozen_triangles() for piece in triangle(start, total, cut_frac)
    ]
    # The main triangle as first planned, with the length known by the first epoch end after
    # its start (a configured first epoch stretches up to there).
    done = bisect_right(epoch_ends, main_start)
    first_end = epoch_ends[done] if done < len(epoch_ends) else updates
    length = epoch_length(epoch_ends[:done], configured_steps_per_epoch, first_end)
    end = None if length is None else num_epochs * length
    main = opening(main_start, None if end is None else end - main_start, cut_frac)
    # The fold: every later epoch end that moves the planned end re-plans the rest from there.
    for completed in range(done + 1, len(epoch_ends) + 1):
        anchor = epoch_ends[completed - 1]
        moved = num_epochs * (anchor // completed)  # the mean length so far, as `epoch_length`
        if moved != end:
            main, end = main.replanned(anchor, main_start, moved, cut_frac), moved
    return Plan(frozen + main.pieces, main.open_from, cut_frac, holds)


def plan_key(
    updates: int,
    epoch_ends: Sequence[int],
    configured_steps_per_epoch: Optional[int],
    stages: Stages = Stages(),
) -> Tuple[Any, ...]:
    """
    What `plan` reads of the progress counters besides the update count, so that a caller can
    keep a plan across an epoch end that leaves this key as it was (the usual case: a steady
    epoch length in the main stage). The fold above re-plans exactly when the mean epoch length
    moves, and each frozen epoch is a triangle of its own.
    """
    main_start = stages.main_start(epoch_ends)
    return (
        len(epoch_ends) if main_start is None else main_start,
        epoch_length(epoch_ends, configured_steps_per_epoch, updates),
    )


# ----------------------------------------------------------------------------- layers
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
