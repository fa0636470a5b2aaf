"""
The real `SlantedTriangular`, driven through every update of a run in the trainer's order:
`step_batch(t)` before update `t`, `step()` at each epoch's end (`trainer_steps`, the one
driver, which the tests share). The constructor gets what
the trainer would pass it (or the scheduler block's own value), while each epoch runs the
number of updates the data really makes, as training does.
"""
import copy
import operator
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, NamedTuple, Sequence, Tuple, Union

import numpy as np
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.training.learning_rate_schedulers import LearningRateScheduler

from allennlp_stlr.tools.preview.experiment import Experiment, GroupSpec, NeedsLayerGroups
from allennlp_stlr.scheduler import SETTINGS, SlantedTriangular

_REQUIRES_GRAD = operator.attrgetter("requires_grad")

# What the preview shows: every setting but `last_epoch`, which the scheduler counts in.
SHOWN_SETTINGS = tuple(name for name in SETTINGS if name != "last_epoch")


@dataclass
class Preview:
    """The schedule as training will apply it: one row per update, one column per group."""

    experiment: Experiment
    lr: np.ndarray  # (updates, groups) learning rate of update t+1
    trainable: np.ndarray  # (updates, groups) bool: which groups update t+1 trains
    epoch: np.ndarray  # (updates,) 0-based epoch of each update
    peak: List[float]  # each group's base rate after discriminative decay
    floor: List[float]
    settings: Dict[str, Any]  # the scheduler's effective hyperparameters

    @property
    def peaks(self) -> List[int]:
        """Updates (1-based) at which the top layer group's rate peaks, one per triangle: the
        last update of each rise, above the floor (a run longer than the schedule's plan
        ends flat on the floor, which is no peak)."""
        group = self.top_group
        top = self.lr[:, group]
        if len(top) == 0:
            return []
        rising = np.r_[True, top[1:] >= top[:-1]]
        falling = np.r_[top[:-1] > top[1:], True]
        above = ~np.isclose(top, self.floor[group], rtol=1e-9, atol=0.0)
        return [int(i) + 1 for i in np.flatnonzero(rising & falling & above)]

    @property
    def top_group(self) -> int:
        groups = self.experiment.groups
        nonempty = [i for i in range(len(groups)) if stand_in_size(groups, i)]
        return nonempty[-1] if nonempty else len(groups) - 1

    def first_trainable_update(self, group: int) -> int:
        """The 1-based update from which `group` trains for good (0: never)."""
        column = self.trainable[:, group]
        if not column[-1:].all():
            return 0
        frozen = np.flatnonzero(~column)
        return int(frozen[-1]) + 2 if frozen.size else 1


def stand_in_size(groups: Sequence[GroupSpec], index: int) -> int:
    """The group's parameter count; when the model was not built, 1 (taken to hold
    parameters), except for AllenNLP's default group after configured ones, taken to be
    empty: gradual unfreezing refuses parameters there."""
    counted = groups[index].num_parameters
    if counted is not None:
        return counted
    return 0 if index == len(groups) - 1 and len(groups) > 1 else 1


def stand_in_optimizer(groups: Sequence[GroupSpec]) -> torch.optim.SGD:
    """
    A real SGD over one meta tensor per non-empty group: the same groups, rates and
    parameter counts (which discriminative decay and the checks look at), no memory.
    """
    param_groups = []
    for index, group in enumerate(groups):
        size = stand_in_size(groups, index)
        # Trainable like a fresh model parameter; meta tensors hold no memory.
        params = [torch.empty(size, device="meta", requires_grad=True)] if size else []
        entry: Dict[str, Any] = {"params": params, "lr": group.lr}
        if group.name is not None:
            entry["name"] = group.name
        param_groups.append(entry)
    return torch.optim.SGD(param_groups, lr=groups[-1].lr)


def build_scheduler(experiment: Experiment, optimizer: torch.optim.Optimizer) -> SlantedTriangular:
    """The scheduler as the trainer constructs it (config values win over the trainer's)."""
    try:
        return LearningRateScheduler.from_params(
            params=Params(copy.deepcopy(experiment.scheduler)),
            optimizer=optimizer,
            num_epochs=experiment.num_epochs,
            num_steps_per_epoch=experiment.passed_steps_per_epoch,
        )
    except ConfigurationError as error:
        if experiment.layered and not experiment.has_parameter_groups:
            raise NeedsLayerGroups(str(error)) from error
        raise


