"""
Problems of a slanted triangular experiment, each with the setting that fixes it.

The preview builds the real scheduler the way the trainer does, so what the scheduler
rejects (too few epochs for the layer groups, bad hyperparameters) surfaces as its
`ConfigurationError`, and what it warns about (a block's `num_epochs` other than the
trainer's, an empty layer group) as its logged warnings. The warnings about the trainer's
other settings are `allennlp_stlr.advice`'s, which the `stlr_checks` callback gives at
training. Preview-only: a group that spans layers (it needs the layer structure that
`stlr-groups` works out from the model's parameter names) and a missing `stlr_checks`
callback.
"""
import contextlib
import logging
from typing import Any, Dict, Iterator, List

from allennlp.common.checks import ConfigurationError
from allennlp.training.callbacks.callback import TrainerCallback

from allennlp_stlr import advice, checks
from allennlp_stlr.callbacks import ConfigChecks
from allennlp_stlr.tools.groups import find as layer_groups
from allennlp_stlr.tools.preview.experiment import Experiment, group_labels


def _steps_per_epoch(experiment: Experiment) -> List[str]:
    configured = experiment.configured_steps_per_epoch
    measured = experiment.updates_per_epoch
    if configured is None or configured == measured:
        return []
    return [checks.length_mismatch_message(configured, measured)]


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
    """
    Every problem found, most consequential first. Those about the trainer's settings come
    from `allennlp_stlr.advice`, which the `stlr_checks` callback runs at training; a
    scheduler block's `num_epochs` other than the trainer's is the scheduler's own warning.
    """
    config = experiment.config
    return (
        advice.patience_warnings(config)
        + _steps_per_epoch(experiment)
        + _groups_not_layers(experiment)
        + advice.unused_parameter_warnings(config)
        + advice.ddp_regex_warnings(config, experiment.parameter_names)
    )


CHECKS_CALLBACK = "allennlp_stlr.ConfigChecks"


def checks_callback_warnings(config: Dict[str, Any]) -> List[str]:
    """A warning when the trainer has no `stlr_checks` callback to give the warnings above
    about its settings at training."""
    for callback in config.get("trainer", {}).get("callbacks") or []:
        name = callback.get("type") if isinstance(callback, dict) else callback
        try:
            served, _ = TrainerCallback.resolve_class_name(name)
        except ConfigurationError:
            continue
        if isinstance(served, type) and issubclass(served, ConfigChecks):
            return []
    return [
        "trainer.callbacks has no stlr_checks callback, so `allennlp train` does not check "
        "the settings the scheduler cannot see (trainer.patience, the distributed section). "
        f'Add {{"type": "{CHECKS_CALLBACK}"}} (or "stlr_checks" where the plugin is loaded) '
        "to trainer.callbacks; stlr.libsonnet's stlr.callbacks() gives it."
    ]


class _Keep(logging.Handler):
    def __init__(self, kept: List[str]) -> None:
        super().__init__(logging.WARNING)
        self.kept = kept

    def emit(self, record: logging.LogRecord) -> None:
        # An error logged before it is raised: the command reports the error itself.
        if not getattr(record, checks.RAISED, False):
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
