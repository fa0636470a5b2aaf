"""
The trainer callbacks.

`stlr_checks`: when training starts, the warnings of `stlr-preview` about settings the
scheduler never sees (`trainer.patience`, the `distributed` section), from the config
`allennlp train` has written to `config.json` in the serialization directory:

    "callbacks": [{"type": "stlr_checks"}]

`stlr_trace`: a trainer callback that records, for every optimizer update, the learning
rate and trainable state of each param group, as one JSON line per update.

Add it to a trainer to see exactly what the schedule did:

    "callbacks": [{"type": "stlr_trace"}]

It writes `stlr_trace.jsonl` in the serialization directory (`stlr_trace_worker{rank}.jsonl`
under distributed training). Lines are flushed as they are written, so a crashed run keeps
its trace, and a run continued with `--recover` appends to it. The updates redone after a
recover (those after the checkpoint) then appear twice: every line the continued run writes
carries `"resumed_after": N`, the updates its checkpoint had done, and the last line for an
update is the one that counts.
"""
import json
import logging
import os
from typing import Any, Dict, List, Optional

import torch.distributed as dist
from allennlp.data import TensorDict
from allennlp.models.archival import CONFIG_NAME
from allennlp.training.callbacks.callback import TrainerCallback

from allennlp_stlr import advice
from allennlp_stlr.layers import label_groups

logger = logging.getLogger(__name__)


@TrainerCallback.register("stlr_checks")
class ConfigChecks(TrainerCallback):
    """
    Logs, as WARNINGs before the first epoch, what `stlr-preview` warns about settings that
    the scheduler cannot see: `trainer.patience`, and under distributed training a missing
    `find_unused_parameters` and `parameter_groups` regexes that DDP's `module.` prefix
    defeats (`allennlp_stlr.advice`). It reads the config from `config.json` in the
    serialization directory, which `allennlp train` writes before it builds the trainer;
    without that file (a trainer built in code) it logs nothing.

    Registered as a `TrainerCallback` with name "stlr_checks", and reachable without a
    plugins file as `"type": "allennlp_stlr.ConfigChecks"`.

    # Parameters

    serialization_dir : `str`
        Passed in by the trainer.
    """

    def on_start(self, trainer: Any, is_primary: bool = True, **kwargs: Any) -> None:
        path = os.path.join(self.serialization_dir, CONFIG_NAME)
        if not is_primary or not os.path.exists(path):
            return  # one worker says it; a trainer built in code has no config file
        with open(path) as handle:
            config = json.load(handle)
        # The optimizer's parameters, as the preview sees them: gradual unfreezing has already
        # set `requires_grad = False` on the lower groups.
        optimized = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
        names = [name for name, param in trainer.model.named_parameters() if id(param) in optimized]
        for message in advice.config_warnings(config, names):
            logger.warning(message)


@TrainerCallback.register("stlr_trace")
class LearningRateTrace(TrainerCallback):
    """
    Records `{"update", "epoch", "batch", "lr": [...], "trainable": [...]}` per update, plus
    `"resumed_after": N` in a run continued from a checkpoint after update N, and in the first
    line each process writes, `"groups": [...]`, the groups' labels (`layers.label_groups`).

    Registered as a `TrainerCallback` with name "stlr_trace".

    # Parameters

    serialization_dir : `str`
        Passed in by the trainer.
    """

    def __init__(self, serialization_dir: str) -> None:
        super().__init__(serialization_dir)
        self._file: Optional[Any] = None
        self._trainable: Optional[List[bool]] = None
        self._resumed = False
        self._resumed_after: Optional[int] = None
        self._labelled = False

    def on_start(self, trainer: Any, is_primary: bool = True, **kwargs: Any) -> None:
        # The trainer restores its checkpoint before `on_start`, and then counts the updates
        # it skips, so their number is known only at the first update it runs.
        self._resumed = bool(
            trainer._start_after_epochs_completed or trainer._start_after_batches_in_epoch_completed
        )
        self._resumed_after = None

    def on_backward(
        self, trainer: Any, batch_outputs: Dict[str, Any], backward_called: bool, **kwargs: Any
    ) -> bool:
        # The flags this update's backward pass runs with: with unfreezing by updates,
        # `step_batch` sets the next update's flags before `on_batch` runs.
        if self._trainable is None:
            self._trainable = _trainable(trainer)
        return False

    def _open(self) -> Any:
        if self._file is None:
            name = "stlr_trace.jsonl"
            if dist.is_available() and dist.is_initialized():
                name = f"stlr_trace_worker{dist.get_rank()}.jsonl"
            self._file = open(os.path.join(self.serialization_dir, name), "a")
        return self._file

    def on_batch(
        self,
        trainer: Any,
        batch_inputs: List[TensorDict],
        batch_outputs: List[Dict[str, Any]],
        batch_metrics: Dict[str, Any],
        epoch: int,
        batch_number: int,
        is_training: bool,
        is_primary: bool = True,
        batch_grad_norm: Optional[float] = None,
        **kwargs: Any,
    ) -> None:
        if not is_training:
            return
        groups = trainer.optimizer.param_groups
        trainable = self._trainable if self._trainable is not None else _trainable(trainer)
        self._trainable = None
        update = trainer._total_batches_completed
        record: Dict[str, Any] = {
            "update": update,
            "epoch": epoch,
            "batch": batch_number,
            "lr": [group["lr"] for group in groups],
            "trainable": trainable,
        }
        if self._resumed:
            if self._resumed_after is None:
                self._resumed_after = update - 1
            record["resumed_after"] = self._resumed_after
        if not self._labelled:
            # The first line a process writes names the groups, as the log and preview do.
            record["groups"] = label_groups([group.get("name") for group in groups])
            self._labelled = True
        out = self._open()
        out.write(json.dumps(record) + "\n")
        out.flush()

    def on_end(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _trainable(trainer: Any) -> List[bool]:
    return [all(p.requires_grad for p in group["params"]) for group in trainer.optimizer.param_groups]
