"""Agreement on the schedule's inputs between the workers of distributed training."""
import logging
from typing import Any, List, Optional, Tuple

import torch
import torch.distributed as dist
from allennlp.common.checks import ConfigurationError
from torch.nn.modules.module import register_module_forward_pre_hook
from torch.nn.parallel import DistributedDataParallel
from torch.utils.hooks import RemovableHandle

from allennlp_stlr.checks import report

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


FIND_UNUSED_HINT = (
    'add "ddp_accelerator": {"type": "torch", "find_unused_parameters": true} to the '
    '"distributed" section of the config'
)


def require_unused_parameter_detection(
    optimizer: torch.optim.Optimizer,
) -> Optional[RemovableHandle]:
    """
    Under distributed training, fail with a `ConfigurationError` at the first forward pass if
    a `DistributedDataParallel` model has optimizer parameters that gradual unfreezing has
    frozen but was built without `find_unused_parameters`.

    AllenNLP wraps the model in DDP before the optimizer and scheduler exist, so DDP expects a
    gradient for every parameter; a frozen one never gets it, and the second batch dies with
    "Expected to have finished reduction in the prior iteration". The scheduler never sees
    the model, so this watches the first forward call of any DDP module (a global forward
    pre-hook, removed after that call) and names the setting that fixes it. Returns the
    hook's handle, or None outside distributed training.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return None
    ours = {id(param) for group in optimizer.param_groups for param in group["params"]}
    handle: List[RemovableHandle] = []

    def check(module: torch.nn.Module, inputs: Tuple[Any, ...]) -> None:
        if not isinstance(module, DistributedDataParallel):
            return
        handle[0].remove()
        if module.find_unused_parameters:
            return
        frozen = [
            name
            for name, param in module.module.named_parameters()
            if id(param) in ours
            and not param.requires_grad
            and name not in module.parameters_to_ignore
        ]
        if frozen:
            raise report(ConfigurationError(
                f"slanted_triangular: `gradual_unfreezing` has frozen {len(frozen)} parameter(s) "
                f"(e.g. {frozen[0]}) of a DistributedDataParallel model that expects a gradient "
                "for every parameter, so the second batch would fail with \"Expected to have "
                "finished reduction in the prior iteration\". To let DDP skip frozen "
                f"parameters, {FIND_UNUSED_HINT}."
            ))

    handle.append(register_module_forward_pre_hook(check))
    return handle[0]
