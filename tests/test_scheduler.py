"""`SlantedTriangular` under the trainer's call order: drop-in equality and the fixes."""
import logging
import random
from typing import Dict, List, Optional, Sequence, Tuple

import pytest
import torch
from allennlp.common import Params
from allennlp.training.learning_rate_schedulers import LearningRateScheduler
from allennlp.training.learning_rate_schedulers.slanted_triangular import (
    SlantedTriangular as Builtin,
)
from allennlp.training.optimizers import Optimizer

import allennlp_stlr
from allennlp_stlr import SlantedTriangular


def layered_optimizer(
    num_layers: int, default_size: int = 0, empty: Sequence[int] = (), lr: float = 0.1
) -> Tuple[torch.optim.Optimizer, List[torch.nn.Parameter]]:
    """An AllenNLP optimizer with one `parameter_groups` entry per layer, bottom first."""
    torch.manual_seed(0)
    named = [
        (f"layer{i}.weight", torch.nn.Parameter(torch.randn(3)))
        for i in range(num_layers)
        if i not in empty  # its group's regex then matches nothing
    ]
    named += [(f"head{i}.weight", torch.nn.Parameter(torch.randn(2))) for i in range(default_size)]
    groups = [[[f"^layer{i}\\."], {}] for i in range(num_layers)]
    optimizer = Optimizer.from_params(
        model_parameters=named,
        params=Params({"type": "sgd", "lr": lr, "parameter_groups": groups}),
    )
    return optimizer, [p for _, p in named]


def build(optimizer: torch.optim.Optimizer, **config) -> SlantedTriangular:
    """Build from `Params` exactly as the trainer's `Lazy` construction does."""
    return LearningRateScheduler.from_params(
        optimizer=optimizer, params=Params({"type": "slanted_triangular", **config})
    )


def drive(
    scheduler, optimizer, params, epoch_lengths: Sequence[int]
) -> List[Tuple[List[float], List[bool]]]:
    """The trainer's call order; returns (rates, requires_grad) used by each update."""
    seen = []
    update = 0
    for length in epoch_lengths:
        for _ in range(length):
            update += 1
            scheduler.step_batch(update)
            seen.append(([g["lr"] for g in optimizer.param_groups], [p.requires_grad for p in params]))
        scheduler.step(None)
    return seen


def test_params_build_our_class_and_accept_float_ratio():
    optimizer, _ = layered_optimizer(2)
    scheduler = build(optimizer, num_epochs=2, num_steps_per_epoch=10, ratio=7.5)
    assert type(scheduler) is allennlp_stlr.SlantedTriangular
    scheduler.step_batch(1)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * (1 + 0.5 * 6.5) / 7.5)


def random_dropin_cases(count: int, seed: int = 7) -> List[Dict]:
    """Configs where the built-in is right: exact epoch lengths, every cut >= 1 or cut_frac 0."""
    rng = random.Random(seed)
    cases = []
    while len(cases) < count:
        layers = rng.randint(2, 6)
        gradual = rng.random() < 0.5
        case = dict(
            layers=layers,
            default_size=0 if gradual else rng.choice([0, 0, 2]),
            num_epochs=rng.randint(layers if gradual else 1, 8),
            num_steps_per_epoch=rng.randint(1, 40),
            cut_frac=rng.choice([0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.9]),
            ratio=rng.choice([1, 2, 7.5, 32, 100]),
            gradual_unfreezing=gradual,
            discriminative_fine_tuning=rng.random() < 0.5,
            decay_factor=rng.choice([0.38, 0.5, 0.8, 1.0]),
        )
        steps = case["num_steps_per_epoch"]
        triangles = [case["num_epochs"] * steps]
        if gradual:
            triangles = [steps] * (layers - 1) + [(case["num_epochs"] - layers + 1) * steps]
        # cut_frac 0 asks for no warm-up, which the built-in gives; otherwise it is right
        # where every triangle's warm-up is at least one update.
        if case["cut_frac"] == 0 or all(int(t * case["cut_frac"]) >= 1 for t in triangles):
            cases.append(case)
    return cases


