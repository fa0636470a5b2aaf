"""
`SlantedTriangular`: the AllenNLP `LearningRateScheduler` registered as "slanted_triangular".

The class owns the progress counters (updates applied, where each epoch ended), asks
`allennlp_stlr.schedule` for the fraction of the current update, and applies the
resulting learning rates and the gradual-unfreezing `requires_grad` flags to the optimizer.
"""
import logging
from typing import Any, Dict, List, Optional

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.training.learning_rate_schedulers.learning_rate_scheduler import (
    LearningRateScheduler,
)

from allennlp_stlr import checks, schedule
from allennlp_stlr.distributed import (
    agree_on_steps_per_epoch,
    require_unused_parameter_detection,
)

logger = logging.getLogger(__name__)

STATE_FORMAT = "allennlp_stlr.slanted_triangular/1"


class SlantedTriangular(LearningRateScheduler):
    """
    Implements the Slanted Triangular Learning Rate schedule (Howard & Ruder, 2018) with
    optional gradual unfreezing and discriminative fine-tuning. The learning rate rises
    linearly from `base / ratio` to `base` over the first `cut_frac` of the updates and
    then falls linearly back to `base / ratio` at the last update:

        T = num_epochs * num_steps_per_epoch,  cut = max(1, floor(T * cut_frac))
        p(t) = t / cut                     if t < cut
             = 1 - (t - cut) / (T - cut)   otherwise
        lr(t) = base * (1 + p(t) * (ratio - 1)) / ratio

    where `t` is the 1-based number of the optimizer update (`step_batch(t)` is called
    before update `t`). With gradual unfreezing, epoch `e` (0-based) trains only the top
    `e + 1` layer groups and runs its own one-epoch triangle; once every group is unfrozen,
    one triangle spans the remaining updates. With discriminative fine-tuning, each
    non-empty layer group's base rate is `decay_factor` times the one above it.

    Layer groups are the optimizer's `parameter_groups`, bottom layer first, followed by
    AllenNLP's default group for unmatched parameters (which must be empty with gradual
    unfreezing; with discriminative fine-tuning alone it is the top group).

    When `num_steps_per_epoch` is unknown (a data loader without a length), the first epoch
    warms up along `1 - 1/sqrt(t)` of the way to the peak, and the rest of the triangle is
    planned from that epoch's length once it ends: linearly up to the peak, then down to
    `base / ratio` at the last update.

    Note that with this schedule, early stopping should typically be avoided.

    Registered as a `LearningRateScheduler` with name "slanted_triangular", replacing
    AllenNLP's built-in class of that name.

    # Parameters

    optimizer : `torch.optim.Optimizer`
        This argument does not get an entry in a configuration file for the object.
    num_epochs : `int`
        The total number of epochs for which the model should be trained.
    num_steps_per_epoch : `Optional[int]`, optional (default = `None`)
        The number of steps (optimizer updates) per training epoch. The trainer passes the
        data loader's length (divided by gradient accumulation steps) when it is known.
    cut_frac : `float`, optional (default = `0.1`)
        The fraction of the steps to increase the learning rate; 0 = decay only,
        1 = warm-up only.
    ratio : `float`, optional (default = `32`)
        The ratio of the largest (peak) to the smallest learning rate; 1 = constant.
    last_epoch : `int`, optional (default = `-1`)
        Passed to AllenNLP's `Scheduler`: anything but -1 requires `initial_lr` in every
        param group. Progress after `--recover` comes from the checkpoint, not from this.
    gradual_unfreezing : `bool`, optional (default = `False`)
        Whether gradual unfreezing should be used.
    discriminative_fine_tuning : `bool`, optional (default = `False`)
        Whether discriminative fine-tuning (different learning rates per layer) is used.
    decay_factor : `float`, optional (default = `0.38`)
        The decay factor by which the learning rate is reduced with discriminative
        fine-tuning when going a layer deeper.

    # Example

    ```python
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    scheduler = SlantedTriangular(optimizer, num_epochs=3, num_steps_per_epoch=100)
    for t in range(1, 301):
        scheduler.step_batch(t)   # before update t
        optimizer.step()
        if t % 100 == 0:
            scheduler.step()      # end of an epoch
    ```
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        num_epochs: int,
        num_steps_per_epoch: Optional[int] = None,
        cut_frac: float = 0.1,
        ratio: float = 32,
        last_epoch: int = -1,
        gradual_unfreezing: bool = False,
        discriminative_fine_tuning: bool = False,
        decay_factor: float = 0.38,
    ) -> None:
        checks.check_hyperparameters(
            num_epochs,
            num_steps_per_epoch,
            cut_frac,
            ratio,
            last_epoch,
            discriminative_fine_tuning,
            decay_factor,
        )
        sizes = [_group_size(group) for group in optimizer.param_groups]
        self._layer_groups = checks.layer_groups(
            sizes, gradual_unfreezing, discriminative_fine_tuning
        )
        if gradual_unfreezing:
            checks.check_epochs_cover_groups(num_epochs, len(self._layer_groups))
        super().__init__(optimizer, last_epoch)
        self.last_epoch = last_epoch + 1

        self.num_epochs = num_epochs
        self.num_steps_per_epoch = agree_on_steps_per_epoch(num_steps_per_epoch)
        self.cut_frac = cut_frac
        self.ratio = ratio
        self.gradual_unfreezing = gradual_unfreezing
        self.discriminative_fine_tuning = discriminative_fine_tuning
        self.decay_factor = decay_factor
        if discriminative_fine_tuning:
            factors = schedule.discriminative_factors([size > 0 for size in sizes], decay_factor)
            self.base_values = [base * f for base, f in zip(self.base_values, factors)]
        checks.warn_unknown_epoch_length(self.num_steps_per_epoch)

        # The progress counters: all the state there is.
        self._updates = 0  # updates of this schedule so far (t)
        self._offset: Optional[int] = None  # trainer's update count before our first one
        self._epoch_ends: List[int] = []  # value of t at the end of each completed epoch
        # Derived from the counters, not state: re-worked out whenever an epoch ends.
        self._plan: Optional[schedule.Plan] = None

        self._apply_freezing()
        if gradual_unfreezing:
            require_unused_parameter_detection(self.optimizer)
        self._apply_rates()
        self._log_groups("start")

    # ----------------------------------------------------------------- derived values
    @property
    def freezing_epochs(self) -> int:
        """Epochs that run their own triangle while layers are being unfrozen."""
        return len(self._layer_groups) - 1 if self.gradual_unfreezing else 0

    def get_values(self) -> List[float]:
        """The learning rate of each param group for the current update."""
        plan = self._plan
        if plan is None or (plan.valid_through is not None and self._updates > plan.valid_through):
            plan = self._plan = schedule.plan(
                self._updates,
                self._epoch_ends,
                self.num_epochs,
                self.num_steps_per_epoch,
                self.cut_frac,
                self.freezing_epochs,
            )
        return schedule.rates(self.base_values, plan.at(self._updates), self.ratio)

    def trainable(self) -> List[bool]:
        """Whether each param group trains in the current epoch."""
        flags = [True] * len(self.optimizer.param_groups)
        if self.gradual_unfreezing:
            top = schedule.unfrozen_groups(len(self._epoch_ends), len(self._layer_groups))
            for position, index in enumerate(self._layer_groups):
                flags[index] = position >= len(self._layer_groups) - top
        return flags

    # ----------------------------------------------------------------- trainer API
    def step_batch(self, batch_num_total: Optional[int] = None) -> None:
        """Set the learning rates for update `batch_num_total` (1-based, called before it)."""
        if batch_num_total is None:
            self._updates += 1
            if self._offset is None:
                self._offset = 0
        else:
            if self._offset is None:
                # A later phase of `combined` sees the trainer's global count.
                self._offset = max(0, batch_num_total - 1)
            self._updates = batch_num_total - self._offset
        # `_apply_rates`, inlined: this runs before every optimizer update.
        field = self.param_group_field
        for group, lr in zip(self.optimizer.param_groups, self.get_values()):
            group[field] = lr

    def step(self, metric: Optional[float] = None) -> None:
        """Mark the end of an epoch; with gradual unfreezing, unfreeze the next group."""
        last_end = self._epoch_ends[-1] if self._epoch_ends else 0
        if self._updates <= last_end:
            # No update since the last epoch end: `combined` steps a phase right after
            # building it. Not an epoch of ours.
            return
        self._epoch_ends.append(self._updates)
        self._plan = None
        self.last_epoch += 1
        if self.gradual_unfreezing and len(self._epoch_ends) <= self.freezing_epochs:
            self._apply_freezing()
            self._log_groups(f"epoch {len(self._epoch_ends)}")

    def state_dict(self) -> Dict[str, Any]:
        """The progress counters (independent copies); hyperparameters come from the config."""
        return {
            "format": STATE_FORMAT,
            "updates": self._updates,
            "offset": self._offset,
            "epoch_ends": list(self._epoch_ends),
        }

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """
        Restore progress from `state_dict()`, or from a checkpoint of AllenNLP's built-in
        scheduler, then re-apply the learning rates and the freezing of the current epoch.
        """
        if state_dict.get("format") == STATE_FORMAT:
            updates, offset = state_dict["updates"], state_dict["offset"]
            epoch_ends = list(state_dict["epoch_ends"])
        elif "batch_num_total_epoch_end" in state_dict:
            # The built-in's list starts with a 0 for its constructor's own `step()`.
            updates, offset = max(0, state_dict["last_batch_num_total"]), 0
            epoch_ends = list(state_dict["batch_num_total_epoch_end"][1:])
        else:
            raise ConfigurationError(
                "slanted_triangular: the checkpoint's learning_rate_scheduler state was not "
                f"written by a slanted_triangular scheduler (keys {sorted(state_dict)}). "
                "Recover with the scheduler the run was started with, or start a new run."
            )
        self._updates, self._offset, self._epoch_ends = updates, offset, epoch_ends
        self._plan = None
        self.last_epoch = len(epoch_ends)
        self._apply_freezing()
        self._apply_rates()
        self._log_groups(f"resumed after update {updates}")

    # ----------------------------------------------------------------- helpers
    def _apply_rates(self) -> None:
        field = self.param_group_field
        for group, lr in zip(self.optimizer.param_groups, self.get_values()):
            group[field] = lr

    def _apply_freezing(self) -> None:
        if not self.gradual_unfreezing:
            return
        for group, flag in zip(self.optimizer.param_groups, self.trainable()):
            for param in group["params"]:
                param.requires_grad = flag

    def _log_groups(self, when: str) -> None:
        peak = self.base_values
        flags = self.trainable()
        lines = [
            f"slanted_triangular layer groups ({when}):",
            "  group      params      peak lr  state      name",
        ]
        for index, group in enumerate(self.optimizer.param_groups):
            state = "trainable" if flags[index] else "frozen"
            # torch keeps extra keys of a param group, so the config's group options can
            # carry a "name" (configs/stlr.libsonnet and `stlr-preview --suggest-groups` do).
            name = group.get("name", "")
            lines.append(
                f"  {index:>5}  {_group_size(group):>10}  {peak[index]:>11.4g}  {state:<9}  {name}"
            )
        logger.info("\n".join(lines))


def _group_size(group: Dict[str, Any]) -> int:
    return sum(param.numel() for param in group["params"])
