"""
Properties of the schedule over random configurations (hypothesis).

The pure arithmetic of `allennlp_stlr.schedule` is checked directly; everything that needs
param groups, epoch ends and freezing is checked by driving `SlantedTriangular` in the
trainer's call order (`step_batch(t)` before update t, `step()` at each epoch end).

Run with `HYPOTHESIS_PROFILE=long` for many more examples (see tests/conftest.py).
"""
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from hypothesis import example, given
from hypothesis import strategies as st

from allennlp_stlr import schedule
from tests import helpers
from tests.helpers import make_optimizer, rates, run_optimized
from allennlp_stlr.scheduler import SlantedTriangular


MODES = {
    "plain": (False, False),
    "gradual": (True, False),
    "discriminative": (False, True),
    "both": (True, True),
}


# --------------------------------------------------------------------------- pure schedule
@given(total=st.integers(1, 400), cut_frac=st.floats(0, 1))
def test_triangle_rises_to_the_peak_then_falls_to_the_floor(total: int, cut_frac: float) -> None:
    plan = schedule.Plan(schedule.triangle(0, total, cut_frac))
    values = [plan.at(t) for t in range(0, total + 1)]
    cut = schedule.warmup_updates(total, cut_frac)
    assert all(0.0 <= v <= 1.0 for v in values)
    assert values[cut] == 1.0
    assert values[: cut + 1] == sorted(values[: cut + 1])
    assert values[cut:] == sorted(values[cut:], reverse=True)
    if cut < total:
        assert values[-1] == 0.0


@given(
    data=st.data(),
    total=st.integers(2, 400),
    cut_frac=st.floats(0, 1),
    past_peak=st.booleans(),
)
def test_replanned_rise_never_outpaces_a_warmup_and_ends_on_the_floor(
    data: st.DataObject, total: int, cut_frac: float, past_peak: bool
) -> None:
    anchor = data.draw(st.integers(1, total - 1), label="anchor")
    value = data.draw(st.floats(0, 1), label="value")
    before = schedule.Plan([schedule.Piece(anchor, anchor + 1, value, 0.0 if past_peak else 1.0)])
    plan = before.replan(anchor, 0, total, cut_frac)
    values = [plan.at(t) for t in range(anchor, total + 1)]
    peak = values.index(max(values))
    assert values[0] == value
    assert all(0.0 <= v <= 1.0 for v in values)
    assert values[: peak + 1] == sorted(values[: peak + 1])
    assert values[peak:] == sorted(values[peak:], reverse=True)
    cut = schedule.warmup_updates(total, cut_frac)
    if not past_peak and cut and value < 1:
        assert max(values) == 1.0
        if peak < len(values) - 1:  # the peak came before the end
            steps = [b - a for a, b in zip(values, values[1:])]
            assert max(steps) <= 1 / cut + 1e-9  # no faster than the triangle's own warm-up
    if peak < len(values) - 1 or past_peak:
        assert values[-1] == 0.0


@given(step=st.integers(0, 10**6))
def test_open_warmup_stays_below_the_peak(step: int) -> None:
    value = schedule.open_warmup(step)
    assert 0.0 <= value < 1.0
    assert schedule.open_warmup(step + 1) >= value


@given(
    base=st.floats(1e-8, 10.0),
    fraction=st.floats(0, 1),
    ratio=st.floats(1, 1e4),
)
def test_rate_lies_between_floor_and_peak(base: float, fraction: float, ratio: float) -> None:
    [lr] = rates([base], fraction, ratio)
    assert math.isfinite(lr)
    assert rates([base], 0.0, ratio) == [base / ratio]
    # rates() multiplies then divides: allow the last bit of rounding at the peak.
    assert base / ratio <= lr <= base * (1 + 1e-12)


