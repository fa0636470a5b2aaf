"""
The learning-rate range test on an experiment: build its model, data, optimizer and
scheduler as `allennlp train` does, then train for a few steps while the peak rate grows
exponentially, recording the loss at each step, and leave everything as it was.

What is swept is the value of `trainer.optimizer.lr`. Each param group runs at its own peak
rate scaled by one multiplier, the swept value over the configured one: the scheduler's
peak rates (`base_values`: with `slanted_triangular`, the discriminative factors included)
or, with any other scheduler, the rates the groups were configured with. So a group with an
`lr` of its own, or a discriminative factor, keeps its ratio to the top.

Which groups train (`TRAIN_MODES`): by default all the layers the config trains, that is the
layers of the last stage of gradual unfreezing, in which the top group's peak rate is the
same as in the first stage and every layer moves; `first-stage` trains only the groups the
first stage trains (the top one under gradual unfreezing), as fastai's `lr_find` on a
frozen body does. README.md ("Find the peak learning rate") says why `all` is the default,
with a measurement.
"""
import copy
import math
import random
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List

import numpy
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.common.util import lazy_groups_of
from allennlp.data import DataLoader, TensorDict
from allennlp.training import GradientDescentTrainer, Trainer

from allennlp_stlr import freezing, layers
from allennlp_stlr.scheduler import SlantedTriangular
from allennlp_stlr.tools.failures import building
from allennlp_stlr.tools.find_lr import rules
from allennlp_stlr.tools.model import build_model
from allennlp_stlr.tools.preview.experiment import NeedsLayerGroups, optimizer_block, workers

ALL = "all"
FIRST_STAGE = "first-stage"
TRAIN_MODES = (ALL, FIRST_STAGE)


class Distributed(ConfigurationError):
    """The experiment trains on several workers; the sweep runs in one process."""


class CurveTooShort(ConfigurationError):
    """The loss diverged before the sweep left the part of the curve the rules skip."""


@dataclass
class Settings:
    """How the sweep runs (fastai's `lr_find` defaults)."""

    start_lr: float = 1e-7  # first value of trainer.optimizer.lr
    end_lr: float = 10.0  # last value, unless the loss diverges before
    num_steps: int = 100  # optimizer updates planned
    smoothing: float = 0.98  # beta of the loss's moving average
    stopping_factor: float = 4.0  # stop once the smoothed loss exceeds this times its lowest
    train: str = ALL  # which groups train: one of TRAIN_MODES

    def check(self) -> None:
        """Values the sweep cannot run with are `ConfigurationError`s naming the option."""
        if not 0 < self.start_lr < self.end_lr or not math.isfinite(self.end_lr):
            raise ConfigurationError(
                f"stlr-find-lr: --start-lr ({self.start_lr:g}) and --end-lr ({self.end_lr:g}) "
                "must be finite rates with 0 < start < end."
            )
        if self.num_steps < 20:
            raise ConfigurationError(
                f"stlr-find-lr: --num-steps is {self.num_steps}; use at least 20 (the rules "
                "skip the first tenth and the last 5 steps of the curve)."
            )
        if not 0 <= self.smoothing < 1:
            raise ConfigurationError(
                f"stlr-find-lr: --smoothing is {self.smoothing:g}; it must be in [0, 1)."
            )
        if not self.stopping_factor > 1:
            raise ConfigurationError(
                f"stlr-find-lr: --stopping-factor is {self.stopping_factor:g}; it must be "
                "greater than 1."
            )
        if self.train not in TRAIN_MODES:
            raise ConfigurationError(
                f"stlr-find-lr: --train is {self.train!r}; use one of {', '.join(TRAIN_MODES)}."
            )


