"""
Validation of a `slanted_triangular` configuration.

Every problem is a `ConfigurationError` that names the setting and what to do about it,
so that a bad config fails at construction time (also under `python -O`) instead of
training on a silently wrong schedule.
"""
import difflib
import functools
import logging
import math
from typing import Any, Callable, Dict, Optional, Sequence, Set

from allennlp.common.checks import ConfigurationError

from allennlp_stlr import schedule


logger = logging.getLogger(__name__)

# The attribute of a log record that `report` logs for an error about to be raised: a tool
# that prints the error itself leaves such a record out.
RAISED = "allennlp_stlr_raised"
_reported: Set[str] = set()


def report(error: ConfigurationError) -> ConfigurationError:
    """
    Log `error`'s message as one ERROR line, once per process, just before it is raised
    during training: `allennlp train` then shows it above AllenNLP's traceback, whose last
    line it is. Returns `error`.
    """
    message = str(error)
    if message not in _reported:
        _reported.add(message)
        logger.error(" ".join(message.split()), extra={RAISED: True})
    return error

_GROUPS_HINT = (
    "configure the optimizer's `parameter_groups`, one group per layer, bottom layer first "
    "(`allennlp stlr-groups CONFIG` or `python -m allennlp_stlr groups CONFIG` prints them for "
    "your model) "
    '(e.g. [[["^(module\\\\.)?_text_field_embedder"], {}], [["^(module\\\\.)?_encoder"], {}], '
    '[["^(module\\\\.)?_classification_layer"], {}]])'
)


