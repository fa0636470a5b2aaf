"""
`allennlp stlr-preview CONFIG`: the learning rates and trainable layer groups of a
`slanted_triangular` experiment, update by update, before training it.

The preview reads the experiment as `allennlp train` does, builds this package's
`SlantedTriangular` on a stand-in optimizer with the same param groups, and drives it in
the trainer's order (`step_batch(t)` before update `t`, `step()` at each epoch's end), so what
it shows is what training will do. It prints a table per layer group, and writes a plot
(`--plot`) and every update's rates (`--csv`) on request. With `--suggest-groups` it builds
the model and prints a `parameter_groups` block covering every trainable parameter once.

    allennlp stlr-preview fixtures/experiment.jsonnet --plot lr.png --csv lr.csv
    allennlp stlr-preview configs/transformer_classifier.jsonnet --suggest-groups
"""
import argparse
import copy
import csv
import inspect
import logging
import math
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from allennlp.commands.subcommand import Subcommand
from allennlp.common import Lazy, Params, Tqdm
from allennlp.common.checks import ConfigurationError
from allennlp.data import DataLoader, DatasetReader, Vocabulary
from allennlp.models import Model
from allennlp.training.learning_rate_schedulers import LearningRateScheduler
from allennlp.training.optimizers import Optimizer, make_parameter_groups

from allennlp_stlr import layer_groups
from allennlp_stlr.scheduler import SlantedTriangular

logger = logging.getLogger(__name__)

_DDP_SAFE_STARTS = ("^(module\\.)?", "^(?:module\\.)?", "^module\\.")


@dataclass
class GroupSpec:
    """One param group of the optimizer as the trainer would build it."""

    name: Optional[str]
    regexes: Tuple[str, ...]  # empty for AllenNLP's default group
    lr: float
    num_parameters: Optional[int]  # None when the model was not built


@dataclass
class Experiment:
    """Everything the schedule depends on, read from an experiment config."""

    num_epochs: int  # epochs the trainer runs
    updates_per_epoch: int  # optimizer updates per epoch
    passed_steps_per_epoch: Optional[int]  # what the trainer passes to the scheduler
    steps_source: str  # where `updates_per_epoch` came from
    groups: List[GroupSpec]
    scheduler: Dict[str, Any]  # the `learning_rate_scheduler` block
    parameter_names: Optional[List[str]]  # trainable parameters, when the model was built


@dataclass
class Preview:
    """The schedule as training will apply it: one row per update, one column per group."""

    experiment: Experiment
    lr: np.ndarray  # (updates, groups) learning rate of update t+1
    trainable: np.ndarray  # (updates, groups) bool
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


# ----------------------------------------------------------------------------- config
def load_params(config: str, overrides: str = "") -> Params:
    """The experiment as `allennlp train` reads it: Jsonnet, env vars as ext vars, overrides."""
    return Params.from_file(config, overrides)


def _dict(params: Params) -> Dict[str, Any]:
    return copy.deepcopy(params.as_dict(quiet=True))


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


def _scheduler_block(config: Dict[str, Any]) -> Dict[str, Any]:
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


def _needs_model(scheduler: Dict[str, Any], optimizer: Dict[str, Any]) -> bool:
    # Which groups are empty only changes the schedule when groups are layers.
    layered = scheduler.get("gradual_unfreezing") or scheduler.get("discriminative_fine_tuning")
    return bool(layered and optimizer.get("parameter_groups"))


