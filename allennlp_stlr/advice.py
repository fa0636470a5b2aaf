"""
Warnings about a whole experiment config, for settings the scheduler never sees: the
trainer's `patience` and the `distributed` section. Pure functions over the config as a
dict (as `allennlp train` writes it to `config.json`), so that `stlr-preview` and the
`stlr_checks` trainer callback give the same warnings in the same words.
"""
import re
from typing import Any, Dict, List, Optional, Sequence

from allennlp_stlr.distributed import FIND_UNUSED_HINT

DDP_SAFE_STARTS = ("^(module\\.)?", "^(?:module\\.)?", "^module\\.")


def trainer_block(config: Dict[str, Any]) -> Dict[str, Any]:
    return config.get("trainer") or {}


def scheduler_block(config: Dict[str, Any]) -> Dict[str, Any]:
    return trainer_block(config).get("learning_rate_scheduler") or {}


def distributed(config: Dict[str, Any]) -> bool:
    """Whether `allennlp train` starts more than one worker for `config`."""
    section = config.get("distributed") or {}
    return len(section.get("cuda_devices") or []) > 1 or section.get("num_nodes", 1) > 1


def patience_warnings(config: Dict[str, Any]) -> List[str]:
    patience = trainer_block(config).get("patience")
    if patience is None:
        return []
    return [
        f"slanted_triangular: trainer.patience = {patience} can stop training before the "
        "slanted triangular schedule has decayed to its floor (and, with gradual unfreezing, "
        "before the lowest layers ever train): remove `trainer.patience` and pick the best "
        "epoch from the validation metrics instead."
    ]


def unused_parameter_warnings(config: Dict[str, Any]) -> List[str]:
    if not (scheduler_block(config).get("gradual_unfreezing") and distributed(config)):
        return []
    accelerator = (config.get("distributed") or {}).get("ddp_accelerator") or {}
    if accelerator.get("find_unused_parameters"):
        return []
    return [
        "slanted_triangular: gradual_unfreezing under distributed training freezes "
        "parameters, and DistributedDataParallel then fails on the second batch (\"Expected "
        f"to have finished reduction in the prior iteration\"): {FIND_UNUSED_HINT}."
    ]


def ddp_safe(regex: str, names: Sequence[str]) -> bool:
    """Whether `regex` still matches each name of `names` it matches once `module.` is prepended."""
    return all(re.search(regex, "module." + name) for name in names if re.search(regex, name))


def group_regexes(config: Dict[str, Any]) -> List[str]:
    """The regexes of the optimizer's `parameter_groups` that make param groups, in order."""
    optimizer = trainer_block(config).get("optimizer") or {}
    groups = optimizer.get("parameter_groups") if isinstance(optimizer, dict) else None
    return [
        regex
        for regexes, options in groups or []
        if options.get("requires_grad") is not False
        for regex in regexes
    ]


def ddp_regex_warnings(config: Dict[str, Any], names: Optional[Sequence[str]] = None) -> List[str]:
    """
    Regexes that stop matching under distributed training, where DDP prefixes every
    parameter name with `module.`: tried on the model's parameter `names` when they are
    known, else every `^`-anchored regex without an optional `module.` prefix.
    """
    if not distributed(config):
        return []  # elsewhere the regexes match as written
    warnings = []
    for regex in group_regexes(config):
        if names is not None:
            unsafe = not ddp_safe(regex, names)
        else:
            unsafe = regex.startswith("^") and not regex.startswith(DDP_SAFE_STARTS)
        if unsafe:
            fixed = "^(module\\.)?" + regex[1:] if regex.startswith("^") else regex
            warnings.append(
                f"slanted_triangular: parameter_groups regex {regex!r} does not match under "
                "distributed training, where DistributedDataParallel prefixes every parameter "
                f"name with `module.`: write it as {fixed!r}."
            )
    return warnings


def config_warnings(config: Dict[str, Any], names: Optional[Sequence[str]] = None) -> List[str]:
    """Every warning about settings outside the scheduler's block, most consequential first.
    `names` are the model's trainable parameter names, when it has been built."""
    return patience_warnings(config) + unused_parameter_warnings(config) + ddp_regex_warnings(
        config, names
    )
