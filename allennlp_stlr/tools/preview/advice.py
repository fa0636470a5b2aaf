"""
Problems of a slanted triangular experiment that training would not report, or would
report only once it is under way, each with the setting that fixes it.

Problems the scheduler itself rejects (too few epochs for the layer groups, bad
hyperparameters) are not repeated here: the preview builds the real scheduler, so they
surface as its `ConfigurationError`.
"""
import contextlib
import logging
from typing import Iterator, List

from allennlp_stlr import checks
from allennlp_stlr.distributed import FIND_UNUSED_HINT
from allennlp_stlr.tools.groups import find as layer_groups
from allennlp_stlr.tools.preview.experiment import Experiment, group_labels

_DDP_SAFE_STARTS = ("^(module\\.)?", "^(?:module\\.)?", "^module\\.")


def _patience(experiment: Experiment) -> List[str]:
    patience = experiment.config.get("trainer", {}).get("patience")
    if patience is None:
        return []
    return [
        f"trainer.patience = {patience} can stop training before the slanted "
        "triangular schedule has decayed to its floor (and, with gradual unfreezing, before "
        "the lowest layers ever train): remove `trainer.patience` and pick the best epoch "
        "from the validation metrics instead."
    ]


def _scheduler_epochs(experiment: Experiment) -> List[str]:
    configured = experiment.scheduler.get("num_epochs")
    if configured in (None, experiment.num_epochs):
        return []
    return [
        f"learning_rate_scheduler.num_epochs = {configured} but trainer.num_epochs = "
        f"{experiment.num_epochs}: the triangle is planned for a different run length than "
        "the one trained. Remove `num_epochs` from the scheduler block so the trainer passes "
        "its own."
    ]


def _steps_per_epoch(experiment: Experiment) -> List[str]:
    configured = experiment.configured_steps_per_epoch
    measured = experiment.updates_per_epoch
    if configured is None or configured == measured:
        return []
    return [checks.length_mismatch_message(configured, measured)]


def _unused_parameters(experiment: Experiment) -> List[str]:
    if not (experiment.scheduler.get("gradual_unfreezing") and experiment.workers > 1):
        return []
    distributed = experiment.config.get("distributed") or {}
    accelerator = distributed.get("ddp_accelerator") or {}
    if accelerator.get("find_unused_parameters"):
        return []
    return [
        "gradual_unfreezing under distributed training freezes parameters, and "
        "DistributedDataParallel then fails on the second batch (\"Expected to have "
        f"finished reduction in the prior iteration\"): {FIND_UNUSED_HINT}."
    ]


def _ddp_regexes(experiment: Experiment) -> List[str]:
    # Only where the config trains distributed: elsewhere the regexes match as written.
    if experiment.workers == 1:
        return []
    warnings = []
    names = experiment.parameter_names
    for group in experiment.groups:
        for regex in group.regexes:
            if names is not None:
                unsafe = not layer_groups.ddp_safe(regex, names)
            else:
                unsafe = regex.startswith("^") and not regex.startswith(_DDP_SAFE_STARTS)
            if unsafe:
                fixed = "^(module\\.)?" + regex[1:] if regex.startswith("^") else regex
                warnings.append(
                    f"parameter_groups regex {regex!r} does not match under distributed "
                    "training, where DistributedDataParallel prefixes every parameter name "
                    f"with `module.`: write it as {fixed!r}."
                )
    return warnings


def _groups_not_layers(experiment: Experiment) -> List[str]:
    held = [group.parameter_names for group in experiment.groups]
    if not experiment.layered or any(names is None for names in held):
        return []
    names = [group.name for group in experiment.groups]
    spanning = layer_groups.groups_spanning_layers(held, names)  # type: ignore[arg-type]
    if not spanning:
        return []
    return [layer_groups.spanning_groups_message(spanning, group_labels(experiment.groups))]


def config_warnings(experiment: Experiment) -> List[str]:
    """Every problem found, most consequential first."""
    return (
        _patience(experiment)
        + _scheduler_epochs(experiment)
        + _steps_per_epoch(experiment)
        + _groups_not_layers(experiment)
        + _unused_parameters(experiment)
        + _ddp_regexes(experiment)
    )


class _Keep(logging.Handler):
    def __init__(self, kept: List[str]) -> None:
        super().__init__(logging.WARNING)
        self.kept = kept

    def emit(self, record: logging.LogRecord) -> None:
        self.kept.append(record.getMessage())


@contextlib.contextmanager
def scheduler_warnings() -> Iterator[List[str]]:
    """
    Keeps the warnings our scheduler logs while the preview builds and drives it, so that
    the preview prints each once among its own instead of also on stderr.
    """
    kept: List[str] = []
    log = logging.getLogger("allennlp_stlr")
    handler, propagate = _Keep(kept), log.propagate
    log.addHandler(handler)
    log.propagate = False
    try:
        yield kept
    finally:
        log.removeHandler(handler)
        log.propagate = propagate
