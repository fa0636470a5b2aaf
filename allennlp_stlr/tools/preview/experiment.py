"""
What a slanted triangular schedule depends on, read from an experiment's `Params` the way
`allennlp train` reads them: run length, updates per epoch, the optimizer's param groups
(with their parameter counts once the model is built) and the scheduler block.
"""
import copy
import inspect
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import DataLoader
from allennlp.models import Model
from allennlp.training import Trainer
from allennlp.training.learning_rate_schedulers import LearningRateScheduler
from allennlp.training.optimizers import Optimizer, make_parameter_groups
from allennlp.training.util import data_loaders_from_params

from allennlp_stlr import layers
from allennlp_stlr.scheduler import SlantedTriangular
from allennlp_stlr.tools.failures import building
from allennlp_stlr.tools.model import build_model, build_model_without_data
from allennlp_stlr.tools.preview.counting import count_updates



@dataclass
class GroupSpec:
    """One param group of the optimizer as the trainer would build it."""

    name: Optional[str]
    regexes: Tuple[str, ...]  # empty for AllenNLP's default group
    lr: float
    num_parameters: Optional[int]  # None when the model was not built
    parameter_names: Optional[Tuple[str, ...]] = None  # None when the model was not built


@dataclass
class Experiment:
    """Everything the schedule depends on, read from an experiment config."""

    num_epochs: int  # epochs the trainer runs
    updates_per_epoch: int  # optimizer updates each epoch really runs (per worker)
    passed_steps_per_epoch: Optional[int]  # what the scheduler's constructor gets
    steps_source: str  # where `updates_per_epoch` came from
    groups: List[GroupSpec]
    scheduler: Dict[str, Any]  # the `learning_rate_scheduler` block
    parameter_names: Optional[List[str]]  # trainable parameters, when the model was built
    config: Dict[str, Any]  # the whole experiment, overrides applied
    workers: int = 1  # distributed workers (cuda_devices x num_nodes)
    # Vocabulary namespaces the model's sizes come from, when they kept it from being built
    # without the data (--steps-per-epoch reads none).
    sized_by_data: Tuple[str, ...] = ()

    @property
    def layered(self) -> bool:
        """Whether the scheduler treats param groups as layers."""
        return bool(
            self.scheduler.get("gradual_unfreezing")
            or self.scheduler.get("discriminative_fine_tuning")
        )

    @property
    def configured_steps_per_epoch(self) -> Optional[int]:
        return self.scheduler.get("num_steps_per_epoch")

    @property
    def has_parameter_groups(self) -> bool:
        return len(self.groups) > 1


def group_labels(groups: Sequence[GroupSpec]) -> List[str]:
    """Each group's label, as training gives it (`layers.label_groups`)."""
    return layers.label_groups([group.name for group in groups])


def unmatched_regexes(experiment: Experiment, shown: int = 6) -> Optional[str]:
    """
    The `parameter_groups` regexes that match no parameter of the built model, each with
    its group, and the parameters AllenNLP's default group then holds, which are what a
    misspelled regex was meant for (at most `shown` names). None when every regex matches
    or the model was not built.
    """
    names = experiment.parameter_names
    if names is None:
        return None
    if experiment.workers > 1:
        # Distributed training sees the names under DistributedDataParallel's `module.`.
        names = [f"module.{name}" for name in names]
    labels = group_labels(experiment.groups)
    missed = [
        f"`{regex}` (group {index}, {labels[index]})"
        for index, group in enumerate(experiment.groups)
        for regex in group.regexes
        if not any(re.search(regex, name) for name in names)  # AllenNLP's own test
    ]
    if not missed:
        return None
    message = (
        f"parameter_groups regex(es) matching no parameter of the model: "
        f"{'; '.join(missed)}."
    )
    default = experiment.groups[-1].parameter_names or ()
    if default:
        more = f" and {len(default) - shown} more" if len(default) > shown else ""
        message += (
            f" AllenNLP's default group ({labels[-1]}) holds the {len(default)} parameter tensor(s) "
            f"that no regex matches: {', '.join(default[:shown])}{more}."
        )
    return message


class NeedsLayerGroups(ConfigurationError):
    """Gradual unfreezing or discriminative fine-tuning over an optimizer with no layer groups."""


def build_train_loader(params: Params) -> DataLoader:
    """The training data loader alone: counting updates needs no vocabulary or model."""
    return data_loaders_from_params(params.duplicate(), validation=False, test=False)["train"]


def trainer_default(config: Dict[str, Any], argument: str) -> Any:
    """The default of a trainer argument, from the constructor AllenNLP builds the trainer with."""
    name = config.get("trainer", {}).get("type") or Trainer.default_implementation
    trainer_class, constructor = Trainer.resolve_class_name(name)
    signature = inspect.signature(getattr(trainer_class, constructor or "__init__"))
    return signature.parameters[argument].default


def workers(config: Dict[str, Any]) -> int:
    """Processes of distributed training (1 without it), as `allennlp train` starts them."""
    distributed = config.get("distributed") or {}
    devices = distributed.get("cuda_devices") or []
    nodes = distributed.get("num_nodes", 1)
    if len(devices) > 1 or nodes > 1:
        return max(1, len(devices)) * nodes
    return 1


