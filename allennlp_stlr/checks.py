"""
Validation of a `slanted_triangular` configuration.

Every problem is a `ConfigurationError` that names the setting and what to do about it,
so that a bad config fails at construction time (also under `python -O`) instead of
training on a silently wrong schedule.
"""
import logging
import math
from typing import Any, List, Optional, Sequence

from allennlp.common.checks import ConfigurationError

logger = logging.getLogger(__name__)

_GROUPS_HINT = (
    "configure the optimizer's `parameter_groups`, one group per layer, bottom layer first "
    '(e.g. [[["^(module\\\\.)?_text_field_embedder"], {}], [["^(module\\\\.)?_encoder"], {}], '
    '[["^(module\\\\.)?_classification_layer"], {}]])'
)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_hyperparameters(
    num_epochs: Any,
    num_steps_per_epoch: Any,
    cut_frac: Any,
    ratio: Any,
    last_epoch: Any,
    discriminative_fine_tuning: bool,
    decay_factor: Any,
) -> None:
    """Raise `ConfigurationError` for any hyperparameter outside its meaningful range."""
    if not _is_int(num_epochs) or num_epochs <= 0:
        raise ConfigurationError(
            f"slanted_triangular: `num_epochs` must be a positive integer, got {num_epochs!r}. "
            "Set it to the number of epochs the schedule should span (normally the "
            "trainer's `num_epochs`, which is passed in when you leave it out)."
        )
    if num_steps_per_epoch is not None and (
        not _is_int(num_steps_per_epoch) or num_steps_per_epoch <= 0
    ):
        raise ConfigurationError(
            "slanted_triangular: `num_steps_per_epoch` must be a positive integer or null, "
            f"got {num_steps_per_epoch!r}. Set it to the number of optimizer updates per "
            "epoch, or leave it out so that the trainer passes the data loader's length."
        )
    if not _is_number(cut_frac) or not (0.0 <= cut_frac <= 1.0):
        raise ConfigurationError(
            f"slanted_triangular: `cut_frac` must be a number in [0, 1], got {cut_frac!r}. "
            "It is the fraction of each triangle spent increasing the learning rate "
            "(0.1 in ULMFiT; 0 = decay only, 1 = warm-up only)."
        )
    if not _is_number(ratio) or not math.isfinite(ratio) or ratio < 1:
        raise ConfigurationError(
            f"slanted_triangular: `ratio` must be a finite number >= 1, got {ratio!r}. "
            "It is how many times smaller the lowest learning rate is than the peak "
            "(32 in ULMFiT; 1 = constant learning rate)."
        )
    if not _is_int(last_epoch) or last_epoch < -1:
        raise ConfigurationError(
            f"slanted_triangular: `last_epoch` must be an integer >= -1, got {last_epoch!r}. "
            "Leave it at -1: progress is restored from the checkpoint, not from this value."
        )
    if discriminative_fine_tuning and (
        not _is_number(decay_factor) or not math.isfinite(decay_factor) or decay_factor <= 0
    ):
        raise ConfigurationError(
            f"slanted_triangular: `decay_factor` must be a positive number with "
            f"`discriminative_fine_tuning`, got {decay_factor!r}. Each layer group trains with "
            "`decay_factor` times the rate of the group above it (0.38 in ULMFiT, 1/2.6)."
        )


def layer_groups(
    group_sizes: Sequence[int], gradual_unfreezing: bool, discriminative_fine_tuning: bool
) -> List[int]:
    """
    Check the optimizer's parameter groups (given as parameter counts, in order, with
    AllenNLP's default group last) and return the indices of the layer groups, bottom first.

    With gradual unfreezing the layer groups are the configured `parameter_groups`, and the
    default group must be empty. With discriminative fine-tuning alone a non-empty default
    group counts as the top layer group.
    """
    if not (gradual_unfreezing or discriminative_fine_tuning):
        return list(range(len(group_sizes)))
    mode = "gradual_unfreezing" if gradual_unfreezing else "discriminative_fine_tuning"
    *configured, default = group_sizes
    if gradual_unfreezing and configured and default:
        raise ConfigurationError(
            f"slanted_triangular: `gradual_unfreezing` needs every trainable parameter in a "
            f"layer group, but {default} parameter(s) matched none of the optimizer's "
            "`parameter_groups` and fell into the default group, which would never be frozen. "
            "Add regexes for them (often the classifier head, as the last group)."
        )
    indices = list(range(len(configured)))
    if not gradual_unfreezing and default:
        indices.append(len(configured))
    if sum(1 for i in indices if group_sizes[i]) < 2:
        raise ConfigurationError(
            f"slanted_triangular: `{mode}` needs at least two layer groups with parameters, "
            f"but the optimizer has {len(group_sizes)} parameter group(s) with "
            f"{list(group_sizes)} parameters: {_GROUPS_HINT}."
        )
    for i in indices:
        if not group_sizes[i]:
            extra = (
                " With gradual unfreezing it still takes an epoch of its own to unfreeze."
                if gradual_unfreezing
                else ""
            )
            logger.warning(
                "slanted_triangular: layer group %d has no parameters: its regexes in the "
                "optimizer's `parameter_groups` match nothing.%s",
                i,
                extra,
            )
    return indices


def check_epochs_cover_groups(num_epochs: int, num_layer_groups: int) -> None:
    """With gradual unfreezing, every group must be unfrozen before training ends."""
    if num_epochs < num_layer_groups:
        never = num_layer_groups - num_epochs
        raise ConfigurationError(
            f"slanted_triangular: with `gradual_unfreezing` one more layer group is unfrozen "
            f"each epoch, so `num_epochs` = {num_epochs} for {num_layer_groups} layer groups "
            f"would never train the lowest {never} group(s). Set `num_epochs` to at least "
            f"{num_layer_groups}, or merge layer groups in the optimizer's `parameter_groups`."
        )


def warn_unknown_epoch_length(num_steps_per_epoch: Optional[int]) -> None:
    if num_steps_per_epoch is None:
        logger.warning(
            "slanted_triangular: the number of updates per epoch is unknown (the data loader "
            "has no length), so the first epoch warms up without knowing where the peak is "
            "and the triangle is planned once that epoch ends. Set the scheduler's "
            "`num_steps_per_epoch` to get the exact ULMFiT schedule from the first update."
        )