# --------------------------------------------------------------------------- the class
@dataclass
class Config:
    mode: str
    configured_sizes: List[int]  # parameters per configured group, bottom first
    default_size: int  # parameters that fell into AllenNLP's default group
    lrs: List[float]  # optimizer lr of every group, default group last
    num_epochs: int
    lengths: List[int]  # updates in each epoch
    num_steps_per_epoch: Optional[int]
    cut_frac: float
    ratio: float
    decay_factor: float
    unfreeze_every: Optional[int] = None  # gradual unfreezing by updates instead of epochs

    @property
    def gradual(self) -> bool:
        return MODES[self.mode][0]

    @property
    def discriminative(self) -> bool:
        return MODES[self.mode][1]

    @property
    def stable(self) -> bool:
        return len(set(self.lengths)) == 1

    def kwargs(self) -> Dict[str, Any]:
        return dict(
            num_epochs=self.num_epochs,
            num_steps_per_epoch=self.num_steps_per_epoch,
            cut_frac=self.cut_frac,
            ratio=self.ratio,
            gradual_unfreezing=self.gradual,
            discriminative_fine_tuning=self.discriminative,
            decay_factor=self.decay_factor,
            unfreeze_every_num_updates=self.unfreeze_every,
        )

    def stage_starts(self) -> List[int]:
        """Update index (0-based) at which each freezing stage and the main triangle start."""
        freezing = len(self.configured_sizes) - 1 if self.gradual else 0
        if self.unfreeze_every is not None:
            return [k * self.unfreeze_every for k in range(freezing + 1)]
        starts = [0]
        for length in self.lengths[:freezing]:
            starts.append(starts[-1] + length)
        return starts