def build_model(params: Params) -> Tuple[Model, DataLoader]:
    """
    The model and training data loader as `allennlp train` builds them: the vocabulary comes
    from the instances of the datasets named by `datasets_for_vocab_creation` (all by default).
    """
    config = _dict(params)
    reader = DatasetReader.from_params(Params(copy.deepcopy(config["dataset_reader"])))
    validation_reader = reader
    if config.get("validation_dataset_reader"):
        validation_reader = DatasetReader.from_params(
            Params(copy.deepcopy(config["validation_dataset_reader"]))
        )
    loader_config = config.get("data_loader", {})
    validation_loader_config = config.get("validation_data_loader") or loader_config

    def loader(block: Dict[str, Any], which_reader: DatasetReader, path: str) -> DataLoader:
        return DataLoader.from_params(
            Params(copy.deepcopy(block)), reader=which_reader, data_path=path
        )

    loaders = {"train": loader(loader_config, reader, config["train_data_path"])}
    if config.get("validation_data_path"):
        loaders["validation"] = loader(
            validation_loader_config, validation_reader, config["validation_data_path"]
        )
    if config.get("test_data_path"):
        loaders["test"] = loader(
            validation_loader_config, validation_reader, config["test_data_path"]
        )
    wanted = config.get("datasets_for_vocab_creation")
    instances = (
        instance
        for key, data_loader in loaders.items()
        if wanted is None or key in wanted
        for instance in data_loader.iter_instances()
    )
    vocabulary = Lazy(Vocabulary, Params(copy.deepcopy(config.get("vocabulary", {})))).construct(
        instances=instances
    )
    model = Model.from_params(
        params=Params(copy.deepcopy(config["model"])), vocab=vocabulary, serialization_dir=None
    )
    loaders["train"].index_with(model.vocab)
    return model, loaders["train"]


def _count_updates(
    params: Params, data_loader: Optional[DataLoader], accumulation: int
) -> Tuple[int, Optional[int], str]:
    """(updates per epoch, what the trainer passes the scheduler, how it was found)."""
    if data_loader is None:
        config = _dict(params)
        reader = DatasetReader.from_params(Params(copy.deepcopy(config["dataset_reader"])))
        data_loader = DataLoader.from_params(
            Params(copy.deepcopy(config.get("data_loader", {}))),
            reader=reader,
            data_path=config["train_data_path"],
        )
    try:
        batches = len(data_loader)
        updates = math.ceil(batches / accumulation)
        return updates, updates, f"{batches} batches of the training data"
    except TypeError:
        pass
    # No length (e.g. `max_instances_in_memory`): the trainer passes None, so count batches.
    if getattr(data_loader, "_vocab", None) is None:
        model, data_loader = build_model(params)
    batches = sum(1 for _ in Tqdm.tqdm(data_loader, desc="counting batches"))
    updates = math.ceil(batches / accumulation)
    return updates, None, f"{batches} batches counted (the data loader has no length)"


def read_experiment(
    params: Params, steps_per_epoch: Optional[int] = None, build: Optional[bool] = None
) -> Experiment:
    """
    Read what the schedule depends on from `params`. `steps_per_epoch` stands for the
    number of updates per epoch the trainer would measure; `build` forces (or skips)
    building the model to count each param group's parameters (by default, only when
    empty groups would change the schedule).
    """
    config = _dict(params)
    trainer = config.get("trainer", {})
    scheduler = _scheduler_block(config)
    optimizer = trainer.get("optimizer", {})
    if isinstance(optimizer, str):
        optimizer = {"type": optimizer}
    num_epochs = trainer.get("num_epochs", 20)
    accumulation = trainer.get("num_gradient_accumulation_steps", 1)
    if build is None:
        build = _needs_model(scheduler, optimizer)

    model, data_loader = build_model(params) if build else (None, None)
    if steps_per_epoch is not None:
        updates, passed, source = steps_per_epoch, steps_per_epoch, "--steps-per-epoch"
    elif scheduler.get("num_steps_per_epoch") is not None:
        updates = passed = scheduler["num_steps_per_epoch"]
        source = "the scheduler's num_steps_per_epoch"
    else:
        updates, passed, source = _count_updates(params, data_loader, accumulation)
        if accumulation > 1:
            source += f" / {accumulation} accumulation steps, rounded up"

    lr = _optimizer_lr(optimizer)
    entries = [
        (tuple(regexes), options)
        for regexes, options in optimizer.get("parameter_groups") or []
        if options.get("requires_grad") is not False
    ]
    names: Optional[List[str]] = None
    sizes: List[Optional[int]] = [None] * (len(entries) + 1)
    if model is not None:
        trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        names = [n for n, _ in trainable]
        built = make_parameter_groups(trainable, optimizer.get("parameter_groups"))
        if entries:
            sizes = [sum(p.numel() for p in group["params"]) for group in built]
        else:
            sizes = [sum(p.numel() for p in built)]
    groups = [
        GroupSpec(options.get("name"), regexes, float(options.get("lr", lr)), size)
        for (regexes, options), size in zip(entries, sizes)
    ]
    groups.append(GroupSpec("(default)" if entries else None, (), lr, sizes[-1]))
    return Experiment(num_epochs, updates, passed, source, groups, scheduler, names)