# Larger counts and ratios overflow a float or lose integer precision in the schedule's
# arithmetic; no real run comes near.
LARGEST = 2**53


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    try:
        return _is_number(value) and math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _shown(value: Any) -> str:
    """`value` for a message, as a config writes it: a huge integer by its size, a string,
    list or object called so (`'32'` alone reads as the number), anything else by a short
    repr."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_int(value) and abs(value) > 10**15:
        return f"an integer of {math.floor(math.log10(abs(value))) + 1} digits"
    text = repr(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    if isinstance(value, str):
        return f"the string {text}" + (
            f" (in quotes: write {value.strip()} without them)" if _unquoted(value) else ""
        )
    if isinstance(value, (list, tuple)):
        return f"the list {text}"
    if isinstance(value, dict):
        return f"the object {text}"
    return text


def _unquoted(text: str) -> bool:
    """Whether `text` is a number, true, false or null once its quotes are taken off."""
    if text.strip() in ("true", "false", "null"):
        return True
    if "_" in text:  # Python's float() reads 1_000; a config does not
        return False
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _count(value: Any) -> bool:
    return _is_int(value) and 0 < value <= LARGEST


def check_num_epochs(value: Any) -> None:
    if not _count(value):
        raise ConfigurationError(
            f"slanted_triangular: `num_epochs` must be a positive integer (at most 2**53), got "
            f"{_shown(value)}. Set it to the number of epochs the schedule should span (normally "
            "the trainer's `num_epochs`, which is passed in when you leave it out)."
        )


def check_num_steps_per_epoch(value: Any) -> None:
    if value is not None and not _count(value):
        raise ConfigurationError(
            "slanted_triangular: `num_steps_per_epoch` must be a positive integer (at most "
            f"2**53) or null, got {_shown(value)}. Set it to the number of optimizer updates per "
            "epoch, or leave it out so that the trainer passes the data loader's length."
        )


def check_cut_frac(value: Any) -> None:
    if not _is_number(value) or not (0.0 <= value <= 1.0):
        raise ConfigurationError(
            f"slanted_triangular: `cut_frac` must be a number in [0, 1], got {_shown(value)}. "
            "It is the fraction of each triangle spent increasing the learning rate "
            "(0.1 in ULMFiT; 0 = decay only, 1 = warm-up only)."
        )


def check_ratio(value: Any) -> None:
    if not _is_finite(value) or not (1 <= value <= LARGEST):
        raise ConfigurationError(
            f"slanted_triangular: `ratio` must be a finite number >= 1 (at most 2**53), got "
            f"{_shown(value)}. It is how many times smaller the lowest learning rate is than "
            "the peak (32 in ULMFiT; 1 = constant learning rate)."
        )


def check_last_epoch(value: Any) -> None:
    if not (_is_int(value) and value == -1):
        raise ConfigurationError(
            f"slanted_triangular: `last_epoch` must be -1 (its default), got {_shown(value)}. "
            "The schedule counts its own progress, and `--recover` restores it from the "
            "checkpoint; any other value would only make AllenNLP's `Scheduler` demand an "
            "`initial_lr` in every param group. Remove the setting."
        )


def check_decay_factor(value: Any) -> None:
    if not _is_finite(value) or value <= 0:
        raise ConfigurationError(
            f"slanted_triangular: `decay_factor` must be a positive finite number, got "
            f"{_shown(value)}. With `discriminative_fine_tuning` each layer group trains with "
            "`decay_factor` times the rate of the group above it (0.38 in ULMFiT, 1/2.6)."
        )
    if value > 1:
        raise ConfigurationError(
            f"slanted_triangular: `decay_factor` = {value!r} would give each lower layer "
            "group a HIGHER rate than the group above it. It is a multiplier, at most 1: "
            "ULMFiT divides by 2.6 per layer, which is `decay_factor` = 1/2.6 = 0.38 (for "
            f"{value!r} as a divisor, write {1 / value:.4g})."
        )


def check_flag(name: str, value: Any) -> None:
    """`gradual_unfreezing`, `discriminative_fine_tuning`: AllenNLP would read 2 as true and
    null as false."""
    if not isinstance(value, bool):
        raise ConfigurationError(
            f"slanted_triangular: `{name}` must be true or false, got {_shown(value)}. "
            f"Write `{name}: true` to use it, or leave it out."
        )


def check_hyperparameters(
    num_epochs: Any,
    num_steps_per_epoch: Any,
    cut_frac: Any,
    ratio: Any,
    last_epoch: Any,
    discriminative_fine_tuning: Any,
    decay_factor: Any,
    gradual_unfreezing: Any = False,
) -> None:
    """Raise `ConfigurationError` for any hyperparameter outside its meaningful range."""
    check_num_epochs(num_epochs)
    check_num_steps_per_epoch(num_steps_per_epoch)
    check_cut_frac(cut_frac)
    check_ratio(ratio)
    check_last_epoch(last_epoch)
    check_flag("gradual_unfreezing", gradual_unfreezing)
    check_flag("discriminative_fine_tuning", discriminative_fine_tuning)
    check_decay_factor(decay_factor)


REQUIRES_PLUGIN_MESSAGE = (
    "slanted_triangular: this run's checkpoint was written by allennlp_stlr's SlantedTriangular, "
    "but AllenNLP's built-in scheduler of that name was built to continue it, which would train "
    "with wrong learning rates and frozen layers. Load the plugin and run the same command again: "
    "run from a folder whose .allennlp_plugins lists allennlp_stlr, or add "
    "`--include-package allennlp_stlr`, or write the scheduler's type as "
    '"allennlp_stlr.SlantedTriangular".'
)

_FLAGS = ("gradual_unfreezing", "discriminative_fine_tuning")

# The check of each setting's value as written (`SETTINGS` of the scheduler: its signature).
SETTING_CHECKS: Dict[str, Callable[[Any], None]] = {
    "num_epochs": check_num_epochs,
    "num_steps_per_epoch": check_num_steps_per_epoch,
    "cut_frac": check_cut_frac,
    "ratio": check_ratio,
    "last_epoch": check_last_epoch,
    **{flag: functools.partial(check_flag, flag) for flag in _FLAGS},
    "decay_factor": check_decay_factor,
    "unfreeze_every_num_updates": lambda value: check_unfreezing_interval(value, True),
}


def check_config_block(config: Dict[str, Any], settings: Sequence[str]) -> None:
    """
    Checks of the scheduler's config block as written, before AllenNLP converts its values:
    `true` is not a count (AllenNLP would read it as 1), and a misspelled setting gets the
    name it was probably meant to be. `settings` are the names the scheduler takes.
    """
    for key in settings:
        if key not in _FLAGS and isinstance(config.get(key), bool):
            raise ConfigurationError(
                f"slanted_triangular: `{key}` must be a number, got {_shown(config[key])}. "
                "A boolean is not a count (it would be read as 1 or 0)."
            )
    # Every value as written, before AllenNLP's conversion raises a TypeError of its own
    # (`Expected num_epochs to be a int.`) or turns 2 into true.
    for key, check in SETTING_CHECKS.items():
        if key in config:
            check(config[key])
    valid = list(settings)
    for key in config:
        if key == "type" or key in valid:
            continue
        close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
        hint = f" Did you mean `{close[0]}`?" if close else ""
        raise ConfigurationError(
            f"slanted_triangular: unknown setting `{key}`.{hint} "
            f"The settings are: {', '.join(valid)}."
        )


def check_unfreezing_interval(every: Any, gradual_unfreezing: bool) -> None:
    """`unfreeze_every_num_updates`: a positive count, and only with gradual unfreezing."""
    if every is None:
        return
    if not _count(every):
        raise ConfigurationError(
            "slanted_triangular: `unfreeze_every_num_updates` must be a positive integer (at "
            f"most 2**53) or null, got {_shown(every)}. It is how many optimizer updates each layer group trains "
            "before the next one below it is unfrozen; leave it out to unfreeze at each epoch end."
        )
    if not gradual_unfreezing:
        raise ConfigurationError(
            f"slanted_triangular: `unfreeze_every_num_updates` = {every} has no effect without "
            "`gradual_unfreezing`: set `gradual_unfreezing: true`, or remove the setting."
        )


# Where a message at training time sends the user for what only the model's names can tell.
NAMES_HINT = (
    "AllenNLP's log lists each param group's parameters (\"Group k: [...]\") and every regex "
    "that matched nothing (\"When constructing parameter groups, ... does not match any "
    "parameter name\"); `allennlp stlr-preview CONFIG` names them too, and `allennlp "
    "stlr-groups CONFIG` prints groups that match this model"
)


def _tensors(shapes: Sequence[Sequence[int]]) -> str:
    """Tensors by their shapes, for a message that cannot name them."""
    shown = ", ".join("x".join(map(str, shape)) or "scalar" for shape in shapes[:5])
    more = f" and {len(shapes) - 5} more" if len(shapes) > 5 else ""
    return f"{len(shapes)} tensor(s) of shape {shown}{more}"


def check_layer_groups(
    group_sizes: Sequence[int],
    gradual_unfreezing: bool,
    discriminative_fine_tuning: bool,
    labels: Sequence[str],
    layers: Sequence[Sequence[int]],
    default_shapes: Sequence[Sequence[int]] = (),
) -> None:
    """
    Check the optimizer's param groups (given as parameter counts, in order, with AllenNLP's
    default group last) for gradual unfreezing and discriminative fine-tuning. `labels` name
    the groups, `layers` say which groups are one layer (`layers.layers_of`), and
    `default_shapes` are the shapes of the default group's tensors: the scheduler sees tensors,
    not their names.
    """
    if not (gradual_unfreezing or discriminative_fine_tuning):
        return
    mode = "gradual_unfreezing" if gradual_unfreezing else "discriminative_fine_tuning"
    *configured, default = group_sizes
    if gradual_unfreezing and configured and default:
        raise ConfigurationError(
            f"slanted_triangular: `gradual_unfreezing` needs every trainable parameter in a "
            f"layer group, but {default} parameter(s) ({_tensors(default_shapes)}) matched none "
            f"of the optimizer's `parameter_groups` and fell into AllenNLP's default group "
            f"({labels[-1]}), which would never be frozen. Add regexes for them (often the "
            f"classifier head, as the last group). {NAMES_HINT}."
        )
    if sum(1 for layer in layers if any(group_sizes[i] for i in layer)) < 2:
        raise ConfigurationError(
            f"slanted_triangular: `{mode}` needs at least two layer groups with parameters, "
            f"but the optimizer has {len(configured)} configured parameter group(s) "
            f"with parameters: {_GROUPS_HINT}."
        )
    for layer in layers:
        for i in layer:
            if not group_sizes[i]:
                logger.warning(
                    empty_group_message(i, labels[i], gradual_unfreezing, default, default_shapes)
                )


def empty_group_message(
    index: int,
    label: str,
    gradual_unfreezing: bool,
    default_size: int,
    default_shapes: Sequence[Sequence[int]] = (),
) -> str:
    """A layer group with no parameters: its regexes match nothing, most likely misspelled."""
    message = (
        f"slanted_triangular: param group {index} ({label}) has no parameters: none of its "
        "regexes in the optimizer's `parameter_groups` matches a parameter name, most likely "
        "a misspelled regex."
    )
    if gradual_unfreezing:
        message += " With gradual unfreezing it still takes a stage of its own to unfreeze."
    elif default_size:
        message += (
            f" The parameters it was meant for are then among the {default_size} parameter(s) "
            f"({_tensors(default_shapes)}) that no regex matched: they went to AllenNLP's "
            "default group, the top layer group, and train at the top rate instead of their "
            "layer's discriminative rate."
        )
    else:
        message += " Every parameter is in another group, so no rate changes."
    return message + f" To find the regex: {NAMES_HINT}."


def check_stages_fit(
    num_epochs: int,
    num_steps_per_epoch: Optional[int],
    num_layer_groups: int,
    unfreeze_every_num_updates: Optional[int],
    measured_after: Optional[str] = None,
) -> None:
    """
    With gradual unfreezing, every group must be unfrozen before training ends.
    `measured_after` says why `num_steps_per_epoch` is known only now, when it is the first
    epoch's measured length.
    """
    if unfreeze_every_num_updates is None:
        if num_epochs < num_layer_groups:
            never = num_layer_groups - num_epochs
            raise ConfigurationError(
                f"slanted_triangular: with `gradual_unfreezing` one more layer group is unfrozen "
                f"each epoch, so `num_epochs` = {num_epochs} for {num_layer_groups} layer groups "
                f"would never train the lowest {never} group(s). Set `num_epochs` to at least "
                f"{num_layer_groups}, set `unfreeze_every_num_updates` to unfreeze within "
                "epochs, or merge layer groups in the optimizer's `parameter_groups`."
            )
        return
    unfreezing = (num_layer_groups - 1) * unfreeze_every_num_updates
    if num_steps_per_epoch is not None and unfreezing >= num_epochs * num_steps_per_epoch:
        total = num_epochs * num_steps_per_epoch
        raise ConfigurationError(
            f"slanted_triangular: with `unfreeze_every_num_updates` = {unfreeze_every_num_updates}"
            f", unfreezing {num_layer_groups} layer groups takes {unfreezing} updates, but "
            f"training has only {total} ({num_epochs} epochs x {num_steps_per_epoch}), so the "
            "lowest groups would never train with all layers. "
            + (f"{measured_after} " if measured_after else "")
            + _fit_advice(total, num_layer_groups)
        )


def _fit_advice(total: int, num_layer_groups: int) -> str:
    """How to make `num_layer_groups - 1` frozen stages end before update `total`."""
    largest = (total - 1) // (num_layer_groups - 1)
    if largest >= 1:
        return f"Set `unfreeze_every_num_updates` to at most {largest}, or train longer."
    return (
        f"Even 1 update per stage needs {num_layer_groups} updates: train longer, or merge "
        "layer groups in the optimizer's `parameter_groups`."
    )


def check_first_epoch(
    num_epochs: int,
    configured: Optional[int],
    measured: int,
    num_layer_groups: int,
    gradual_unfreezing: bool,
    unfreeze_every_num_updates: Optional[int],
) -> None:
    """
    At the end of the first epoch, whose length (`measured` updates) is now known: the checks
    that a known or right `num_steps_per_epoch` would have made at construction time.
    """
    warn_length_mismatch(configured, measured)
    if not gradual_unfreezing or configured == measured:
        return
    why = (
        "The data loader has no length, so the number of updates per epoch was unknown until "
        f"the first epoch ended, with {measured} updates: this is found only now."
        if configured is None
        else f"`num_steps_per_epoch` is {configured}, but the first epoch had {measured} updates."
    )
    try:
        check_stages_fit(num_epochs, measured, num_layer_groups, unfreeze_every_num_updates, why)
    except ConfigurationError as error:
        report(error)
        raise


def warn_unknown_epoch_length(num_steps_per_epoch: Optional[int]) -> None:
    if num_steps_per_epoch is None:
        logger.warning(
            "slanted_triangular: the number of updates per epoch is unknown (the data loader "
            "has no length), so the first epoch warms up without knowing where the peak is "
            "and the triangle is planned once that epoch ends. Set the scheduler's "
            "`num_steps_per_epoch` to get the exact ULMFiT schedule from the first update."
        )


def length_mismatch_message(configured: int, measured: int) -> str:
    """The configured epoch length is not what the data gives (training and the preview)."""
    return (
        f"slanted_triangular: `num_steps_per_epoch` is {configured}, but an epoch of the "
        f"training data has {measured} optimizer updates. The first epoch follows a schedule "
        f"planned for {configured} updates per epoch; at its end the rest is re-planned for "
        f"{measured}: from where the rate stands it rises to the peak no faster than a "
        "warm-up does, then falls to the floor at the last update. Remove `num_steps_per_epoch` "
        "from the scheduler's config so that the trainer passes its own count."
    )


# Warnings given when the trainer built the scheduler, not repeated at the first epoch's end.
_told_at_start: Set[str] = set()


def warn_length_mismatch(configured: Optional[int], measured: int) -> None:
    """At the end of the first epoch: a configured length the data did not match."""
    if configured is not None and configured != measured:
        message = length_mismatch_message(configured, measured)
        if message not in _told_at_start:
            logger.warning(message)


def epochs_mismatch_message(
    configured: int,
    trained: int,
    steps_per_epoch: Optional[int],
    cut_frac: float,
    ratio: float,
    stages: schedule.Stages,
) -> str:
    """The scheduler block's `num_epochs` is not the trainer's (training and the preview)."""
    message = (
        f"slanted_triangular: learning_rate_scheduler.num_epochs = {configured} but "
        f"trainer.num_epochs = {trained}: the triangle is planned for {configured} epochs. "
    )
    if configured < trained:
        # A triangle ends on the floor, or on the peak when it only rises (`cut_frac` 1).
        end = "its peak" if cut_frac == 1 else f"its floor (1/{ratio:g} of the peak)"
        message += (
            f"The rate reaches {end} after {configured} epochs and stays there for the last "
            f"{trained - configured}."
        )
    else:
        never = stages.frozen + 1 - trained if stages.every_num_updates is None else 0
        message += f"Training stops after {trained} of them"
        if steps_per_epoch is not None:
            # The last update's rate: training ends before the last epoch end is counted.
            last = trained * steps_per_epoch
            ends = [steps_per_epoch * epoch for epoch in range(1, trained)]
            fraction = schedule.plan(last, ends, configured, steps_per_epoch, cut_frac, stages).at(last)
            if fraction > 0:
                share = (1 + fraction * (ratio - 1)) / ratio
                message += (
                    ", before the rate has decayed to its floor: the last update, "
                    f"{last}, trains at {share:.0%} of the peak instead of 1/{ratio:g} of it"
                )
        elif never <= 0:
            message += ", before the rate has decayed to its floor"
        message += "."
        if never > 0:
            message += (
                f" With gradual unfreezing one more layer group is unfrozen each epoch, so the "
                f"lowest {never} layer group(s) never train."
            )
    return message + (
        " Remove `num_epochs` from the scheduler block so that the trainer passes its own."
    )


def trainer_mismatch_warnings(
    block: Dict[str, Any],
    passed: Dict[str, Any],
    steps_per_epoch: Optional[int],
    cut_frac: float,
    ratio: float,
    stages: schedule.Stages,
) -> None:
    """
    When the trainer built the scheduler: warn where the scheduler block's `num_epochs` or
    `num_steps_per_epoch` (which win) differ from the values the trainer `passed`, saying
    what that does to the schedule.
    """
    configured, trained = block.get("num_epochs"), passed.get("num_epochs")
    if configured is not None and trained is not None and configured != trained:
        logger.warning(
            epochs_mismatch_message(configured, trained, steps_per_epoch, cut_frac, ratio, stages)
        )
    configured, counted = block.get("num_steps_per_epoch"), passed.get("num_steps_per_epoch")
    if configured is not None and counted is not None and configured != counted:
        message = length_mismatch_message(configured, counted)
        _told_at_start.add(message)
        logger.warning(message)
