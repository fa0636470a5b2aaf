"""
`SlantedTriangular`: the AllenNLP `LearningRateScheduler` registered as "slanted_triangular".

It asks `allennlp_stlr.schedule` for the fraction of each update (that module's docstring
names the schedule's concepts) and applies the learning rates and gradual unfreezing's
`requires_grad` flags to the optimizer. Its own concepts, one sentence each:

9. The progress counters are the whole state: the updates applied, the update count at each
   epoch end, and the base rates they scale; rates, flags and plans follow from them and the
   config, so a checkpoint holds only them (`allennlp_stlr.checkpoint`).
10. The trainer's call order: `step_batch` counts update `t` and sets the rates it uses, before
    it; `step` records an epoch end, and a `step` with no update since the last is no epoch.
11. When a stage begins (and after a checkpoint is loaded), `requires_grad` is set for the
    layers that stage trains (`freezing.apply`).
12. A cache for speed: the `schedule.plan` is kept until an epoch end changes
    `schedule.plan_key`, or, while the first epoch runs, the update count passes its
    `valid_through`.

Elsewhere: layer groups and their labels (`layers`), the checks (`checks`), the workers'
agreement on the epoch length (`distributed`), the checkpoint's formats and guards
(`checkpoint`), the built-in's readable attributes (`builtin_compat`).
"""
import inspect
import logging
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.training.learning_rate_schedulers.learning_rate_scheduler import (
    LearningRateScheduler,
)
from allennlp.training.learning_rate_schedulers.slanted_triangular import (
    SlantedTriangular as BuiltinSlantedTriangular,
)

from allennlp_stlr import checkpoint, checks, freezing, schedule
from allennlp_stlr.builtin_compat import BuiltinAttributes
# Older checkpoints pickled the guards as `allennlp_stlr.scheduler.RequiresPlugin`.
from allennlp_stlr.checkpoint import RequiresPlugin  # noqa: F401
from allennlp_stlr.layers import label_groups, layers_of
from allennlp_stlr.distributed import (
    agree_on_steps_per_epoch,
    require_unused_parameter_detection,
)

logger = logging.getLogger(__name__)


