"""
Test-only trainer callbacks that record what a real `allennlp train` run did.

Load them with `--include-package tests.probes` (PYTHONPATH = repository root). This module
must not import `allennlp_stlr`: the tests that run without the plugin use these probes to
see which scheduler class served, and importing the plugin here would register it.

- "parameter_digest" writes, at `on_start` and `on_end`, a digest of every parameter and the
  names of the frozen ones, so tests can compare the replicas of distributed workers and
  check that a parameter the config froze never changed.
- "scheduler_record" writes, for every optimizer update, the class of the learning-rate
  scheduler that served it and the learning rate of each param group.

Each writes one JSON line per record, per worker under distributed training
(`<name>_worker{rank}.jsonl`), appended across `--recover`.
"""
import hashlib
import json
import os
from typing import Any, Dict, Optional, TextIO

import torch
import torch.distributed as dist
from allennlp.training.callbacks.callback import TrainerCallback


def _output(serialization_dir: str, stem: str) -> TextIO:
    name = f"{stem}.jsonl"
    if dist.is_available() and dist.is_initialized():
        name = f"{stem}_worker{dist.get_rank()}.jsonl"
    return open(os.path.join(serialization_dir, name), "a")


def digest(tensor: torch.Tensor) -> str:
    """Exact: equal digests mean bit-for-bit equal values."""
    return hashlib.sha256(tensor.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


@TrainerCallback.register("parameter_digest")
class ParameterDigest(TrainerCallback):
    """
    Registered as a `TrainerCallback` with name "parameter_digest".

    Writes `{"event": "start" | "end", "parameters": {name: sha256}, "frozen": [name, ...]}`
    to `parameter_digest.jsonl`, with names as in the unwrapped model (no `module.`); with
    `every_update`, also `{"event": "update", "update": n, ...}` after each optimizer update.

    # Parameters

    serialization_dir : `str`
        Passed in by the trainer.
    every_update : `bool`, optional (default = `False`)
        Also write a record after every optimizer update.
    """

    def __init__(self, serialization_dir: str, every_update: bool = False) -> None:
        super().__init__(serialization_dir)
        self.every_update = every_update

    def _write(self, trainer: Any, event: str, **extra: Any) -> None:
        named = list(trainer.model.named_parameters())
        record: Dict[str, Any] = {
            "event": event,
            **extra,
            "parameters": {name: digest(param) for name, param in named},
            "frozen": [name for name, param in named if not param.requires_grad],
        }
        with _output(self.serialization_dir, "parameter_digest") as out:
            out.write(json.dumps(record) + "\n")

    def on_start(self, trainer: Any, is_primary: bool = True, **kwargs: Any) -> None:
        self._write(trainer, "start")

    def on_batch(self, trainer: Any, *args: Any, is_training: bool = True, **kwargs: Any) -> None:
        if self.every_update and is_training:
            self._write(trainer, "update", update=trainer._total_batches_completed)

    def on_end(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
        self._write(trainer, "end")


@TrainerCallback.register("scheduler_record")
class SchedulerRecord(TrainerCallback):
    """
    Registered as a `TrainerCallback` with name "scheduler_record".

    Writes `{"update", "scheduler": "module.Class", "lr": [...]}` per optimizer update to
    `scheduler_record.jsonl`.

    # Parameters

    serialization_dir : `str`
        Passed in by the trainer.
    """

    def __init__(self, serialization_dir: str) -> None:
        super().__init__(serialization_dir)
        self._file: Optional[TextIO] = None

    def on_batch(self, trainer: Any, *args: Any, is_training: bool = True, **kwargs: Any) -> None:
        if not is_training:
            return
        scheduler = trainer._learning_rate_scheduler
        record = {
            "update": trainer._total_batches_completed,
            "scheduler": f"{type(scheduler).__module__}.{type(scheduler).__qualname__}",
            "lr": [group["lr"] for group in trainer.optimizer.param_groups],
        }
        if self._file is None:
            self._file = _output(self.serialization_dir, "scheduler_record")
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def on_end(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
