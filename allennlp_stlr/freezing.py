"""
Freezing a layer group so that the optimizer leaves it alone.

`requires_grad = False` alone is not enough: AllenNLP 2.10's trainer calls
`optimizer.zero_grad()`, which in torch 1.12 fills an existing `.grad` with zeros instead of
dropping it, and Adam, AdamW or SGD with momentum go on moving a parameter with a zero
gradient (momentum, weight decay). Every torch and AllenNLP optimizer skips a parameter whose
`.grad` is None, so a frozen parameter's gradient is dropped when it is frozen and again
before every update while it stays frozen (a loop may have re-created it).
"""
from typing import Any, Dict, List, Sequence

import torch


def apply(param_groups: Sequence[Dict[str, Any]], trainable: Sequence[bool]) -> List[torch.Tensor]:
    """Set `requires_grad` of every parameter by its group's flag; return the frozen ones,
    whose gradients are dropped."""
    frozen: List[torch.Tensor] = []
    for group, flag in zip(param_groups, trainable):
        for param in group["params"]:
            param.requires_grad = flag
            if not flag:
                param.grad = None
                frozen.append(param)
    return frozen


def drop_gradients(frozen: Sequence[torch.Tensor]) -> None:
    """Before an update: a frozen parameter must have no gradient for the optimizer to see."""
    for param in frozen:
        # Reading is cheaper than writing, and the gradient is almost always gone already.
        if param.grad is not None:
            param.grad = None
