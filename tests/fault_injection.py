"""
A trainer callback that SIGKILLs its own `allennlp train` process at a given update.

Load it with `--include-package tests.fault_injection` (PYTHONPATH = repository root). It
kills only once per serialization directory (it leaves a marker file), so the same config
can be given to the `--recover` run that AllenNLP requires to be identical.

It kills from `on_batch`, after the callbacks listed before it (e.g. `stlr_trace`) have
recorded the update and before the checkpointer runs: a kill at a random moment could
land in the middle of AllenNLP's (non-atomic) checkpoint writing, which no scheduler can
survive and which would make a test flaky.

Under distributed training every worker runs the callback; with `rank` set, only that
worker kills itself, as when one machine of a job dies, and the others are left to notice.
"""
import os
import signal
from typing import Any, Optional

import torch.distributed as dist

from allennlp.training.callbacks.callback import TrainerCallback

MARKER = "sigkill_at_update.fired"


@TrainerCallback.register("sigkill_at_update")
class SigkillAtUpdate(TrainerCallback):
    """
    Registered as a `TrainerCallback` with name "sigkill_at_update".

    # Parameters

    serialization_dir : `str`
        Passed in by the trainer.
    update : `int`
        The 1-based optimizer update after which the process is killed.
    rank : `Optional[int]`, optional (default = `None`)
        Under distributed training, the rank of the one worker to kill; `None` lets every
        worker try (the first to leave the marker file dies).
    """

    def __init__(self, serialization_dir: str, update: int, rank: Optional[int] = None) -> None:
        super().__init__(serialization_dir)
        self.update = update
        self.rank = rank

    def on_batch(self, trainer: Any, *args: Any, is_training: bool = True, **kwargs: Any) -> None:
        if not is_training or trainer._total_batches_completed != self.update:
            return
        if self.rank is not None and dist.is_available() and dist.is_initialized():
            if dist.get_rank() != self.rank:
                return
        marker = os.path.join(self.serialization_dir, MARKER)
        if os.path.exists(marker):
            return
        with open(marker, "w") as out:
            out.write(f"{self.update}\n")
        os.kill(os.getpid(), signal.SIGKILL)