@dataclass
class Sweep:
    """What the sweep recorded, step by step."""

    labels: List[str]  # each param group's label (layers.label_groups)
    factors: List[float]  # each group's rate over the swept trainer.optimizer.lr
    trained: List[bool]  # whether each group trained
    sizes: List[int]  # each group's number of parameters
    planned_steps: int
    rates: List[float] = field(default_factory=list)  # trainer.optimizer.lr at each step
    losses: List[float] = field(default_factory=list)
    smoothed: List[float] = field(default_factory=list)
    diverged: bool = False

    def group_rates(self, step: int) -> List[float]:
        """The rate each param group trained with at `step`."""
        return [self.rates[step] * factor for factor in self.factors]

    def suggestions(self) -> Dict[str, float]:
        """Every rule's suggestion, from the part of the curve fastai's rules read."""
        rates, losses = rules.trimmed(self.rates, self.smoothed, self.planned_steps)
        if len(losses) < 2:
            raise CurveTooShort(
                f"stlr-find-lr: the loss diverged at step {len(self.losses)} of "
                f"{self.planned_steps} (lr {self.rates[-1]:.3g}), before the rules have a curve "
                "to read."
            )
        return {name: rule(rates, losses) for name, rule in rules.RULES.items()}


def build_trainer(params: Params, serialization_dir: str) -> GradientDescentTrainer:
    """
    The trainer of the experiment `params`, with its model, training data, optimizer and
    scheduler, built as `allennlp train` builds them (`build_model`, then AllenNLP's
    `Trainer.from_params`); the trainer writes nothing until it trains.
    """
    config = params.as_dict(quiet=True)
    count = workers(config)
    if count > 1:
        raise Distributed(
            f"stlr-find-lr: the config trains distributed (`distributed` starts {count} "
            "workers), and the sweep runs in one process, as AllenNLP's find-lr does."
        )
    with building(config, True):
        model, loader = build_model(params)
    trainer_params = params.duplicate().pop("trainer", Params({}))
    try:
        trainer = Trainer.from_params(
            params=trainer_params,
            model=model,
            serialization_dir=serialization_dir,
            data_loader=loader,
        )
    except ConfigurationError as error:
        # As the preview says it: a layered schedule over an optimizer with no layer groups.
        scheduler = config.get("trainer", {}).get("learning_rate_scheduler") or {}
        layered = scheduler.get("gradual_unfreezing") or scheduler.get("discriminative_fine_tuning")
        if layered and not optimizer_block(config).get("parameter_groups"):
            raise NeedsLayerGroups(str(error)) from error
        raise
    if not isinstance(trainer, GradientDescentTrainer):
        raise ConfigurationError(
            f"stlr-find-lr: the trainer is a {type(trainer).__name__}; the sweep needs AllenNLP's "
            'GradientDescentTrainer (`trainer.type` "gradient_descent", the default).'
        )
    return trainer


def swept_lr(optimizer: torch.optim.Optimizer) -> float:
    """The configured `trainer.optimizer.lr` (or the optimizer's default): what is swept."""
    value = optimizer.defaults.get("lr")
    if not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(
            f"stlr-find-lr: the optimizer's lr is {value!r}; set `trainer.optimizer.lr` to a "
            "positive rate (its value only sets the groups' ratios here)."
        )
    return float(value)


def peak_rates(trainer: GradientDescentTrainer) -> List[float]:
    """Each param group's configured peak rate: our scheduler's base values (discriminative
    factors included), else the rate each group had before the scheduler changed it."""
    scheduler = trainer._learning_rate_scheduler
    if isinstance(scheduler, SlantedTriangular):
        return [float(value) for value in scheduler.base_values]
    return [float(group.get("initial_lr", group["lr"])) for group in trainer.optimizer.param_groups]


def trained_groups(trainer: GradientDescentTrainer, train: str) -> List[bool]:
    """Which param groups the sweep trains: every one, or those of the first stage of our
    scheduler's gradual unfreezing (its constructor has just set them)."""
    scheduler = trainer._learning_rate_scheduler
    if train == FIRST_STAGE and isinstance(scheduler, SlantedTriangular):
        return scheduler.trainable()
    return [True] * len(trainer.optimizer.param_groups)


