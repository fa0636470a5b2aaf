"""
What a checkpoint holds of `SlantedTriangular`, in which formats, and the guards that stop
AllenNLP's built-in scheduler from continuing it (docs/internals.md#what-a-checkpoint-holds).

`state_dict` writes the current format; `read` reads it, our older format, and the
built-in's. `RequiresPlugin` is pickled into every checkpoint: checkpoints written before
this module existed name it `allennlp_stlr.scheduler.RequiresPlugin`, which stays importable.
"""
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

from allennlp.common.checks import ConfigurationError

from allennlp_stlr import checks

STATE_FORMAT = "allennlp_stlr.slanted_triangular/2"
# Written before the base rates were saved: the counters only.
STATE_FORMAT_WITHOUT_BASES = "allennlp_stlr.slanted_triangular/1"
# The methods the trainer calls, which the guards stand in for.
GUARDED_METHODS = ("step_batch", "step", "get_values")


class RequiresPlugin:
    """
    Stands in a checkpoint for the methods of AllenNLP's built-in "slanted_triangular".

    The built-in's `load_state_dict` copies every key of a checkpoint into the instance, so it
    would silently continue one of ours with its own fresh counters. Our `state_dict` therefore
    carries this object under the names of the methods the trainer calls (`step_batch`, `step`):
    copied in, it replaces them and stops the run with a message, before any update is made.
    Our own `load_state_dict` ignores these keys.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        raise checks.report(ConfigurationError(checks.REQUIRES_PLUGIN_MESSAGE))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RequiresPlugin)

    def __hash__(self) -> int:
        return hash(RequiresPlugin)


class Progress(NamedTuple):
    """What a checkpoint restores: the progress counters, and the base rates when it holds
    them (None: keep the optimizer's)."""

    updates: int
    epoch_ends: List[int]
    base_lrs: Optional[List[float]]


def state_dict(
    updates: int, epoch_ends: Sequence[int], base_lrs: Sequence[float]
) -> Dict[str, Any]:
    """The current format, with independent copies of the lists, and the guards."""
    state: Dict[str, Any] = {
        "format": STATE_FORMAT,
        "updates": updates,
        "epoch_ends": list(epoch_ends),
        "base_lrs": list(base_lrs),
    }
    state.update({name: RequiresPlugin() for name in GUARDED_METHODS})
    return state


def read(state: Dict[str, Any]) -> Progress:
    """The progress a state of ours (either format) or of the built-in holds; any other state
    is a `ConfigurationError`."""
    form = state.get("format")
    if form == STATE_FORMAT:
        return Progress(state["updates"], list(state["epoch_ends"]), list(state["base_lrs"]))
    if form == STATE_FORMAT_WITHOUT_BASES:
        # Its `offset` (the trainer's count before our first update) is not needed: `updates`
        # already counts our own updates.
        return Progress(state["updates"], list(state["epoch_ends"]), None)
    if "batch_num_total_epoch_end" in state:
        # The built-in's list starts with a 0 for its constructor's own `step()`.
        ends = list(state["batch_num_total_epoch_end"][1:])
        return Progress(max(0, state["last_batch_num_total"]), ends, None)
    raise checks.report(
        ConfigurationError(
            "slanted_triangular: the checkpoint's learning_rate_scheduler state was not "
            f"written by a slanted_triangular scheduler (keys {sorted(state)}). "
            "Recover with the scheduler the run was started with, or start a new run."
        )
    )