@st.composite
def valid_configs(draw: Any) -> Config:
    mode = draw(st.sampled_from(sorted(MODES)), label="mode")
    gradual, discriminative = MODES[mode]
    layered = gradual or discriminative
    n = draw(st.integers(2 if layered else 1, 5), label="configured groups")
    # Empty groups are regexes that matched nothing: allowed, with a warning.
    sizes = draw(st.lists(st.sampled_from([0, 1, 3]), min_size=n, max_size=n), label="sizes")
    default = 0 if gradual else draw(st.sampled_from([0, 2]), label="default size")
    if layered and sum(1 for s in sizes if s) < 2:
        sizes[-1] = sizes[-2] = 1
    if not any(sizes) and not default:
        sizes[-1] = 1
    lrs = draw(st.lists(st.floats(1e-6, 1.0), min_size=n + 1, max_size=n + 1), label="lrs")
    every = draw(st.one_of(st.none(), st.integers(1, 6)), label="unfreeze every") if gradual else None
    num_epochs = draw(st.integers(n if gradual and every is None else 1, 8), label="num_epochs")
    kind = draw(st.sampled_from(["known", "unknown", "varying"]), label="epoch length")
    if kind == "varying":
        lengths = draw(st.lists(st.integers(1, 25), min_size=num_epochs, max_size=num_epochs))
    else:
        lengths = [draw(st.integers(1, 25), label="length")] * num_epochs
    if every is not None and (n - 1) * every >= num_epochs * min(lengths):
        # Unfreezing must end before training does: checked with the configured length, or
        # with the first epoch's at its end when it was not known.
        lengths = [max(lengths[0], (n - 1) * every // num_epochs + 1)] * num_epochs
    return Config(
        mode=mode,
        configured_sizes=sizes,
        default_size=default,
        lrs=lrs,
        num_epochs=num_epochs,
        lengths=lengths,
        num_steps_per_epoch=lengths[0] if kind == "known" else None,
        cut_frac=draw(st.floats(0, 1), label="cut_frac"),
        ratio=draw(st.floats(1, 1000), label="ratio"),
        decay_factor=draw(st.floats(1e-3, 1.0), label="decay_factor"),
        unfreeze_every=every,
    )


def peaks(config: Config) -> List[float]:
    """Each group's peak rate: its lr, times decay_factor per non-empty layer group above it."""
    sizes = config.configured_sizes + [config.default_size]
    result = list(config.lrs)
    if config.discriminative:
        depth = 0
        for index in reversed(range(len(sizes))):
            if sizes[index]:
                result[index] = config.lrs[index] * config.decay_factor**depth
                depth += 1
    return result


@dataclass
class Trace:
    lrs: List[List[float]]  # per update, per group
    trainable: List[List[bool]]  # per update, per group (empty groups: True)
    epoch: List[int]  # per update


def trace_of(config: Config) -> Trace:
    """Run the schedule through every update, in the trainer's call order."""
    sizes = config.configured_sizes + [config.default_size]
    optimizer = make_optimizer(sizes, config.lrs)
    scheduler = SlantedTriangular(optimizer, **config.kwargs())
    seen = helpers.drive(scheduler, optimizer, config.lengths)
    epochs = [epoch for epoch, length in enumerate(config.lengths) for _ in range(length)]
    return Trace([lrs for lrs, _ in seen], [flags for _, flags in seen], epochs)


def triangles(config: Config) -> List[Tuple[int, int]]:
    """[first, last) update indices of each triangle: one per freezing stage, then one."""
    starts = config.stage_starts()
    return list(zip(starts, starts[1:] + [sum(config.lengths)]))


@given(config=valid_configs())
def test_rates_are_finite_and_between_floor_and_peak_of_their_group(config: Config) -> None:
    trace = trace_of(config)
    top = peaks(config)
    for lrs in trace.lrs:
        for lr, peak in zip(lrs, top):
            assert math.isfinite(lr)
            assert peak / config.ratio <= lr <= peak * (1 + 1e-12)


# Unknown epoch lengths that vary: a later, longer epoch used to pull the planned peak
# further out and the warm-up back down (0.75 -> 0.72 of the peak at update 5).
VARYING_UNKNOWN = Config(
    mode="both",
    configured_sizes=[1, 1],
    default_size=0,
    lrs=[1.0, 1.0, 1.0],
    num_epochs=5,
    lengths=[1, 3, 1, 1, 1],
    num_steps_per_epoch=None,
    cut_frac=1.0,
    ratio=2.0,
    decay_factor=1.0,
)


@example(config=VARYING_UNKNOWN)
@given(config=valid_configs())
def test_every_triangle_rises_then_falls(config: Config) -> None:
    """Each warm-up never decreases and each decay never increases, even when re-planned."""
    trace = trace_of(config)
    for first, last in triangles(config):
        for group in range(len(config.lrs)):
            rates = [lrs[group] for lrs in trace.lrs[first:last]]
            top = rates.index(max(rates))
            assert rates[: top + 1] == sorted(rates[: top + 1]), (first, last, group)
            assert rates[top:] == sorted(rates[top:], reverse=True), (first, last, group)


def test_a_longer_later_epoch_of_unknown_length_does_not_pull_the_warmup_back() -> None:
    top = [lrs[-1] for lrs in trace_of(VARYING_UNKNOWN).lrs]
    # Epoch 0 (update 1) is its own triangle. Updates 2-5 warm up (cut_frac = 1); after
    # update 5 the mean epoch length, 5 // 3 = 1, says the 5-update schedule is over.
    assert top[1:5] == sorted(top[1:5])
    # Update 5 re-plans from 0.75 of the way at update 4 (triangle step 3) to the peak at
    # step 9 (mean length 2 over 5 epochs, less the first): 0.75 + 0.25 * (4 - 3) / (9 - 3).
    assert top[1:5] == [0.625, 0.75, 0.875, 1.0 * (1 + (0.75 + 0.25 * 1 / 6) * (2 - 1)) / 2]
    assert top[5:] == [0.5, 0.5]


@given(config=valid_configs())
def test_last_update_of_a_stable_known_length_run_is_on_the_floor(config: Config) -> None:
    first, last = triangles(config)[-1]
    if config.num_steps_per_epoch is None or config.cut_frac == 1 or last - first < 2:
        # Unknown length; warm-up only; or a one-update triangle, which peaks instead.
        return
    trace = trace_of(config)
    assert trace.lrs[-1] == rates(peaks(config), 0.0, config.ratio)
    assert trace.lrs[-1] == [peak / config.ratio for peak in peaks(config)]


@given(config=valid_configs())
def test_every_triangle_reaches_the_peak_once_the_epoch_length_is_known(config: Config) -> None:
    if not config.stable:
        # A plan made from the epochs so far cannot foresee that later ones are shorter.
        return
    trace = trace_of(config)
    top = peaks(config)
    for first, last in triangles(config):
        if last - first < 2:
            continue
        if config.num_steps_per_epoch is None and trace.epoch[last - 1] == 0:
            continue  # still inside the first epoch of unknown length: open warm-up
        reached = [max(lrs[g] for lrs in trace.lrs[first:last]) for g in range(len(top))]
        # With cut_frac 0 (decay only, as the built-in: 1 - t/T) the peak lies before the
        # first update, which is 1/T below it; but a first epoch of unknown length holds the
        # peak itself until its length is known.
        held = config.num_steps_per_epoch is None and trace.epoch[first] == 0
        peak = 1.0 if config.cut_frac or held else 1 - 1 / (last - first)
        assert reached == pytest.approx(rates(top, peak, config.ratio), rel=1e-12)


@given(config=valid_configs())
def test_gradual_unfreezing_trains_one_more_group_from_the_top_each_stage(config: Config) -> None:
    trace = trace_of(config)
    n = len(config.configured_sizes)
    for update, (flags, epoch) in enumerate(zip(trace.trainable, trace.epoch), start=1):
        if not config.gradual:
            assert all(flags)
            continue
        stage = epoch if config.unfreeze_every is None else (update - 1) // config.unfreeze_every
        unfrozen = min(stage + 1, n)
        expected = [i >= n - unfrozen or not size for i, size in enumerate(config.configured_sizes)]
        assert flags == expected + [True]


# --------------------------------------------------------------------------- invalid configs
def _not_in_unit_interval(x: float) -> bool:
    return not 0.0 <= x <= 1.0


_JUNK = st.one_of(st.none(), st.booleans(), st.text(max_size=3))
INVALID = {
    "num_epochs": st.one_of(st.integers(max_value=0), st.floats(1, 10), _JUNK),
    "num_steps_per_epoch": st.one_of(st.integers(max_value=0), st.floats(1, 10), st.booleans()),
    "cut_frac": st.one_of(st.floats().filter(_not_in_unit_interval), _JUNK),
    "ratio": st.one_of(
        st.floats(max_value=1, exclude_max=True),
        st.sampled_from([math.inf, math.nan]),
        _JUNK,
    ),
    "last_epoch": st.one_of(st.integers(max_value=-2), st.floats(-1, 5), _JUNK),
    "decay_factor": st.one_of(
        st.floats(max_value=0),
        st.floats(min_value=1, exclude_min=True),  # ULMFiT's divisor 2.6 written as a factor
        st.sampled_from([math.inf, -math.inf, math.nan]),
        _JUNK,
    ),
    "unfreeze_every_num_updates": st.one_of(
        st.integers(max_value=0), st.floats(1, 10), st.booleans(), st.text(max_size=3)
    ),
}


def _error(build: Any) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        build()
    return caught.value


@given(config=valid_configs(), data=st.data())
def test_every_invalid_hyperparameter_is_a_configuration_error_naming_it(
    config: Config, data: st.DataObject
) -> None:
    field = data.draw(st.sampled_from(sorted(INVALID)), label="field")
    value = data.draw(INVALID[field], label="value")
    kwargs = config.kwargs()
    kwargs[field] = value
    if field == "decay_factor":
        kwargs["discriminative_fine_tuning"] = True  # where it takes effect
        kwargs["gradual_unfreezing"] = False
    optimizer = make_optimizer(config.configured_sizes + [config.default_size], config.lrs)
    error = _error(lambda: SlantedTriangular(optimizer, **kwargs))
    assert f"`{field}`" in str(error)


@given(config=valid_configs())
def test_gradual_unfreezing_with_fewer_epochs_than_groups_is_a_configuration_error(
    config: Config,
) -> None:
    n = len(config.configured_sizes)
    if not config.gradual or n < 2:
        return
    kwargs = dict(config.kwargs(), num_epochs=n - 1, unfreeze_every_num_updates=None)
    optimizer = make_optimizer(config.configured_sizes + [0], config.lrs)
    error = _error(lambda: SlantedTriangular(optimizer, **kwargs))
    assert f"`num_epochs` = {n - 1} for {n} layer groups" in str(error)


@given(config=valid_configs(), stray=st.integers(1, 5))
def test_gradual_unfreezing_with_parameters_in_the_default_group_is_a_configuration_error(
    config: Config, stray: int
) -> None:
    if not config.gradual:
        return
    optimizer = make_optimizer(config.configured_sizes + [stray], config.lrs)
    error = _error(lambda: SlantedTriangular(optimizer, **config.kwargs()))
    assert f"{stray} parameter(s) (1 tensor(s) of shape {stray})" in str(error)


@given(config=valid_configs(), data=st.data())
def test_layered_modes_with_fewer_than_two_nonempty_groups_are_configuration_errors(
    config: Config, data: st.DataObject
) -> None:
    if config.mode == "plain":
        return
    n = len(config.configured_sizes)
    keep = data.draw(st.integers(-1, n - 1), label="only non-empty group")  # -1: none at all
    sizes = [1 if i == keep else 0 for i in range(n)] + [0]
    error = _error(lambda: SlantedTriangular(make_optimizer(sizes, config.lrs), **config.kwargs()))
    mode = "gradual_unfreezing" if config.gradual else "discriminative_fine_tuning"
    assert f"`{mode}` needs at least two layer groups with parameters" in str(error)


# Invalid configurations whose built-in checks are `assert`s or divisions by zero, as
# (group sizes, keyword arguments, the setting the message names). A size of 0 is an empty
# group; the last group plays AllenNLP's default group.
OPTIMIZED_AWAY_CASES: List[Tuple[List[int], Dict[str, Any], str]] = [
    ([1], dict(num_epochs=0), "num_epochs"),
    ([1], dict(num_epochs=2, ratio=0), "ratio"),
    ([1], dict(num_epochs=3, ratio=0.5), "ratio"),
    ([1], dict(num_epochs=3, cut_frac=1.5), "cut_frac"),
    ([1], dict(num_epochs=2, gradual_unfreezing=True), "gradual_unfreezing"),
    ([1, 0], dict(num_epochs=3, gradual_unfreezing=True), "gradual_unfreezing"),
    ([1, 1, 1, 0], dict(num_epochs=2, gradual_unfreezing=True), "num_epochs"),
    ([1, 1, 0], dict(num_epochs=3, discriminative_fine_tuning=True, decay_factor=0.0), "decay_factor"),
]

_PROBE = """
import json, sys, torch
from allennlp.common.checks import ConfigurationError
from allennlp_stlr.scheduler import SlantedTriangular
assert sys.flags.optimize == 1
for sizes, kwargs, _ in json.loads(sys.argv[1]):
    groups = [{"params": [torch.nn.Parameter(torch.zeros(s))] if s else []} for s in sizes]
    try:
        SlantedTriangular(torch.optim.SGD(groups, lr=0.1), **kwargs)
        print(json.dumps(["no error", ""]))
    except Exception as error:
        print(json.dumps([type(error).__name__, str(error)]))
"""


@pytest.mark.subprocess
def test_invalid_configurations_fail_the_same_way_under_python_O(request: pytest.FixtureRequest) -> None:
    """The checks are not `assert`s: `python -O` gives the same errors, word for word."""
    here = []
    for sizes, kwargs, setting in OPTIMIZED_AWAY_CASES:
        groups = [{"params": [torch.nn.Parameter(torch.zeros(s))] if s else []} for s in sizes]
        error = _error(lambda: SlantedTriangular(torch.optim.SGD(groups, lr=0.1), **kwargs))
        assert f"`{setting}`" in str(error), (kwargs, str(error))
        here.append(["ConfigurationError", str(error)])
    # One interpreter for every case: starting one takes most of the time.
    assert run_optimized(request, _PROBE, OPTIMIZED_AWAY_CASES) == here