def sweep(trainer: GradientDescentTrainer, settings: Settings) -> Sweep:
    """
    The range test on `trainer` (`prepare`, then `train`); afterwards the model's weights,
    `requires_grad` flags, gradients and train/eval modes, the optimizer's state and rates,
    and the random number generators are as they were.
    """
    result = prepare(trainer, settings)
    with kept_as_it_was(trainer._pytorch_model, trainer.optimizer):
        train(trainer, settings, result)
    return result


def prepare(trainer: GradientDescentTrainer, settings: Settings) -> Sweep:
    """What the sweep will do, before it trains: each group's label, its ratio to the swept
    trainer.optimizer.lr, and whether it trains."""
    settings.check()
    optimizer = trainer.optimizer
    reference = swept_lr(optimizer)
    return Sweep(
        labels=layers.label_groups([group.get("name") for group in optimizer.param_groups]),
        factors=[peak / reference for peak in peak_rates(trainer)],
        trained=trained_groups(trainer, settings.train),
        sizes=[sum(param.numel() for param in group["params"]) for group in optimizer.param_groups],
        planned_steps=settings.num_steps,
    )


def train(trainer: GradientDescentTrainer, settings: Settings, result: Sweep) -> None:
    """
    Train `trainer`'s model in place for up to `settings.num_steps` optimizer updates as the
    trainer does (its batches, gradient accumulation, gradient norm and clipping), only the
    groups `result.trained` names, trainer.optimizer.lr growing exponentially from `start_lr`
    to `end_lr`; record each step in `result`, and stop when the smoothed loss diverges.
    """
    optimizer = trainer.optimizer
    freezing.apply(optimizer.param_groups, result.trained)
    trainer._pytorch_model.train()
    groups = batch_groups(trainer.data_loader, trainer._num_gradient_accumulation_steps)
    for rate in rules.exponential_rates(settings.start_lr, settings.end_lr, settings.num_steps):
        for group, factor in zip(optimizer.param_groups, result.factors):
            group["lr"] = rate * factor
        optimizer.zero_grad()
        batch_group = next(groups)
        loss = 0.0
        for batch in batch_group:
            part = trainer.batch_outputs(batch, for_training=True)["loss"] / len(batch_group)
            part.backward()
            loss += part.item()
        result.rates.append(rate)
        result.losses.append(loss)
        result.smoothed = rules.smoothed(result.losses, settings.smoothing)
        if rules.diverged(result.smoothed, settings.stopping_factor):
            result.diverged = True
            return
        trainer.rescale_gradients()
        trainer.clip_gradient()
        optimizer.step()


def batch_groups(loader: DataLoader, size: int) -> Iterator[List[TensorDict]]:
    """The loader's batches in groups of `size` (one optimizer update each, as the trainer
    groups them), epoch after epoch."""
    while True:
        empty = True
        for group in lazy_groups_of(iter(loader), size):
            empty = False
            yield group
        if empty:
            raise ConfigurationError("stlr-find-lr: the training data gave no batches.")


@contextmanager
def kept_as_it_was(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> Iterator[None]:
    """Put back, on leaving, everything training changes: weights and buffers,
    `requires_grad` flags and gradients, train/eval modes, the optimizer's state and param
    group values, and the random number generators (batch order, dropout)."""
    weights = copy.deepcopy(model.state_dict())
    parameters: List[Any] = [
        (param, param.requires_grad, None if param.grad is None else param.grad.clone())
        for param in model.parameters()
    ]
    modes = [(module, module.training) for module in model.modules()]
    optimizer_state = copy.deepcopy(optimizer.state_dict())
    generators = (random.getstate(), numpy.random.get_state(), torch.get_rng_state())
    try:
        yield
    finally:
        model.load_state_dict(weights)
        optimizer.load_state_dict(optimizer_state)
        for param, requires_grad, grad in parameters:
            param.requires_grad = requires_grad
            param.grad = grad
        for module, training in modes:
            module.training = training
        random.setstate(generators[0])
        numpy.random.set_state(generators[1])
        torch.set_rng_state(generators[2])
