"""
The real `SlantedTriangular`, driven through every update of a run in the trainer's order:
`step_batch(t)` before update `t`, `step()` at each epoch's end. The constructor gets what
the trainer would pass it (or the scheduler block's own value), while each epoch runs the
number of updates the data really makes, as training does.
"""
import copy
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence

import numpy as np
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.training.learning_rate_schedulers import LearningRateScheduler

from allennlp_stlr.preview.experiment import Experiment, GroupSpec, NeedsLayerGroups
from allennlp_stlr.scheduler import SlantedTriangular

SETTINGS = (
    "num_epochs",
    "num_steps_per_epoch",
    "cut_frac",
    "ratio",
    "gradual_unfreezing",
    "discriminative_fine_tuning",
    "decay_factor",
    "unfreeze_every_num_updates",
)


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
        """Updates (1-based) at which the top layer group's rate peaks, one per triangle."""
        top = self.lr[:, self.top_group]
        if len(top) == 0:
            return []
        rising = np.r_[True, top[1:] >= top[:-1]]
        falling = np.r_[top[:-1] > top[1:], True]
        return [int(i) + 1 for i in np.flatnonzero(rising & falling)]

    @property
    def top_group(self) -> int:
        nonempty = [i for i, g in enumerate(self.experiment.groups) if g.num_parameters != 0]
        return nonempty[-1] if nonempty else len(self.experiment.groups) - 1

    def first_trainable_update(self, group: int) -> int:
        """The 1-based update from which `group` trains for good (0: never)."""
        column = self.trainable[:, group]
        if not column[-1:].all():
            return 0
        frozen = np.flatnonzero(~column)
        return int(frozen[-1]) + 2 if frozen.size else 1


class _AlwaysTrainable:
    """Stands for an empty group, which the trace reports as trainable (`all([])`)."""

    requires_grad = True


def stand_in_optimizer(groups: Sequence[GroupSpec]) -> torch.optim.SGD:
    """
    A real SGD over one meta tensor per non-empty group: the same groups, rates and
    parameter counts (which discriminative decay and the checks look at), no memory.
    """
    param_groups = []
    for group in groups:
        size = 1 if group.num_parameters is None else group.num_parameters
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


def simulate(experiment: Experiment) -> Preview:
    """Drive the real scheduler through every update of the run, in the trainer's order."""
    optimizer = stand_in_optimizer(experiment.groups)
    scheduler = build_scheduler(experiment, optimizer)
    groups = optimizer.param_groups
    flags = [g["params"][0] if g["params"] else _AlwaysTrainable() for g in groups]
    epochs, per_epoch = experiment.num_epochs, experiment.updates_per_epoch
    lr = np.empty((epochs * per_epoch, len(groups)))
    trainable = np.empty((epochs * per_epoch, len(groups)), dtype=bool)
    t = 0
    for _ in range(epochs):
        for _ in range(per_epoch):
            t += 1
            # The flags of update t are those of its backward pass, which comes before
            # `step_batch(t)`; recorded per update, as freezing may change inside an epoch.
            trainable[t - 1] = [p.requires_grad for p in flags]
            scheduler.step_batch(t)
            lr[t - 1] = [g["lr"] for g in groups]
        scheduler.step(None)
    peak = list(scheduler.base_values)
    return Preview(
        experiment=experiment,
        lr=lr,
        trainable=trainable,
        epoch=np.repeat(np.arange(epochs), per_epoch),
        peak=peak,
        floor=[p / scheduler.ratio for p in peak],
        settings={key: getattr(scheduler, key) for key in SETTINGS if hasattr(scheduler, key)},
    )