# ----------------------------------------------------------------------------- schedule
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
    return LearningRateScheduler.from_params(
        params=Params(copy.deepcopy(experiment.scheduler)),
        optimizer=optimizer,
        num_epochs=experiment.num_epochs,
        num_steps_per_epoch=experiment.passed_steps_per_epoch,
    )


def simulate(experiment: Experiment) -> Preview:
    """Drive the real scheduler through every update of the run, in the trainer's order."""
    optimizer = stand_in_optimizer(experiment.groups)
    scheduler = build_scheduler(experiment, optimizer)
    groups = optimizer.param_groups
    epochs, per_epoch = experiment.num_epochs, experiment.updates_per_epoch
    lr = np.empty((epochs * per_epoch, len(groups)))
    trainable = np.empty((epochs, len(groups)), dtype=bool)
    t = 0
    for epoch in range(epochs):
        # requires_grad only changes at construction and in step(): once per epoch is exact.
        trainable[epoch] = [all(p.requires_grad for p in g["params"]) for g in groups]
        for _ in range(per_epoch):
            t += 1
            scheduler.step_batch(t)
            lr[t - 1] = [g["lr"] for g in groups]
        scheduler.step(None)
    peak = list(scheduler.base_values)
    return Preview(
        experiment=experiment,
        lr=lr,
        trainable=np.repeat(trainable, per_epoch, axis=0),
        epoch=np.repeat(np.arange(epochs), per_epoch),
        peak=peak,
        floor=[p / scheduler.ratio for p in peak],
        settings={
            key: getattr(scheduler, key)
            for key in (
                "num_epochs",
                "num_steps_per_epoch",
                "cut_frac",
                "ratio",
                "gradual_unfreezing",
                "discriminative_fine_tuning",
                "decay_factor",
            )
        },
    )


# ----------------------------------------------------------------------------- checks
def config_warnings(params: Params, parameter_names: Optional[Sequence[str]] = None) -> List[str]:
    """Problems of a slanted triangular experiment that training would not report."""
    config = _dict(params)
    trainer = config.get("trainer", {})
    scheduler = trainer.get("learning_rate_scheduler") or {}
    optimizer = trainer.get("optimizer", {})
    optimizer = {"type": optimizer} if isinstance(optimizer, str) else optimizer
    num_epochs = trainer.get("num_epochs", 20)
    warnings = []
    if trainer.get("patience") is not None:
        warnings.append(
            f"trainer.patience = {trainer['patience']} can stop training before the slanted "
            "triangular schedule has decayed to its floor (and, with gradual unfreezing, before "
            "the lowest layers ever train): remove `trainer.patience` and pick the best epoch "
            "from the validation metrics instead."
        )
    if scheduler.get("num_epochs") not in (None, num_epochs):
        warnings.append(
            f"learning_rate_scheduler.num_epochs = {scheduler['num_epochs']} but "
            f"trainer.num_epochs = {num_epochs}: the triangle is planned for a different run "
            "length than the one trained. Remove `num_epochs` from the scheduler block so the "
            "trainer passes its own."
        )
    groups = [
        (regexes, options)
        for regexes, options in optimizer.get("parameter_groups") or []
        if options.get("requires_grad") is not False
    ]
    distributed = config.get("distributed") or {}
    if scheduler.get("gradual_unfreezing") and len(distributed.get("cuda_devices", [])) > 1:
        accelerator = distributed.get("ddp_accelerator") or {}
        if not accelerator.get("find_unused_parameters"):
            warnings.append(
                "gradual_unfreezing under distributed training freezes parameters, and "
                "DistributedDataParallel then fails on the second batch (\"Expected to have "
                "finished reduction in the prior iteration\"): set `distributed.ddp_accelerator` "
                'to {"type": "torch", "find_unused_parameters": true}.'
            )
    for regexes, _ in groups:
        for regex in regexes:
            if parameter_names is not None:
                unsafe = not layer_groups.ddp_safe(regex, parameter_names)
            else:
                unsafe = regex.startswith("^") and not regex.startswith(_DDP_SAFE_STARTS)
            if unsafe:
                fixed = "^(module\\.)?" + regex[1:] if regex.startswith("^") else regex
                warnings.append(
                    f"parameter_groups regex {regex!r} does not match under distributed "
                    "training, where DistributedDataParallel prefixes every parameter name "
                    f"with `module.`: write it as {fixed!r}."
                )
    if scheduler.get("gradual_unfreezing") and groups:
        epochs = scheduler.get("num_epochs", num_epochs)
        if epochs < len(groups):
            warnings.append(
                f"gradual_unfreezing unfreezes one layer group per epoch, but {epochs} epochs "
                f"for {len(groups)} layer groups would never train the lowest "
                f"{len(groups) - epochs}: set trainer.num_epochs to at least {len(groups)} "
                "(ULMFiT trains a few epochs more), or merge layer groups."
            )
    return warnings