def optimizer_block(config: Dict[str, Any]) -> Dict[str, Any]:
    optimizer = config.get("trainer", {}).get("optimizer", {})
    return {"type": optimizer} if isinstance(optimizer, str) else optimizer


def _optimizer_lr(optimizer: Dict[str, Any]) -> float:
    if "lr" in optimizer:
        return float(optimizer["lr"])
    name = optimizer.get("type", Optimizer.default_implementation)
    default = inspect.signature(Optimizer.by_name(name).__init__).parameters.get("lr")
    if default is None or default.default is inspect.Parameter.empty:
        raise ConfigurationError(
            f"stlr-preview: the optimizer {name!r} has no default `lr`; set `trainer.optimizer.lr`."
        )
    return float(default.default)


def scheduler_block(config: Dict[str, Any]) -> Dict[str, Any]:
    """The `learning_rate_scheduler` block, if it is served by this package's scheduler."""
    block = config.get("trainer", {}).get("learning_rate_scheduler")
    if not block:
        raise ConfigurationError(
            "stlr-preview: the config has no `trainer.learning_rate_scheduler`; add "
            '{"type": "slanted_triangular"} to preview it.'
        )
    name = block.get("type", LearningRateScheduler.default_implementation)
    served = LearningRateScheduler.by_name(name) if name else None
    if not (isinstance(served, type) and issubclass(served, SlantedTriangular)):
        raise ConfigurationError(
            f"stlr-preview: `trainer.learning_rate_scheduler.type` is {name!r}, which is not "
            "served by allennlp_stlr's SlantedTriangular; set it to \"slanted_triangular\" "
            "(and list allennlp_stlr in .allennlp_plugins)."
        )
    return block


def read_experiment(
    params: Params, steps_per_epoch: Optional[int] = None, build: Optional[bool] = None
) -> Experiment:
    """
    Read what the schedule depends on from `params`. `steps_per_epoch` stands for the
    number of updates per epoch each worker makes, instead of counting them from the data;
    `build` forces (or skips) building the model to count each param group's parameters
    (by default, only when the scheduler treats param groups as layers). With
    `steps_per_epoch` and the default `build`, no data is read: the model is built on an
    empty vocabulary, unless its sizes come from the vocabulary (`sized_by_data`).
    """
    config = copy.deepcopy(params.as_dict(quiet=True))
    trainer = config.get("trainer", {})
    scheduler = scheduler_block(config)
    optimizer = optimizer_block(config)
    num_epochs = trainer.get("num_epochs", trainer_default(config, "num_epochs"))
    accumulation = trainer.get(
        "num_gradient_accumulation_steps",
        trainer_default(config, "num_gradient_accumulation_steps"),
    )
    how_many = workers(config)
    layered = bool(
        scheduler.get("gradual_unfreezing") or scheduler.get("discriminative_fine_tuning")
    )
    without_data = build is None and steps_per_epoch is not None
    if build is None:
        # Layered schedules need the group sizes (empty groups change discriminative decay
        # and gradual unfreezing); the others show them, so that a regex matching nothing is
        # seen, unless --steps-per-epoch asked to do without model and data.
        build = layered or steps_per_epoch is None

    model: Optional[Model] = None
    loader: Optional[DataLoader] = None
    sized_by_data: List[str] = []
    with building(config, layered):
        if build and without_data:
            model, sized_by_data = build_model_without_data(params)
        elif build:
            model, loader = build_model(params)
        if steps_per_epoch is not None:
            updates, passed, source = steps_per_epoch, steps_per_epoch, "--steps-per-epoch"
        else:
            counted = loader if loader is not None else build_train_loader(params)
            count = count_updates(counted, accumulation, how_many)
            updates, passed, source = count.updates, count.trainer_passes, count.source
    if scheduler.get("num_steps_per_epoch") is not None:
        # A value in the scheduler block wins over the trainer's.
        passed = scheduler["num_steps_per_epoch"]

    lr = _optimizer_lr(optimizer)
    entries = [
        (tuple(regexes), options)
        for regexes, options in optimizer.get("parameter_groups") or []
        if options.get("requires_grad") is not False
    ]
    names: Optional[List[str]] = None
    sizes: List[Optional[int]] = [None] * (len(entries) + 1)
    members: List[Optional[Tuple[str, ...]]] = [None] * (len(entries) + 1)
    if model is not None:
        trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        names = [n for n, _ in trainable]
        name_of = {id(p): n for n, p in trainable}
        built = make_parameter_groups(trainable, optimizer.get("parameter_groups"))
        held = [group["params"] for group in built] if entries else [built]
        sizes = [sum(p.numel() for p in params) for params in held]
        members = [tuple(name_of[id(p)] for p in params) for params in held]
    groups = [
        GroupSpec(options.get("name"), regexes, float(options.get("lr", lr)), size, held_names)
        for (regexes, options), size, held_names in zip(entries, sizes, members)
    ]
    groups.append(
        GroupSpec(None, (), lr, sizes[-1], members[-1])
    )
    return Experiment(
        num_epochs,
        updates,
        passed,
        source,
        groups,
        scheduler,
        names,
        config,
        how_many,
        tuple(sized_by_data),
    )
