"""`SlantedTriangular` under the trainer's call order: drop-in equality and the fixes."""
import logging
import math
import random
from typing import Any, Dict, List, Sequence, Tuple

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.training.learning_rate_schedulers import LearningRateScheduler
from allennlp.training.learning_rate_schedulers.slanted_triangular import (
    SlantedTriangular as Builtin,
)

import allennlp_stlr
from tests import helpers
from tests.helpers import build, layered_optimizer


def flags_per_parameter(
    scheduler, optimizer, params, epoch_lengths: Sequence[int]
) -> List[Tuple[List[float], List[bool]]]:
    """`helpers.drive`, with trainable flags per parameter of `params` instead of per group."""
    group_of = {id(p): i for i, g in enumerate(optimizer.param_groups) for p in g["params"]}
    return [
        (lrs, [flags[group_of[id(p)]] for p in params])
        for lrs, flags in helpers.drive(scheduler, optimizer, epoch_lengths)
    ]


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
    ours_seen = flags_per_parameter(ours, ours_opt, ours_params, lengths)
    theirs_seen = flags_per_parameter(theirs, theirs_opt, theirs_params, lengths)
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
    rates = [lr[0] for lr, _ in flags_per_parameter(scheduler, optimizer, params, [20] * 10)]
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
    rates = [lr[0] for lr, _ in flags_per_parameter(Builtin(optimizer, num_epochs=10), optimizer, params, [20] * 10)]
    assert rates[:20] == pytest.approx([0.1] * 20)


def test_short_freezing_epochs_warm_up_and_reach_the_peak():
    # 5 updates per epoch < 1 / cut_frac: the built-in's int(5 * 0.1) = 0 skips the warm-up.
    config = dict(num_epochs=4, num_steps_per_epoch=5, gradual_unfreezing=True)
    optimizer, params = layered_optimizer(3)
    ours = flags_per_parameter(build(optimizer, **config), optimizer, params, [5] * 4)
    top = [lr[2] for lr, _ in ours]
    for epoch in range(2):  # the two freezing epochs
        assert top[epoch * 5] == pytest.approx(0.1)  # peak at the epoch's first update
        assert top[epoch * 5 + 4] == pytest.approx(0.1 / 32)
    builtin_opt, builtin_params = layered_optimizer(3)
    theirs = flags_per_parameter(Builtin(builtin_opt, **config), builtin_opt, builtin_params, [5] * 4)
    assert max(lr[2] for lr, _ in theirs[:10]) < 0.1 * 0.85


def test_varying_epoch_lengths_stay_within_bounds():
    optimizer, params = layered_optimizer(3, default_size=1)
    scheduler = build(
        optimizer, num_epochs=5, num_steps_per_epoch=7, discriminative_fine_tuning=True
    )
    bases = list(scheduler.base_values)
    seen = flags_per_parameter(scheduler, optimizer, params, [9, 3, 12, 1, 20])
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
    seen = flags_per_parameter(build(optimizer, num_epochs=2, num_steps_per_epoch=5, **config), optimizer, params, [5, 5])
    assert [lr[0] for lr, _ in seen] == pytest.approx(expected, rel=1e-12)


def combined(
    optimizer: torch.optim.Optimizer, num_steps_per_epoch: int, *phases: Tuple[int, Dict[str, Any]]
) -> LearningRateScheduler:
    """AllenNLP's `combined` scheduler of `(epochs, scheduler config)` phases, from `Params`."""
    return LearningRateScheduler.from_params(
        optimizer=optimizer,
        params=Params(
            {
                "type": "combined",
                "num_steps_per_epoch": num_steps_per_epoch,
                "schedulers": [list(phase) for phase in phases],
            }
        ),
    )


def constant_then_stlr(optimizer: torch.optim.Optimizer) -> LearningRateScheduler:
    """AllenNLP's `combined`: one constant epoch, then two of slanted_triangular."""
    return combined(optimizer, 10, (1, {"type": "constant"}), (2, {"type": "slanted_triangular"}))


