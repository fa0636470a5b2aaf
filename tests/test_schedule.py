"""The pure arithmetic of `allennlp_stlr.schedule`, table by table."""
import math

import pytest

from allennlp_stlr import schedule


@pytest.mark.parametrize(
    "total, cut_frac, expected",
    [
        (100, 0.1, 10),  # the paper's T * cut_frac
        (99, 0.1, 9),  # floored, as the built-in does
        (10, 0.1, 1),
        (9, 0.1, 1),  # built-in: int(0.9) = 0, no warm-up; ours warms up over one update
        (1, 0.1, 1),
        (50, 0.0, 1),  # decay only: peak at the first update
        (50, 1.0, 50),  # warm-up only: peak at the last update
    ],
)
def test_warmup_updates(total, cut_frac, expected):
    assert schedule.warmup_updates(total, cut_frac) == expected


@pytest.mark.parametrize(
    "step, total, cut_frac, expected",
    [
        (0, 100, 0.1, 0.0),
        (1, 100, 0.1, 0.1),
        (5, 100, 0.1, 0.5),
        (10, 100, 0.1, 1.0),
        (55, 100, 0.1, 0.5),
        (100, 100, 0.1, 0.0),
        (150, 100, 0.1, 0.0),  # past the end: stays on the floor
        (1, 5, 0.1, 1.0),  # short triangle: peak first
        (3, 5, 0.1, 0.5),
        (5, 5, 0.1, 0.0),
        (1, 4, 0.0, 1.0),  # cut_frac 0
        (4, 4, 0.0, 0.0),
        (2, 4, 1.0, 0.5),  # cut_frac 1
        (4, 4, 1.0, 1.0),
        (1, 1, 0.1, 1.0),  # a one-update triangle is all peak
        (3, 0, 0.1, 0.0),  # empty triangle
    ],
)
def test_triangle(step, total, cut_frac, expected):
    assert schedule.triangle(step, total, cut_frac) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "base, fraction, ratio, expected",
    [(0.32, 0.0, 32, 0.01), (0.32, 1.0, 32, 0.32), (1.0, 0.5, 3, 2 / 3), (0.5, 0.3, 1, 0.5)],
)
def test_rate(base, fraction, ratio, expected):
    assert schedule.rate(base, fraction, ratio) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "step, expected", [(0, 0.0), (1, 0.0), (4, 0.5), (100, 0.9), (10_000, 0.99)]
)
def test_open_warmup(step, expected):
    assert schedule.open_warmup(step) == pytest.approx(expected, abs=1e-12)


def test_replanned_triangle_continues_from_the_open_warmup_to_peak_and_floor():
    start, total = 10, 100  # first epoch of 10 updates, 10 epochs in all, cut at update 10
    first = schedule.open_warmup(start)
    values = [schedule.replanned_triangle(t, total, 0.1, start, first) for t in range(total + 1)]
    assert values[: start + 1] == [schedule.open_warmup(t) for t in range(start + 1)]
    # The configured cut (10) has passed: peak at the next update, then straight down.
    assert values[start + 1] == 1.0
    assert values[total] == 0.0
    assert all(a >= b for a, b in zip(values[start + 1 :], values[start + 2 :]))


def test_replanned_triangle_rises_linearly_to_a_later_cut():
    start, total = 10, 200  # cut at update 20
    first = schedule.open_warmup(start)
    assert schedule.replanned_triangle(15, total, 0.1, start, first) == pytest.approx(
        first + (1 - first) * 5 / 10
    )
    assert schedule.replanned_triangle(20, total, 0.1, start, first) == 1.0
    assert schedule.replanned_triangle(200, total, 0.1, start, first) == 0.0


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
    "epochs_done, groups, expected", [(0, 4, 1), (1, 4, 2), (3, 4, 4), (9, 4, 4)]
)
def test_unfrozen_groups(epochs_done, groups, expected):
    assert schedule.unfrozen_groups(epochs_done, groups) == expected


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
def test_steps_per_epoch(epoch_ends, configured, updates, expected):
    assert schedule.steps_per_epoch(epoch_ends, configured, updates) == expected


# (updates, epoch_ends, num_epochs, configured, cut_frac, freezing_epochs) -> fraction
FRACTIONS = [
    # Plain: one triangle of 4 * 10 = 40 updates, cut at 4.
    ((2, [], 4, 10, 0.1, 0), 0.5),
    ((4, [], 4, 10, 0.1, 0), 1.0),
    ((22, [10, 20], 4, 10, 0.1, 0), 1 - 18 / 36),
    ((40, [10, 20, 30], 4, 10, 0.1, 0), 0.0),
    # Gradual unfreezing, 3 groups: epochs 0 and 1 are their own 10-update triangles.
    ((1, [], 4, 10, 0.1, 2), 1.0),
    ((10, [], 4, 10, 0.1, 2), 0.0),
    ((11, [10], 4, 10, 0.1, 2), 1.0),
    ((15, [10], 4, 10, 0.1, 2), 1 - 4 / 9),
    # ... then one triangle of 40 - 20 = 20 updates, cut at 2.
    ((21, [10, 20], 4, 10, 0.1, 2), 0.5),
    ((22, [10, 20], 4, 10, 0.1, 2), 1.0),
    ((40, [10, 20, 30], 4, 10, 0.1, 2), 0.0),
    # Unknown length: open warm-up, then the replanned triangle.
    ((4, [], 4, None, 0.1, 0), 0.5),
    ((40, [10, 20, 30], 4, None, 0.1, 0), 0.0),
    ((4, [], 4, None, 0.1, 2), 0.5),
]


@pytest.mark.parametrize("args, expected", FRACTIONS)
def test_fraction(args, expected):
    assert schedule.fraction(*args) == pytest.approx(expected, abs=1e-12)


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