@pytest.mark.parametrize("case", random_dropin_cases(120), ids=lambda c: str(sorted(c.items())))
def test_same_rates_and_flags_as_builtin_where_builtin_is_right(case):
    case = dict(case)
    layers, default_size = case.pop("layers"), case.pop("default_size")
    ours_opt, ours_params = layered_optimizer(layers, default_size)
    theirs_opt, theirs_params = layered_optimizer(layers, default_size)
    ours = build(ours_opt, **case)
    theirs = Builtin(theirs_opt, **case)
    lengths = [case["num_steps_per_epoch"]] * case["num_epochs"]
    ours_seen = drive(ours, ours_opt, ours_params, lengths)
    theirs_seen = drive(theirs, theirs_opt, theirs_params, lengths)
    for update, ((our_lr, our_flags), (their_lr, their_flags)) in enumerate(
        zip(ours_seen, theirs_seen), start=1
    ):
        assert our_lr == pytest.approx(their_lr, rel=1e-9, abs=0), f"update {update}"
        assert our_flags == their_flags, f"update {update}"


def test_unknown_epoch_length_warms_up_then_peaks_and_lands_on_the_floor(caplog):
    optimizer, params = layered_optimizer(1, default_size=0)
    with caplog.at_level(logging.WARNING):
        scheduler = build(optimizer, num_epochs=10, num_steps_per_epoch=None)
    warnings = [r for r in caplog.records if "num_steps_per_epoch" in r.getMessage()]
    assert len(warnings) == 1
    rates = [lr[0] for lr, _ in drive(scheduler, optimizer, params, [20] * 10)]
    base, floor = 0.1, 0.1 / 32
    first_epoch = rates[:20]
    assert first_epoch[0] == pytest.approx(floor)
    assert all(a < b for a, b in zip(first_epoch, first_epoch[1:]))  # rising, not flat
    assert max(first_epoch) < base  # not at the peak before the length is known
    assert max(rates) == pytest.approx(base)
    # Once the length is known (T = 200, cut = 20), the rest rises from 1 - 1/sqrt(20) = 77.6%
    # of the way at the warm-up's slope of 1/20 per update: the peak comes at update 25.
    assert rates.index(max(rates)) == 24
    assert rates[-1] == pytest.approx(floor)


def test_builtin_runs_flat_at_the_peak_in_an_unknown_first_epoch():
    """The defect the rule above fixes, measured on the built-in."""
    optimizer, params = layered_optimizer(1)
    rates = [lr[0] for lr, _ in drive(Builtin(optimizer, num_epochs=10), optimizer, params, [20] * 10)]
    assert rates[:20] == pytest.approx([0.1] * 20)


def test_short_freezing_epochs_warm_up_and_reach_the_peak():
    # 5 updates per epoch < 1 / cut_frac: the built-in's int(5 * 0.1) = 0 skips the warm-up.
    config = dict(num_epochs=4, num_steps_per_epoch=5, gradual_unfreezing=True)
    optimizer, params = layered_optimizer(3)
    ours = drive(build(optimizer, **config), optimizer, params, [5] * 4)
    top = [lr[2] for lr, _ in ours]
    for epoch in range(2):  # the two freezing epochs
        assert top[epoch * 5] == pytest.approx(0.1)  # peak at the epoch's first update
        assert top[epoch * 5 + 4] == pytest.approx(0.1 / 32)
    builtin_opt, builtin_params = layered_optimizer(3)
    theirs = drive(Builtin(builtin_opt, **config), builtin_opt, builtin_params, [5] * 4)
    assert max(lr[2] for lr, _ in theirs[:10]) < 0.1 * 0.85