Seen = Tuple[List[float], List[bool]]
# A point in training as AllenNLP's checkpointer names it: (epochs completed, batches into
# the next epoch).
Point = Tuple[int, int]


class Backward(NamedTuple):
    """The trainer is about to run update `update`'s forward and backward pass."""

    update: int


class Update(NamedTuple):
    """`step_batch(update)` has run: the optimizer step comes next. `seen` holds each param
    group's learning rate for the update and whether it trained in its backward pass."""

    update: int
    seen: Seen
    epoch_ends: List[int]


class EpochEnd(NamedTuple):
    """`step()` has run at an epoch's end (checkpoints are written next)."""

    epoch_ends: List[int]


def trainer_steps(
    scheduler: LearningRateScheduler,
    optimizer: torch.optim.Optimizer,
    epoch_lengths: Sequence[int],
    start: Point = (0, 0),
) -> Iterator[Union[Backward, Update, EpochEnd]]:
    """
    Drive `scheduler` in the trainer's call order (`GradientDescentTrainer`), yielding at each
    point where the trainer does other work: `step_batch(t)` before update t, `step()` at each
    epoch end. Batches before `start` are skipped without `step_batch`, as on `--recover`.
    `epoch_ends` holds the update count at the end of each completed epoch. The call order is
    described once, in docs/internals.md#the-call-order-contract.
    """
    epoch_ends: List[int] = []
    update = 0
    groups = optimizer.param_groups
    # A group's flag is all of its parameters'; a one-parameter group (the preview's
    # stand-ins) is read directly: 8.2 s instead of 10.5 s for 300,000 updates x 27 groups.
    params = [
        (group["params"][0] if len(group["params"]) == 1 else None, group["params"])
        for group in groups
    ]
    for epoch, length in enumerate(epoch_lengths):
        for batch in range(length):
            update += 1
            if (epoch, batch) < start:
                continue
            yield Backward(update)
            flags = [
                single.requires_grad if single is not None else all(map(_REQUIRES_GRAD, group))
                for single, group in params
            ]
            scheduler.step_batch(update)
            yield Update(update, ([group["lr"] for group in groups], flags), epoch_ends)
        if (epoch, length) < start:
            epoch_ends.append(update)
            continue
        scheduler.step(None)
        epoch_ends.append(update)
        yield EpochEnd(epoch_ends)


def drive_as_trainer(
    scheduler: LearningRateScheduler,
    optimizer: torch.optim.Optimizer,
    epoch_lengths: Sequence[int],
    start: Point = (0, 0),
) -> List[Seen]:
    """`trainer_steps` to the end: per update driven, each param group's learning rate and
    whether it trained in that update's backward pass (its flag before `step_batch`)."""
    return [
        step.seen
        for step in trainer_steps(scheduler, optimizer, epoch_lengths, start)
        if isinstance(step, Update)
    ]


def simulate(experiment: Experiment) -> Preview:
    """Drive the real scheduler through every update of the run, in the trainer's order."""
    optimizer = stand_in_optimizer(experiment.groups)
    scheduler = build_scheduler(experiment, optimizer)
    epochs, per_epoch = experiment.num_epochs, experiment.updates_per_epoch
    seen = drive_as_trainer(scheduler, optimizer, [per_epoch] * epochs)
    count = len(optimizer.param_groups)
    peak = list(scheduler.base_values)
    return Preview(
        experiment=experiment,
        lr=np.array([lrs for lrs, _ in seen], dtype=float).reshape(-1, count),
        trainable=np.array([flags for _, flags in seen], dtype=bool).reshape(-1, count),
        epoch=np.repeat(np.arange(epochs), per_epoch),
        peak=peak,
        floor=[p / scheduler.ratio for p in peak],
        settings={key: getattr(scheduler, key) for key in SHOWN_SETTINGS},
    )