# ----------------------------------------------------------------------------- output
def _group_label(index: int, group: GroupSpec) -> str:
    if group.name is not None:
        return group.name
    return f"group {index}" if group.regexes else "all parameters"


def format_table(preview: Preview) -> str:
    """The per-group table and the totals."""
    experiment = preview.experiment
    total = len(preview.lr)
    lines = [
        f"{experiment.num_epochs} epochs x {experiment.updates_per_epoch} updates = {total} updates "
        f"(updates per epoch from {experiment.steps_source})",
        "slanted_triangular: " + ", ".join(f"{k} = {v}" for k, v in preview.settings.items()),
        "",
    ]
    labels = [_group_label(i, g) for i, g in enumerate(experiment.groups)]
    width = max(len("name"), *(len(label) for label in labels))
    lines.append(
        f"{'group':>5}  {'name':<{width}}  {'params':>11}  {'peak lr':>10}  {'floor lr':>10}"
        f"  {'unfrozen':>8}  regexes"
    )
    for index, group in enumerate(experiment.groups):
        count = "?" if group.num_parameters is None else f"{group.num_parameters:,}"
        column = preview.trainable[:, index]
        if group.num_parameters == 0:
            unfrozen = "empty"
        elif column.any():
            unfrozen = f"epoch {int(preview.epoch[int(np.argmax(column))])}"
        else:
            unfrozen = "never"
        if group.regexes:
            regexes = " ".join(group.regexes)
        elif len(experiment.groups) == 1:
            regexes = "(every trainable parameter)"
        else:
            regexes = "(parameters that no regex matches)"
        lines.append(
            f"{index:>5}  {labels[index]:<{width}}  {count:>11}  {preview.peak[index]:>10.4g}"
            f"  {preview.floor[index]:>10.4g}  {unfrozen:>8}  {regexes}"
        )
    peaks = preview.peaks
    lines.append("")
    if peaks:
        lines.append(
            f"warm-up: {peaks[0]} update(s) to the first peak; {len(peaks)} triangle(s), "
            f"peaking at update(s) {', '.join(map(str, peaks[:12]))}"
            + (" ..." if len(peaks) > 12 else "")
        )
    lines.append("epochs are counted from 0, as in AllenNLP's logs and the stlr_trace callback")
    return "\n".join(lines)


def csv_header(groups: Sequence[GroupSpec]) -> List[str]:
    return (
        ["update", "epoch"]
        + [f"lr_{i}" for i in range(len(groups))]
        + [f"trainable_{i}" for i in range(len(groups))]
    )


def write_csv(preview: Preview, path: str) -> None:
    """One row per update: update (1-based), epoch (0-based), each group's rate and flag."""
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(csv_header(preview.experiment.groups))
        flags = preview.trainable.astype(int)
        for row in range(len(preview.lr)):
            writer.writerow(
                [row + 1, int(preview.epoch[row])]
                + [repr(float(x)) for x in preview.lr[row]]
                + flags[row].tolist()
            )