def test_varying_epoch_lengths_stay_within_bounds():
    optimizer, params = layered_optimizer(3, default_size=1)
    scheduler = build(
        optimizer, num_epochs=5, num_steps_per_epoch=7, discriminative_fine_tuning=True
    )
    bases = list(scheduler.base_values)
    seen = drive(scheduler, optimizer, params, [9, 3, 12, 1, 20])
    for rates, _ in seen:
        for rate, base in zip(rates, bases):
            assert base / 32 - 1e-15 <= rate <= base + 1e-15


@pytest.mark.parametrize(
    "config, expected",
    [
        (dict(ratio=1), [0.1] * 10),
        # cut_frac 0: decay only, 1 - t/T from the first update, as AllenNLP's built-in.
        (dict(cut_frac=0.0, ratio=2), [0.1 * (1 + (1 - t / 10)) / 2 for t in range(1, 11)]),
        (dict(cut_frac=1.0, ratio=2), [0.1 * (1 + t / 10) / 2 for t in range(1, 11)]),
    ],
)
def test_edge_values(config, expected):
    optimizer, params = layered_optimizer(1)
    seen = drive(build(optimizer, num_epochs=2, num_steps_per_epoch=5, **config), optimizer, params, [5, 5])
    assert [lr[0] for lr, _ in seen] == pytest.approx(expected, rel=1e-12)


def constant_then_stlr(optimizer: torch.optim.Optimizer) -> LearningRateScheduler:
    """AllenNLP's `combined`: one constant epoch, then two of slanted_triangular."""
    return LearningRateScheduler.from_params(
        optimizer=optimizer,
        params=Params(
            {
                "type": "combined",
                "num_steps_per_epoch": 10,
                "schedulers": [[1, {"type": "constant"}], [2, {"type": "slanted_triangular"}]],
            }
        ),
    )


def test_later_phase_of_combined_scheduler():
    optimizer, params = layered_optimizer(1)
    combined = constant_then_stlr(optimizer)
    rates = [lr[0] for lr, _ in drive(combined, optimizer, params, [10, 10, 10])]
    assert rates[:10] == pytest.approx([0.1] * 10)
    # The second phase is a 20-update triangle of its own, counted from its first update.
    expected = [0.1 * (1 + (t / 2 if t < 2 else 1 - (t - 2) / 18) * 31) / 32 for t in range(1, 21)]
    assert rates[10:] == pytest.approx(expected, rel=1e-12)


def test_builtin_divides_by_zero_as_a_later_phase_of_combined():
    from allennlp.common.registrable import Registrable

    registry = Registrable._registry[LearningRateScheduler]
    ours = registry["slanted_triangular"]
    registry["slanted_triangular"] = (Builtin, None)
    try:
        optimizer, params = layered_optimizer(1)
        combined = constant_then_stlr(optimizer)
        with pytest.raises(ZeroDivisionError):
            drive(combined, optimizer, params, [10, 10])
    finally:
        registry["slanted_triangular"] = ours


def test_logs_a_table_at_the_start_and_at_each_unfreezing_stage(caplog):
    optimizer, params = layered_optimizer(3)
    with caplog.at_level(logging.INFO, logger="allennlp_stlr.scheduler"):
        scheduler = build(
            optimizer, num_epochs=3, num_steps_per_epoch=4, gradual_unfreezing=True,
            discriminative_fine_tuning=True, decay_factor=0.5,
        )
        drive(scheduler, optimizer, params, [4, 4, 4])
    tables = [r.getMessage() for r in caplog.records if "layer groups" in r.getMessage()]
    assert len(tables) == 3  # start, after epoch 1, after epoch 2 (all unfrozen)
    start_rows = tables[0].splitlines()[2:]
    assert [row.split()[3] for row in start_rows] == ["frozen", "frozen", "trainable", "trainable"]
    assert [row.split()[4] for row in start_rows[:3]] == ["^layer0\\.", "^layer1\\.", "^layer2\\."]
    assert [float(row.split()[2]) for row in start_rows[:3]] == pytest.approx([0.025, 0.05, 0.1])
    assert [row.split()[3] for row in tables[-1].splitlines()[2:]] == ["trainable"] * 4