def test_later_phase_of_combined_scheduler():
    optimizer, params = layered_optimizer(1)
    combined = constant_then_stlr(optimizer)
    rates = [lr[0] for lr, _ in flags_per_parameter(combined, optimizer, params, [10, 10, 10])]
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
            flags_per_parameter(combined, optimizer, params, [10, 10])
    finally:
        registry["slanted_triangular"] = ours


def test_logs_a_table_at_the_start_and_at_each_unfreezing_stage(caplog):
    optimizer, params = layered_optimizer(3)
    with caplog.at_level(logging.INFO, logger="allennlp_stlr.scheduler"):
        scheduler = build(
            optimizer, num_epochs=3, num_steps_per_epoch=4, gradual_unfreezing=True,
            discriminative_fine_tuning=True, decay_factor=0.5,
        )
        flags_per_parameter(scheduler, optimizer, params, [4, 4, 4])
    tables = [r.getMessage() for r in caplog.records if "layer groups" in r.getMessage()]
    assert len(tables) == 3  # start, after epoch 1, after epoch 2 (all unfrozen)
    start_rows = tables[0].splitlines()[2:]
    assert [row.split()[3] for row in start_rows] == ["frozen", "frozen", "trainable", "trainable"]
    assert [row.split(None, 4)[4] for row in start_rows] == ["group 0", "group 1", "group 2", "group 3"]
    assert [float(row.split()[2]) for row in start_rows[:3]] == pytest.approx([0.025, 0.05, 0.1])
    assert [row.split()[3] for row in tables[-1].splitlines()[2:]] == ["trainable"] * 4


# ----------------------------------------------------------------- unfreezing by updates
def _stlr(t: int, total: int, cut_frac: float = 0.1) -> float:
    """ULMFiT's fraction for update t (1-based) of a triangle of `total` updates."""
    cut = max(1, int(total * cut_frac))
    return t / cut if t < cut else 1 - (t - cut) / (total - cut)


def test_unfreezing_every_n_updates_gives_each_stage_its_own_triangle():
    # 3 layer groups, 2 epochs x 10 updates, a new group every 3 updates: stages of 3 updates
    # (updates 1-3 train the top group, 4-6 the top two), then one triangle of 14 updates.
    optimizer, params = layered_optimizer(3)
    scheduler = build(
        optimizer, num_epochs=2, num_steps_per_epoch=10, gradual_unfreezing=True,
        unfreeze_every_num_updates=3,
    )
    seen = flags_per_parameter(scheduler, optimizer, params, [10, 10])
    fractions = [_stlr(t, 3) for t in (1, 2, 3)] * 2 + [_stlr(t, 14) for t in range(1, 15)]
    assert [lr[2] for lr, _ in seen] == pytest.approx(
        [0.1 * (1 + f * 31) / 32 for f in fractions], rel=1e-12
    )
    flags = [f for _, f in seen]
    assert flags[:3] == [[False, False, True]] * 3
    assert flags[3:6] == [[False, True, True]] * 3
    assert flags[6:] == [[True, True, True]] * 14


def test_unfreezing_by_updates_needs_no_more_epochs_than_the_updates_require():
    # 8 layer groups in 2 epochs: by epochs this is a ConfigurationError; by updates it fits.
    optimizer, params = layered_optimizer(8)
    with pytest.raises(ConfigurationError, match="`num_epochs` = 2 for 8 layer groups"):
        build(optimizer, num_epochs=2, num_steps_per_epoch=30, gradual_unfreezing=True)
    scheduler = build(
        optimizer, num_epochs=2, num_steps_per_epoch=30, gradual_unfreezing=True,
        unfreeze_every_num_updates=4,
    )
    seen = flags_per_parameter(scheduler, optimizer, params, [30, 30])
    assert [sum(f) for _, f in seen[::4]][:8] == [1, 2, 3, 4, 5, 6, 7, 8]


def test_unfreezing_by_updates_with_an_unknown_epoch_length():
    optimizer, params = layered_optimizer(3)
    scheduler = build(
        optimizer, num_epochs=3, num_steps_per_epoch=None, gradual_unfreezing=True,
        unfreeze_every_num_updates=2,
    )
    seen = flags_per_parameter(scheduler, optimizer, params, [10, 10, 10])
    assert [sum(f) for _, f in seen[:6]] == [1, 1, 2, 2, 3, 3]
    top = [lr[2] for lr, _ in seen]
    # After the stages (update 4), the open warm-up until the first epoch ends (update 10).
    assert top[4:10] == pytest.approx(
        [0.1 * (1 + (1 - 1 / math.sqrt(t)) * 31) / 32 for t in range(1, 7)], rel=1e-12
    )
    assert max(top[10:]) == pytest.approx(0.1)
    assert top[-1] == pytest.approx(0.1 / 32)