def plot(preview: Preview, path: str, title: Optional[str] = None) -> None:
    """One curve per group over updates; frozen spans dotted and grey, epoch ends marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    total, count = preview.lr.shape
    updates = np.arange(1, total + 1)
    # The curves are piecewise linear: a few thousand points plus every corner are exact.
    corners = np.flatnonzero(np.abs(np.diff(preview.lr, n=2, axis=0)).max(axis=1) > 0) + 1
    keep = np.unique(
        np.r_[np.linspace(0, total - 1, min(total, 4000)).astype(int), corners, corners + 1]
    )
    keep = keep[keep < total]
    figure, axes = plt.subplots(figsize=(10, 5.5), dpi=100)
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, max(count, 2)))
    for index, group in enumerate(preview.experiment.groups):
        if group.num_parameters == 0:
            continue
        rates = preview.lr[keep, index]
        frozen = ~preview.trainable[keep, index]
        label = _group_label(index, group)
        axes.plot(updates[keep], np.where(frozen, np.nan, rates), color=colours[index], label=label)
        if frozen.any():
            # Frozen spans: the rate is set but nothing trains; extend one point into the
            # trainable span so the two pieces join.
            shown = frozen | np.r_[False, frozen[:-1]]
            axes.plot(
                updates[keep], np.where(shown, rates, np.nan), color="0.6", linestyle=":",
                linewidth=1.2,
            )
    for end in range(1, preview.experiment.num_epochs):
        axes.axvline(end * preview.experiment.updates_per_epoch + 0.5, color="0.85", linewidth=0.8)
    positive = preview.lr[preview.lr > 0]
    if positive.size and positive.max() / positive.min() > 20:
        axes.set_yscale("log")
    axes.set_xlabel("update (grey lines: epoch ends)")
    axes.set_ylabel("learning rate (dotted grey: frozen)")
    axes.set_title(title or "slanted triangular learning rates per layer group")
    axes.legend(loc="best", fontsize="small", ncol=2 if count > 8 else 1)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def suggest_groups(params: Params) -> List[layer_groups.LayerGroup]:
    """Layer groups for the config's model, from its trainable parameters' names."""
    model, _ = build_model(params)
    return layer_groups.suggest(
        [(name, p.numel()) for name, p in model.named_parameters() if p.requires_grad]
    )


# ----------------------------------------------------------------------------- command
@Subcommand.register("stlr-preview")
class StlrPreview(Subcommand):
    """`allennlp stlr-preview CONFIG`: preview a slanted triangular schedule before training."""

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = (
            "Preview the learning rates and trainable layer groups of a slanted_triangular "
            "experiment, update by update, without training."
        )
        subparser = parser.add_parser(self.name, description=description, help=description)
        subparser.add_argument(
            "config", type=str, help="the experiment config, as for `allennlp train`"
        )
        subparser.add_argument(
            "-o",
            "--overrides",
            type=str,
            default="",
            help="a JSON structure used to override the experiment configuration, as for "
            "`allennlp train`",
        )
        subparser.add_argument(
            "--steps-per-epoch",
            type=int,
            default=None,
            help="optimizer updates per epoch (default: the scheduler's num_steps_per_epoch, "
            "else counted from the training data)",
        )
        subparser.add_argument("--plot", type=str, default=None, help="write a PNG plot here")
        subparser.add_argument("--csv", type=str, default=None, help="write every update here")
        subparser.add_argument(
            "--suggest-groups",
            action="store_true",
            help="build the model and print a parameter_groups block, one group per layer",
        )
        subparser.set_defaults(func=run)
        return subparser


def run(args: argparse.Namespace) -> None:
    # Every constructor argument read from the config is logged at INFO; the table says it all.
    logging.getLogger("allennlp.common.params").setLevel(logging.WARNING)
    params = load_params(args.config, args.overrides)
    out = sys.stdout
    if args.suggest_groups:
        groups = suggest_groups(params)
        out.write(
            f"// {len(groups)} layer groups for the model of {args.config}; with "
            f"gradual_unfreezing, train at least {len(groups)} epochs.\n"
        )
        out.write(layer_groups.format_parameter_groups(groups) + "\n")
        return
    if args.steps_per_epoch is not None and args.steps_per_epoch <= 0:
        raise ConfigurationError("stlr-preview: --steps-per-epoch must be a positive integer.")
    experiment = read_experiment(params, steps_per_epoch=args.steps_per_epoch)
    for warning in config_warnings(params, experiment.parameter_names):
        out.write(f"WARNING: {warning}\n")
    preview = simulate(experiment)
    out.write(f"slanted_triangular preview of {args.config}\n{format_table(preview)}\n")
    if args.csv:
        write_csv(preview, args.csv)
        out.write(f"wrote {args.csv}\n")
    if args.plot:
        plot(preview, args.plot, title=f"slanted_triangular: {args.config}")
        out.write(f"wrote {args.plot}\n")
