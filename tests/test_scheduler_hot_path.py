"""
The scheduler keeps the schedule's `Plan` across updates, and across epoch ends that leave
`schedule.plan_key` as it was, instead of planning at every update. These tests check that
this gives, update by update and float for float, the rates of a plan made afresh from the
counters at that update (`schedule.plan`, then `tests.helpers.rates`), whatever the epochs'
lengths (also a first epoch longer than configured, and unknown lengths), with gradual
unfreezing, and across a `state_dict` round trip into a fresh scheduler.
"""
import itertools
from typing import List, Optional

import torch
from allennlp.training.learning_rate_schedulers import LearningRateScheduler
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import allennlp_stlr  # noqa: F401  (registers "slanted_triangular")
from allennlp_stlr import schedule
from tests.helpers import build, drive, make_optimizer, rates


def layered_groups(layer_groups: int) -> torch.optim.Optimizer:
    """One tensor per layer group at rising rates, then AllenNLP's default group, empty."""
    return make_optimizer([2] * layer_groups + [0], [0.01 * (i + 1) for i in range(layer_groups)] + [0.1])


def expected_rates(
    scheduler: LearningRateScheduler, epoch_ends: List[int], updates: int
) -> List[float]:
    """The rates the pure functions give from the counters alone, planned afresh."""
    plan = schedule.plan(
        updates,
        epoch_ends,
        scheduler.num_epochs,
        scheduler.num_steps_per_epoch,
        scheduler.cut_frac,
        scheduler.stages,
    )
    return rates(scheduler.base_values, plan.at(updates), scheduler.ratio)


scenarios = st.fixed_dictionaries(
    {
        "layer_groups": st.integers(2, 5),
        "extra_epochs": st.integers(0, 3),
        "configured": st.one_of(st.none(), st.integers(1, 12)),
        "lengths": st.lists(st.integers(1, 15), min_size=8, max_size=8),
        "cut_frac": st.sampled_from([0.0, 0.1, 0.3, 1.0]),
        "ratio": st.sampled_from([1, 7.5, 32]),
        "gradual_unfreezing": st.booleans(),
        "discriminative_fine_tuning": st.booleans(),
        "resume_after_epoch": st.integers(0, 7),
        "unfreeze_every_num_updates": st.one_of(st.none(), st.integers(1, 6)),
    }
)


@settings(max_examples=60, deadline=None)
@given(scenarios)
def test_rates_equal_the_pure_schedule_at_every_update(scenario: dict) -> None:
    layer_groups = scenario["layer_groups"]
    num_epochs = layer_groups + scenario["extra_epochs"]
    configured: Optional[int] = scenario["configured"]
    every = scenario["unfreeze_every_num_updates"] if scenario["gradual_unfreezing"] else None
    if every is not None and configured is not None:
        assume((layer_groups - 1) * every < num_epochs * configured)
    config = {
        "unfreeze_every_num_updates": every,
        "num_epochs": num_epochs,
        "num_steps_per_epoch": configured,
        "cut_frac": scenario["cut_frac"],
        "ratio": scenario["ratio"],
        "gradual_unfreezing": scenario["gradual_unfreezing"],
        "discriminative_fine_tuning": scenario["discriminative_fine_tuning"],
    }
    lengths = scenario["lengths"][:num_epochs]
    resume = scenario["resume_after_epoch"]
    current = {"scheduler": build(layered_groups(layer_groups), **config)}

    def check(update: int, epoch_ends: List[int]) -> None:
        scheduler = current["scheduler"]
        assert [g["lr"] for g in scheduler.optimizer.param_groups] == expected_rates(
            scheduler, epoch_ends, update
        )

    scheduler = current["scheduler"]
    drive(scheduler, scheduler.optimizer, lengths[: resume + 1], after=check)
    if resume + 1 < len(lengths):
        # A fresh scheduler on a fresh optimizer continues from the saved counters.
        resumed = build(layered_groups(layer_groups), **config)
        resumed.load_state_dict(scheduler.state_dict())
        current["scheduler"] = resumed
        done = list(itertools.accumulate(lengths[: resume + 1]))
        check(done[-1], done)
        drive(resumed, resumed.optimizer, lengths, start=(resume + 1, 0), after=check)
