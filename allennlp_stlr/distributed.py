"""Agreement on the schedule's inputs between the workers of distributed training."""
import logging
from typing import Optional

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


def agree_on_steps_per_epoch(num_steps_per_epoch: Optional[int]) -> Optional[int]:
    """
    The epoch length every worker should plan with.

    Each worker's trainer measures the length of its own data shard, and shards can differ
    by a batch. AllenNLP ends an epoch for all workers as soon as one of them runs out, so
    the shortest shard is the real epoch length; if any worker cannot tell, none can.
    Outside distributed training the value is returned unchanged.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return num_steps_per_epoch
    device = (
        torch.device("cuda", torch.cuda.current_device())
        if dist.get_backend() == "nccl"
        else torch.device("cpu")
    )
    mine = -1 if num_steps_per_epoch is None else num_steps_per_epoch
    # One all_reduce gives both the minimum and (negated) the maximum.
    both = torch.tensor([mine, -mine], dtype=torch.long, device=device)
    dist.all_reduce(both, op=dist.ReduceOp.MIN)
    lowest, highest = int(both[0]), -int(both[1])
    agreed = None if lowest < 0 else lowest
    if lowest != highest:
        logger.info(
            "slanted_triangular: workers measured %s to %s updates per epoch; all plan with %s "
            "(AllenNLP ends each epoch when the shortest shard runs out).",
            lowest if lowest >= 0 else "unknown",
            highest,
            agreed if agreed is not None else "an unknown length",
        )
    return agreed
