"""
Freezing a layer group so that the optimizer leaves it alone.

`requires_grad = False` alone is not enough: AllenNLP 2.10's trainer calls
`optimizer.zero_grad()`, which in torch 1.12 fills an existing `.grad` with zeros instead of
dropping it, and Adam, AdamW or SGD with momentum go on moving a parameter with a zero
gradient (momentum, weight decay). Every torch and AllenNLP optimizer skips a parameter whose
`.grad` is None, so a frozen parameter's gradient is dropped when it is frozen. Nothing gives
it back while it stays frozen (`zero_grad()` keeps a missing gradient missing, backward and
DDP's reducer make none for a parameter that does not require one), so the hot path does not
check again: docs/internals.md#frozen-means-frozen.
"""
from typing import Any, Dict, Sequence


def apply(param_groups: Sequence[Dict[str, Any]], trainable: Sequence[bool]) -> None:
    """Set `requires_grad` of every parameter by its group's flag, and drop the gradients of
    the frozen ones."""
    for group, flag in zip(param_groups, trainable):
        for param in group["params"]:
            param.requires_grad = flag
            if not flag:
                param.grad = None

