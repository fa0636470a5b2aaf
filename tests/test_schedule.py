"""The pure arithmetic of `allennlp_stlr.schedule`, table by table."""
import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allennlp_stlr import schedule


@pytest.mark.parametrize(
    "total, cut_frac, expected",
    [
        (100, 0.1, 10),  # the paper's T * cut_frac
        (99, 0.1, 9),  # floored, as the built-in does
        (10, 0.1, 1),
        (9, 0.1, 1),  # built-in: int(0.9) = 0, no warm-up; ours warms up over one update
        (1, 0.1, 1),
        (50, 0.0, 0),  # decay only, as the built-in: the peak is before the first update
        (50, 1.0, 50),  # warm-up only: peak at the last update
    ],
)
def test_warmup_updates(total, cut_frac, expected):
    assert schedule.warmup_updates(total, cut_frac) == expected


P = schedule.Piece


@pytest.mark.parametrize(
    "start, total, cut_frac, pieces",
    [
        (0, 100, 0.1, [P(0, 10, 0.0, 1.0), P(10, 100, 1.0, 0.0)]),
        (20, 10, 0.1, [P(20, 21, 0.0, 1.0), P(21, 30, 1.0, 0.0)]),  # short: peak first
        (0, 4, 0.0, [P(0, 4, 1.0, 0.0)]),  # cut_frac 0: decay only
        (0, 4, 1.0, [P(0, 4, 0.0, 1.0)]),  # cut_frac 1: warm-up only
        (5, 1, 0.1, [P(5, 6, 0.0, 1.0)]),  # one update: all peak
        (3, 0, 0.1, [P(3, 3, 0.0, 0.0)]),  # no updates: the floor
    ],
)
def test_triangle_pieces(start, total, cut_frac, pieces):
    assert schedule.triangle(start, total, cut_frac) == pieces


@pytest.mark.parametrize(
    "updates, expected",
    [
        (0, 0.0),
        (1, 0.1),
        (5, 0.5),
        (10, 1.0),
        (55, 0.5),
        (100, 0.0),
        (150, 0.0),  # past the end: the last piece's end value
    ],
)
def test_plan_evaluates_its_pieces(updates, expected):
    plan = schedule.Plan(schedule.triangle(0, 100, 0.1))
    assert plan.at(updates) == pytest.approx(expected, abs=1e-12)


def test_plan_floats_equal_the_builtin_formula():
    total, cut = 37, 3
    plan = schedule.Plan(schedule.triangle(0, total, 0.1))
    for step in range(1, total + 1):
        builtin = step / cut if step < cut else 1 - (step - cut) / (total - cut)
        assert plan.at(step) == builtin  # the same floats, not approximately
    decay = schedule.Plan(schedule.triangle(0, total, 0.0))
    assert [decay.at(s) for s in range(1, total + 1)] == [
        1 - s / total for s in range(1, total + 1)
    ]


@pytest.mark.parametrize(
    "step, expected", [(0, 0.0), (1, 0.0), (4, 0.5), (100, 0.9), (10_000, 0.99)]
)
def test_open_warmup(step, expected):
    assert schedule.open_warmup(step) == pytest.approx(expected, abs=1e-12)


def standing_at(anchor: int, value: float, rising: bool) -> schedule.Plan:
    """A plan at `value` at update `anchor`, rising after it or not."""
    return schedule.Plan([P(anchor, anchor + 1, value, 1.0 if rising else 0.0)])


@pytest.mark.parametrize(
    "anchor, value, rising, start, end, cut_frac, pieces",
    [
        # Before the new cut (20): rise to it, then fall.
        (10, 0.5, True, 0, 200, 0.1, [P(10, 20, 0.5, 1.0), P(20, 200, 1.0, 0.0)]),
        # The cut (10) has passed at 77.6%: rise at 1/10 per update, 3 updates, not 1.
        (20, 0.776, True, 0, 100, 0.1, [P(20, 23, 0.776, 1.0), P(23, 100, 1.0, 0.0)]),
        # A configured 3088 per epoch where the data has 295: 9.6% at update 295; the
        # re-planned cut (295) has passed, so the peak comes 267 updates later, not at 296.
        (295, 295 / 3088, True, 0, 2950, 0.1, [P(295, 562, 295 / 3088, 1.0), P(562, 2950, 1.0, 0.0)]),
        # Past the peak: straight down to the new end.
        (30, 0.8, False, 0, 90, 0.1, [P(30, 90, 0.8, 0.0)]),
        # The new end has already passed: the floor from here on.
        (30, 0.8, False, 0, 25, 0.1, [P(30, 30, 0.0, 0.0)]),
    ],
)
def test_replan(anchor, value, rising, start, end, cut_frac, pieces):
    assert standing_at(anchor, value, rising).replan(anchor, start, end, cut_frac).pieces == pieces