@pytest.mark.parametrize(
    "config, message",
    [
        (dict(unfreeze_every_num_updates=3), "has no effect without `gradual_unfreezing`"),
        (dict(gradual_unfreezing=True, unfreeze_every_num_updates=0), "must be a positive integer"),
        (dict(gradual_unfreezing=True, unfreeze_every_num_updates=10), "takes 20 updates, but"),
    ],
)
def test_unfreezing_interval_errors(config, message):
    optimizer, _ = layered_optimizer(3)
    with pytest.raises(ConfigurationError, match=message):
        build(optimizer, num_epochs=2, num_steps_per_epoch=10, **config)


# ----------------------------------------------------------------- counting, checkpoints
def test_updates_are_counted_not_taken_from_the_trainer():
    # After `--recover` on uneven distributed shards, workers pass different batch numbers.
    rates = []
    for numbers in (range(1, 21), range(7, 27)):
        optimizer, _ = layered_optimizer(1)
        scheduler = build(optimizer, num_epochs=2, num_steps_per_epoch=10)
        rates.append([])
        for n in numbers:
            scheduler.step_batch(n)
            rates[-1].append(optimizer.param_groups[0]["lr"])
    assert rates[0] == rates[1]


def test_builtin_refuses_to_continue_our_checkpoint():
    optimizer, params = layered_optimizer(3)
    ours = build(optimizer, num_epochs=3, num_steps_per_epoch=5, gradual_unfreezing=True)
    flags_per_parameter(ours, optimizer, params, [5])
    state = torch.load(_roundtrip(ours.state_dict()))  # as the checkpoint stores it
    other, _ = layered_optimizer(3)
    builtin = Builtin(other, num_epochs=3, num_steps_per_epoch=5, gradual_unfreezing=True)
    builtin.load_state_dict(state)
    with pytest.raises(ConfigurationError, match=r"written by allennlp_stlr.*\.allennlp_plugins"):
        builtin.step_batch(6)
    # Ours continues it, and ignores the guard entries.
    again, _ = layered_optimizer(3)
    resumed = build(again, num_epochs=3, num_steps_per_epoch=5, gradual_unfreezing=True)
    resumed.load_state_dict(state)
    resumed.step_batch(6)
    assert again.param_groups[2]["lr"] == pytest.approx(0.1 * (1 + _stlr(1, 5) * 31) / 32)


def _roundtrip(state):
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return buffer


def ulmfit_then_plain(optimizer: torch.optim.Optimizer) -> LearningRateScheduler:
    """`combined`: 3 epochs of gradual unfreezing and discriminative rates, then 2 plain."""
    ulmfit = {
        "type": "slanted_triangular",
        "gradual_unfreezing": True,
        "discriminative_fine_tuning": True,
        "decay_factor": 0.5,
    }
    return combined(optimizer, 4, (3, ulmfit), (2, {"type": "slanted_triangular"}))


def test_combined_resumes_exactly_from_every_update_and_unfreezes_in_a_plain_phase():
    lengths = [4] * 5
    optimizer, params = layered_optimizer(3)
    reference = flags_per_parameter(ulmfit_then_plain(optimizer), optimizer, params, lengths)
    assert all(flags == [True] * 3 for _, flags in reference[12:])  # the plain phase trains all
    for stop in range(1, 20):
        # Train to `stop`, checkpoint, build everything anew and continue, as `--recover` does.
        optimizer, params = layered_optimizer(3)
        combined = ulmfit_then_plain(optimizer)
        seen = []
        for update in range(1, stop + 1):
            flags = [p.requires_grad for p in params]
            combined.step_batch(update)
            seen.append(([g["lr"] for g in optimizer.param_groups], flags))
            if update % 4 == 0:
                combined.step(None)
        saved_optimizer, saved = optimizer.state_dict(), combined.state_dict()
        optimizer, params = layered_optimizer(3)
        combined = ulmfit_then_plain(optimizer)
        optimizer.load_state_dict(saved_optimizer)
        combined.load_state_dict(torch.load(_roundtrip(saved)))
        for update in range(stop + 1, 21):
            flags = [p.requires_grad for p in params]
            combined.step_batch(update)
            seen.append(([g["lr"] for g in optimizer.param_groups], flags))
            if update % 4 == 0:
                combined.step(None)
        for update, (got, want) in enumerate(zip(seen, reference), start=1):
            assert got[0] == pytest.approx(want[0], rel=1e-12), (stop, update)
            assert got[1] == want[1], (stop, update)