class SlantedTriangular(BuiltinAttributes, BuiltinSlantedTriangular):
    """
    Implements the Slanted Triangular Learning Rate schedule (Howard & Ruder, 2018) with
    optional gradual unfreezing and discriminative fine-tuning. The learning rate rises
    linearly from `base / ratio` to `base` over the first `cut_frac` of the updates and
    then falls linearly back to `base / ratio` at the last update `T`, where `t` is the 1-based
    number of the optimizer update (`step_batch` is called before update `t`); `cut_frac = 0`
    means no warm-up, as AllenNLP's built-in. The formula is written out once, in
    docs/schedule.md#the-formula, and the call order in docs/internals.md#the-call-order-contract.

    With gradual unfreezing, the layer groups are unfrozen from the top, one per stage, and
    each stage runs its own triangle; once every group is unfrozen, one triangle spans the
    remaining updates. A stage is one epoch (AllenNLP's rule, the default) or, with
    `unfreeze_every_num_updates = N`, N optimizer updates: stage k is updates kN+1 .. (k+1)N,
    so unfreezing fits in a fraction of an epoch. With discriminative fine-tuning, each
    non-empty layer group's base rate is `decay_factor` times the one above it.

    Layer groups are the optimizer's `parameter_groups`, bottom layer first, followed by
    AllenNLP's default group for unmatched parameters (which must be empty with gradual
    unfreezing; with discriminative fine-tuning alone it is the top group). Param groups
    whose options share a `name` are one layer (e.g. a layer's weights with weight decay and
    its biases and LayerNorm weights without): they unfreeze together and share one
    discriminative factor, and each keeps its own optimizer options. Layers are ordered by
    their first group; every group without a shared name is a layer of its own.

    When `num_steps_per_epoch` is unknown (a data loader without a length), the first epoch
    warms up along `1 - 1/sqrt(t)` of the way to the peak, and the rest of the triangle is
    planned from that epoch's length once it ends. When an epoch's length moves the planned
    end (unknown or misconfigured `num_steps_per_epoch`, varying epoch lengths), the rest is
    re-planned from where the rate stands, rising no faster than a warm-up does.

    Note that with this schedule, early stopping should typically be avoided.

    Registered as a `LearningRateScheduler` with name "slanted_triangular", replacing
    AllenNLP's built-in class of that name, and reachable without a plugins file as
    `"type": "allennlp_stlr.SlantedTriangular"`. It is a subclass of the built-in, so that
    code checking `isinstance(scheduler, allennlp...SlantedTriangular)` accepts it, but it
    overrides every method the built-in defines and never runs the built-in's constructor.

    # Parameters

    optimizer : `torch.optim.Optimizer`
        This argument does not get an entry in a configuration file for the object.
    num_epochs : `int`
        The total number of epochs for which the model should be trained.
    num_steps_per_epoch : `Optional[int]`, optional (default = `None`)
        The number of steps (optimizer updates) per training epoch. The trainer passes the
        data loader's length (divided by gradient accumulation steps) when it is known; a
        value written in the config wins over it, so leave it out.
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
        The factor (at most 1) by which the learning rate is reduced with discriminative
        fine-tuning when going a layer deeper.
    unfreeze_every_num_updates : `Optional[int]`, optional (default = `None`)
        With gradual unfreezing, unfreeze the next layer group every this many optimizer
        updates instead of at every epoch end.

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
        unfreeze_every_num_updates: Optional[int] = None,
    ) -> None:
        checks.check_hyperparameters(
            num_epochs,
            num_steps_per_epoch,
            cut_frac,
            ratio,
            last_epoch,
            discriminative_fine_tuning,
            decay_factor,
            gradual_unfreezing,
        )
        checks.check_unfreezing_interval(unfreeze_every_num_updates, gradual_unfreezing)
        sizes = [_group_size(group) for group in optimizer.param_groups]
        names = [group.get("name") for group in optimizer.param_groups]
        # One label per group, as everywhere else (log, messages, trace, preview).
        self._labels = label_groups(names)
        # Bottom first, each the indices of its param groups.
        self._layers = layers_of(sizes, names, gradual_unfreezing)
        checks.check_layer_groups(
            sizes,
            gradual_unfreezing,
            discriminative_fine_tuning,
            self._labels,
            self._layers,
            [tuple(param.shape) for param in optimizer.param_groups[-1]["params"]],
        )
        # Not the built-in's constructor, which would schedule and freeze by its own rules.
        LearningRateScheduler.__init__(self, optimizer, last_epoch)
        self.last_epoch = last_epoch + 1

        self.num_epochs = num_epochs
        self.num_steps_per_epoch = agree_on_steps_per_epoch(num_steps_per_epoch)
        self.cut_frac = cut_frac
        self.ratio = ratio
        self.gradual_unfreezing = gradual_unfreezing
        self.discriminative_fine_tuning = discriminative_fine_tuning
        self.decay_factor = decay_factor
        self.unfreeze_every_num_updates = unfreeze_every_num_updates
        if gradual_unfreezing:
            checks.check_stages_fit(
                num_epochs,
                self.num_steps_per_epoch,
                len(self._layers),
                unfreeze_every_num_updates,
            )
        self.stages = schedule.Stages(
            len(self._layers) - 1 if gradual_unfreezing else 0, unfreeze_every_num_updates
        )
        self._unfreeze_after = self.stages.begin_after_updates()
        self._factors = [1.0] * len(sizes)
        if discriminative_fine_tuning:
            factors = schedule.discriminative_factors(
                [any(sizes[i] for i in layer) for layer in self._layers], decay_factor
            )
            for layer, factor in zip(self._layers, factors):
                for index in layer:
                    self._factors[index] = factor
        checks.warn_unknown_epoch_length(self.num_steps_per_epoch)

        # The progress counters and the rates they scale: all the state there is.
        self._updates = 0  # updates of this schedule so far (t)
        self._epoch_ends: List[int] = []  # value of t at the end of each completed epoch
        self._set_bases([float(base) for base in self.base_values])
        # Derived from the counters, not state: worked out again when an epoch end changes
        # what it depends on (`schedule.plan_key`).
        self._plan: Optional[schedule.Plan] = None
        self._plan_key: Optional[Tuple[Any, ...]] = None

        self._apply_freezing()
        if gradual_unfreezing:
            require_unused_parameter_detection(self.optimizer)
        self._apply_rates()
        self._log_groups("start")

    @classmethod
    def from_params(  # type: ignore[override]
        cls,
        params: Params,
        constructor_to_call: Optional[Callable[..., Any]] = None,
        constructor_to_inspect: Optional[Callable[..., Any]] = None,
        **extras: Any,
    ) -> "SlantedTriangular":
        """
        `FromParams.from_params`, after checks that need the config's own values: AllenNLP
        turns `true` into 1 for an `int` setting, and reports a misspelled key without a hint.
        The trainer passes its `num_epochs` and `num_steps_per_epoch` as `extras`; where the
        block has its own, that one wins, and a warning says what it does to the schedule
        (instead of AllenNLP's generic line about a key found in both). A `ConfigurationError`
        is logged before it is raised (`checks.report`).
        """
        block = dict(params.as_dict(quiet=True))  # a copy: constructing pops its keys
        passed = {key: extras.pop(key) for key in _FROM_TRAINER if key in block and key in extras}
        try:
            checks.check_config_block(block, SETTINGS)
            scheduler = super().from_params(  # type: ignore[misc]
                params=params,
                constructor_to_call=constructor_to_call,
                constructor_to_inspect=constructor_to_inspect,
                **extras,
            )
        except ConfigurationError as error:
            checks.report(error)
            raise
        checks.trainer_mismatch_warnings(
            block,
            passed,
            scheduler.num_steps_per_epoch,
            scheduler.cut_frac,
            scheduler.ratio,
            scheduler.stages,
        )
        return scheduler

    # ----------------------------------------------------------------- derived values
    def get_values(self) -> List[float]:
        """The learning rate of each param group for the current update."""
        plan = self._plan
        if plan is None or (self._updates > plan.valid_through and not self._epoch_ends):
            plan = self._plan = schedule.plan(
                self._updates,
                self._epoch_ends,
                self.num_epochs,
                self.num_steps_per_epoch,
                self.cut_frac,
                self.stages,
            )
            self._plan_key = self._key()
        # `base * rise / ratio` is the built-in's order of operations: equal floats.
        ratio = self.ratio
        rise = 1 + plan.at(self._updates) * (ratio - 1)
        return [base * rise / ratio for base in self.base_values]

    def trainable(self) -> List[bool]:
        """Whether each param group trains in the next update."""
        flags = [True] * len(self.optimizer.param_groups)
        count = len(self._layers)
        trained = self.stages.trained_layers(self._stage_of_next_update(), count)
        for position, layer in enumerate(self._layers):
            for index in layer:
                flags[index] = position >= count - trained
        return flags

    # ----------------------------------------------------------------- trainer API
    def step_batch(self, batch_num_total: Optional[int] = None) -> None:
        """
        Set the learning rates for the next update (called before it). Updates are counted
        here: the trainer's `batch_num_total` differs between distributed workers after
        `--recover`, and a later phase of `combined` sees the run's global count.
        """
        self._updates += 1
        self._apply_rates()
        if self._updates in self._unfreeze_after:
            # requires_grad must be set before the next update's backward pass, which comes
            # before the next `step_batch`.
            self._apply_freezing()
            self._log_groups(f"after update {self._updates}")

    def step(self, metric: Optional[float] = None) -> None:
        """Mark the end of an epoch; with gradual unfreezing, unfreeze the next group."""
        last_end = self._epoch_ends[-1] if self._epoch_ends else 0
        if self._updates <= last_end:
            # No update since the last epoch end: `combined` steps a phase right after
            # building it. Not an epoch of ours.
            return
        stage = self._stage_of_next_update()
        self._epoch_ends.append(self._updates)
        if self._key() != self._plan_key:
            self._plan = None
        self.last_epoch += 1
        if len(self._epoch_ends) == 1:
            checks.check_first_epoch(
                self.num_epochs,
                self.num_steps_per_epoch,
                self._updates,
                len(self._layers),
                self.gradual_unfreezing,
                self.unfreeze_every_num_updates,
            )
        if self._stage_of_next_update() != stage:
            self._apply_freezing()
            self._log_groups(f"epoch {len(self._epoch_ends)}")

    def state_dict(self) -> Dict[str, Any]:
        """
        The progress counters and the base rates (independent copies): other hyperparameters
        come from the config. The base rates are kept because inside AllenNLP's `combined`
        scheduler they are the rates at the start of the phase, which the config does not
        hold and `combined` overwrites when it rebuilds the phase on `--recover`.
        """
        return checkpoint.state_dict(self._updates, self._epoch_ends, self._bases)

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """
        Restore progress from `state_dict()`, or from a checkpoint of AllenNLP's built-in
        scheduler, then re-apply the learning rates and the freezing of the current stage.
        """
        progress = checkpoint.read(state_dict)
        if progress.base_lrs is not None:
            self._set_bases(progress.base_lrs)
        self._updates, self._epoch_ends = progress.updates, progress.epoch_ends
        self._plan = None
        self.last_epoch = len(self._epoch_ends)
        self._apply_freezing()
        self._apply_rates()
        self._log_groups(f"resumed after update {self._updates}")

    # ----------------------------------------------------------------- helpers
    def _key(self) -> Tuple[Any, ...]:
        return schedule.plan_key(
            self._updates, self._epoch_ends, self.num_steps_per_epoch, self.stages
        )

    def _stage_of_next_update(self) -> int:
        """The stage of update `updates + 1`: `requires_grad` is set for the next backward."""
        return self.stages.of_update(self._updates + 1, self._epoch_ends)

    def _set_bases(self, bases: List[float]) -> None:
        self._bases = bases
        self.base_values = [base * factor for base, factor in zip(bases, self._factors)]
        for group, base in zip(self.optimizer.param_groups, bases):
            group[self._initial_param_group_field] = base

    def _apply_rates(self) -> None:
        field = self.param_group_field
        for group, lr in zip(self.optimizer.param_groups, self.get_values()):
            group[field] = lr

    def _apply_freezing(self) -> None:
        # Without gradual unfreezing every parameter the optimizer holds trains: a phase of
        # `combined` after a gradually unfrozen one must not inherit its frozen groups.
        # (Parameters the config sets to `requires_grad: false` are not in the optimizer.)
        freezing.apply(self.optimizer.param_groups, self.trainable())

    def _log_groups(self, when: str) -> None:
        peak = self.base_values
        flags = self.trainable()
        lines = [
            f"slanted_triangular layer groups ({when}):",
            "  group      params      peak lr  state      name",
        ]
        for index, group in enumerate(self.optimizer.param_groups):
            state = "trainable" if flags[index] else "frozen"
            label = self._labels[index]
            lines.append(
                f"  {index:>5}  {_group_size(group):>10}  {peak[index]:>11.4g}  {state:<9}  {label}"
            )
        logger.info("\n".join(lines))


# The settings a config block can hold: the constructor's own parameters, in order.
SETTINGS: Tuple[str, ...] = tuple(
    name for name in inspect.signature(SlantedTriangular.__init__).parameters
    if name not in ("self", "optimizer")
)

# What the trainer passes besides the optimizer, and a config block may set too.
_FROM_TRAINER = ("num_epochs", "num_steps_per_epoch")


def _group_size(group: Dict[str, Any]) -> int:
    return sum(param.numel() for param in group["params"])