@pytest.mark.parametrize(
    "nonempty, decay, expected",
    [
        ([True, True, True], 0.5, [0.25, 0.5, 1.0]),
        ([True, True, True, False], 0.5, [0.25, 0.5, 1.0, 1.0]),  # empty default group
        ([True, False, True, True], 0.5, [0.25, 1.0, 0.5, 1.0]),  # empty middle group
        ([True], 0.38, [1.0]),
    ],
)
def test_discriminative_factors(nonempty, decay, expected):
    assert schedule.discriminative_factors(nonempty, decay) == pytest.approx(expected)


@pytest.mark.parametrize(
    "update, epoch_ends, frozen, every, stage, trained_of_4",
    [
        (1, [], 3, None, 0, 1),  # by epochs: the epochs ended before the update
        (10, [10], 3, None, 0, 1),  # the last update of epoch 0 is in stage 0
        (11, [10], 3, None, 1, 2),
        (26, [10, 20], 3, None, 2, 3),
        (96, [10, 20, 30, 40], 3, None, 3, 4),  # the main stage: every layer
        (1, [], 3, 5, 0, 1),  # by updates: stage k is updates 5k+1 .. 5k+5
        (5, [], 3, 5, 0, 1),
        (6, [], 3, 5, 1, 2),
        (15, [12], 3, 5, 2, 3),
        (501, [100], 3, 5, 3, 4),
        (7, [5], 0, None, 0, 4),  # no gradual unfreezing: the main stage only
    ],
)
def test_stage_of_an_update_and_the_layers_it_trains(
    update, epoch_ends, frozen, every, stage, trained_of_4
):
    stages = schedule.Stages(frozen, every)
    assert stages.of_update(update, epoch_ends) == stage
    assert stages.trained_layers(stage, 4) == trained_of_4


@pytest.mark.parametrize(
    "stages, after",
    [
        (schedule.Stages(2, 5), {5, 10}),  # updates 6 and 11 start stages 1 and 2 (main)
        (schedule.Stages(3, 1), {1, 2, 3}),
        (schedule.Stages(2, None), set()),  # by epochs: never after an update
        (schedule.Stages(0, None), set()),
    ],
)
def test_stages_begin_after_updates(stages, after):
    assert stages.begin_after_updates() == after


@pytest.mark.parametrize(
    "stages, epoch_ends, main_start, triangles",
    [
        (schedule.Stages(), [], 0, []),
        (schedule.Stages(2, None), [10], None, []),  # still in a frozen epoch
        (schedule.Stages(2, None), [10, 21], 21, []),
        (
            schedule.Stages(2, 5),
            [],
            10,
            [P(0, 1, 0.0, 1.0), P(1, 5, 1.0, 0.0), P(5, 6, 0.0, 1.0), P(6, 10, 1.0, 0.0)],
        ),
    ],
)
def test_where_the_main_stage_starts(stages, epoch_ends, main_start, triangles):
    assert stages.main_start(epoch_ends) == main_start
    assert stages.frozen_triangles(0.1) == triangles


@pytest.mark.parametrize(
    "epoch_ends, configured, updates, expected",
    [
        ([], 10, 3, 10),
        ([], 10, 12, 12),  # first epoch longer than configured
        ([], None, 12, None),
        ([10], None, 15, 10),
        ([10, 21], 10, 25, 10),  # floored mean of completed epochs
    ],
)
def test_epoch_length(epoch_ends, configured, updates, expected):
    assert schedule.epoch_length(epoch_ends, configured, updates) == expected


