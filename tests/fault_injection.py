"""
A trainer callback that SIGKILLs its own `allennlp train` process at a given update.

Load it with `--include-package tests.fault_injection` (PYTHONPATH = repository root). It
kills only once per serialization directory (it leaves a marker file), so the same config
can be given to the `--recover` run that AllenNLP requires to be identical.

It kills from `on_batch`, after the callbacks listed before it (e.g. `stlr_trace`) have
recorded the update and before the checkpointer runs: a kill at a random moment could
land in the middle of AllenNLP's (non-atomic) checkpoint writing, which no scheduler can
survive and which would make a test flaky.
"""
import os
import signal
from typing import Any

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
    """

    def __init__(self, serialization_dir: str, update: int) -> None:
        super().__init__(serialization_dir)
        self.update = update

    def on_batch(self, trainer: Any, *args: Any, is_training: bool = True, **kwargs: Any) -> None:
        if not is_training or trainer._total_batches_completed != self.update:
            return
        marker = os.path.join(self.serialization_dir, MARKER)
        if os.path.exists(marker):
            return
        with open(marker, "w") as out:
            out.write(f"{self.update}\n")
        os.kill(os.getpid(), signal.SIGKILL)