# ----------------------------------------------------------------- config mistakes
@pytest.mark.parametrize(
    "config, message",
    [
        (dict(num_epochs=True), "`num_epochs` must be a number, got true"),
        (dict(num_epochs=3, cut_fraction=0.2), "unknown setting `cut_fraction`. Did you mean `cut_frac`?"),
        (dict(num_epochs=3, gradual_unfreezin=True), "Did you mean `gradual_unfreezing`?"),
        (
            dict(num_epochs=3, discriminative_fine_tuning=True, decay_factor=2.6),
            r"`decay_factor` = 2.6 would give each lower layer group a HIGHER rate.*write 0.3846",
        ),
    ],
)
def test_config_mistakes_are_configuration_errors(config, message):
    optimizer, _ = layered_optimizer(3)
    with pytest.raises(ConfigurationError, match=message):
        build(optimizer, **config)


def test_configured_length_the_data_does_not_match_warns_and_replans_without_a_jump(caplog):
    # allennlp-models' BoolQ config: num_steps_per_epoch 3088, where the data gives 295.
    optimizer, params = layered_optimizer(1)
    scheduler = build(optimizer, num_epochs=10, num_steps_per_epoch=3088)
    with caplog.at_level(logging.WARNING):
        rates = [lr[0] for lr, _ in flags_per_parameter(scheduler, optimizer, params, [295] * 10)]
    warnings = [r.getMessage() for r in caplog.records if "is 3088, but" in r.getMessage()]
    assert len(warnings) == 1
    assert "has 295 optimizer updates" in warnings[0]
    assert "Remove `num_steps_per_epoch`" in warnings[0]
    # Update 296 continues from 9.6% of the way; the peak comes at 562, not at 296.
    steps = [b / a for a, b in zip(rates, rates[1:])]
    assert max(steps[294:]) < 1.1
    assert rates.index(max(rates)) == 561
    assert rates[-1] == pytest.approx(0.1 / 32)


def test_boolq_config_the_builtin_jumps_ours_rises_no_faster_than_the_warmup():
    # allennlp-models' BoolQ config in full: 10 epochs of 3088 updates, cut_frac 0.06; the
    # data gives 295. Both follow the configured plan for the first epoch.
    config = dict(num_epochs=10, num_steps_per_epoch=3088, cut_frac=0.06)
    rises = {}
    for name, make in (("ours", lambda o: build(o, **config)), ("built-in", lambda o: Builtin(o, **config))):
        optimizer, params = layered_optimizer(1, lr=1.0)  # rates in units of the peak
        rates = [lr[0] for lr, _ in flags_per_parameter(make(optimizer), optimizer, params, [295] * 10)]
        rises[name] = [b - a for a, b in zip(rates, rates[1:])]
    # The built-in re-plans at update 296 and jumps from 15.9% of the way to 95.7% of it.
    assert max(rises["built-in"]) == pytest.approx(0.7729, abs=1e-4)
    assert rises["built-in"].index(max(rises["built-in"])) + 2 == 296
    # Ours rises at most at the slope of the re-planned triangle's warm-up (cut = 177 of
    # 2950 updates): 1/177 of the way per update, 0.0055 of the peak.
    warmup_slope = (1 / 177) * (1 - 1 / 32)
    assert max(rises["ours"]) <= warmup_slope * (1 + 1e-9)
    assert max(rises["ours"]) == pytest.approx(0.005466, abs=1e-6)