# (updates, epoch_ends, num_epochs, configured, cut_frac, frozen stages, stage length)
FRACTIONS = [
    # Plain: one triangle of 4 * 10 = 40 updates, cut at 4.
    ((2, [], 4, 10, 0.1, 0, None), 0.5),
    ((4, [], 4, 10, 0.1, 0, None), 1.0),
    ((22, [10, 20], 4, 10, 0.1, 0, None), 1 - 18 / 36),
    ((40, [10, 20, 30], 4, 10, 0.1, 0, None), 0.0),
    # cut_frac 0: 1 - t/T from the first update, as the built-in.
    ((1, [], 4, 10, 0.0, 0, None), 1 - 1 / 40),
    # Gradual unfreezing by epochs, 3 groups: epochs 0 and 1 are their own 10-update triangles.
    ((1, [], 4, 10, 0.1, 2, None), 1.0),
    ((10, [], 4, 10, 0.1, 2, None), 0.0),
    ((11, [10], 4, 10, 0.1, 2, None), 1.0),
    ((15, [10], 4, 10, 0.1, 2, None), 1 - 4 / 9),
    # ... then one triangle of 40 - 20 = 20 updates, cut at 2.
    ((21, [10, 20], 4, 10, 0.1, 2, None), 0.5),
    ((22, [10, 20], 4, 10, 0.1, 2, None), 1.0),
    ((40, [10, 20, 30], 4, 10, 0.1, 2, None), 0.0),
    # Gradual unfreezing by updates, 3 groups, every 5: two 5-update triangles (cut 1) ...
    ((1, [], 4, 10, 0.1, 2, 5), 1.0),
    ((3, [], 4, 10, 0.1, 2, 5), 0.5),
    ((6, [], 4, 10, 0.1, 2, 5), 1.0),
    ((10, [], 4, 10, 0.1, 2, 5), 0.0),
    # ... then one of 40 - 10 = 30 updates (cut 3) from update 10, across epoch ends.
    ((13, [10], 4, 10, 0.1, 2, 5), 1.0),
    ((40, [10, 20, 30], 4, 10, 0.1, 2, 5), 0.0),
    # ... and with the length unknown: the open warm-up after the stages.
    ((6, [], 4, None, 0.1, 2, 3), 0.0),
    ((10, [], 4, None, 0.1, 2, 3), 0.5),
    # Unknown length: open warm-up, then the re-planned triangle.
    ((4, [], 4, None, 0.1, 0, None), 0.5),
    ((40, [10, 20, 30], 4, None, 0.1, 0, None), 0.0),
    ((4, [], 4, None, 0.1, 2, None), 0.5),
    # Unknown length with cut_frac 0: at the peak until the length is known, then decay.
    ((4, [], 4, None, 0.0, 0, None), 1.0),
    ((25, [10, 20], 4, None, 0.0, 0, None), 1 - 15 / 30),
]


@pytest.mark.parametrize("args, expected", FRACTIONS)
def test_plan_fraction(args, expected):
    *settings, frozen, every = args
    plan = schedule.plan(*settings, schedule.Stages(frozen, every))
    assert plan.at(args[0]) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "plan, rises",
    [
        (schedule.Plan(schedule.triangle(0, 100, 0.1)), True),  # before its peak at 10
        (schedule.Plan(schedule.triangle(0, 6, 0.1)), False),  # past its peak at 1
        (schedule.Plan(schedule.triangle(0, 100, 0.0)), False),  # decay only
        (schedule.Plan([P(0, 0, 0.0, 0.0)], open_warmup=True), True),  # the open warm-up
        (schedule.Plan([P(0, 0, 0.0, 1.0)]), False),  # held at the peak (cut_frac 0)
    ],
)
def test_a_replan_rises_only_from_a_plan_that_has_not_peaked(plan, rises):
    replanned = plan.replan(5, 0, 200, 0.1)
    value = plan.at(5)
    assert replanned.at(5) == value
    assert (replanned.at(6) > value) is rises
    assert replanned.at(200) == 0.0


def test_schedule_module_needs_neither_torch_nor_allennlp():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(schedule))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
    }
    assert not imported & {"torch", "allennlp", "numpy"}
    assert math.isfinite(schedule.open_warmup(10**12))


@settings(max_examples=300, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 12), min_size=1, max_size=6),
    extra_epochs=st.integers(0, 2),
    configured=st.one_of(st.none(), st.integers(1, 12)),
    cut_frac=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
    frozen=st.integers(0, 3),
    every=st.one_of(st.none(), st.integers(1, 5)),
)
def test_an_epoch_end_that_keeps_the_plan_key_keeps_the_plan(
    lengths, extra_epochs, configured, cut_frac, frozen, every
):
    """The scheduler keeps its plan across such an epoch end: the plan must not differ."""
    stages = schedule.Stages(frozen, every if frozen else None)
    num_epochs = len(lengths) + extra_epochs
    ends = list(itertools.accumulate(lengths))
    for index, end in enumerate(ends[:-1]):
        before, after = ends[:index], ends[: index + 1]
        # The plan as last built before the epoch end (at its last update) ...
        kept = schedule.plan(end, before, num_epochs, configured, cut_frac, stages)
        if schedule.plan_key(end, before, configured, stages) != schedule.plan_key(
            end, after, configured, stages
        ):
            continue
        fresh = schedule.plan(end, after, num_epochs, configured, cut_frac, stages)
        # ... gives every update of the next epoch what a plan built after it gives.
        updates = range(end + 1, ends[index + 1] + 1)
        assert [kept.at(u) for u in updates] == [fresh.at(u) for u in updates]
