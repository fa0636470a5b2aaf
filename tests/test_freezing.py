"""
A frozen layer group does not change, with every optimizer AllenNLP registers.

AllenNLP 2.10's trainer calls `optimizer.zero_grad()`, which in torch 1.12 fills an existing
`.grad` with zeros: a parameter that trained and is then frozen keeps a zero gradient, which
Adam, AdamW and SGD with momentum go on stepping. The runs here are AllenNLP's `combined`
scheduler built from `Params` as the trainer builds it: one epoch of a plain triangle (every
group trains and gets gradients), then a phase of gradual unfreezing that freezes the lower
groups again, driven in the trainer's call order with real forward and backward passes.
"""
import copy
from typing import Any, Callable, Dict, List

import pytest
import torch
from allennlp.common import Params
from allennlp.training.learning_rate_schedulers import LearningRateScheduler
from allennlp.training.optimizers import Optimizer

from tests.helpers import TINY_OPTIMIZER, Tiny, drive

STEPS_PER_EPOCH = 4
# Phase 2 (updates 5-12) unfreezes every 2 updates: `embed` is frozen in updates 5-8,
# `encoder` in 5-6, `head` trains throughout.
FROZEN_THROUGH = {"embed": 8, "encoder": 6}
COMBINED = {
    "type": "combined",
    "schedulers": [
        [1, {"type": "slanted_triangular"}],
        [2, {"type": "slanted_triangular", "gradual_unfreezing": True, "unfreeze_every_num_updates": 2}],
    ],
}

# optimizer config (beside `lr` and `parameter_groups`), by AllenNLP's registered name
OPTIMIZERS: Dict[str, Dict[str, Any]] = {
    "adam": {"type": "adam"},
    "adam-weight-decay": {"type": "adam", "weight_decay": 0.1},
    "adamw": {"type": "adamw", "weight_decay": 0.1},
    "huggingface_adamw": {"type": "huggingface_adamw", "weight_decay": 0.1},
    "huggingface_adafactor": {
        "type": "huggingface_adafactor",
        "relative_step": False,
        "scale_parameter": False,
        "weight_decay": 0.1,
    },
    "sgd-momentum": {"type": "sgd", "momentum": 0.9, "weight_decay": 0.01},
    "rmsprop-momentum": {"type": "rmsprop", "momentum": 0.5, "weight_decay": 0.01},
    "adagrad": {"type": "adagrad", "weight_decay": 0.1},
    "adadelta": {"type": "adadelta", "weight_decay": 0.1},
    "adamax": {"type": "adamax", "weight_decay": 0.1},
    "averaged_sgd": {"type": "averaged_sgd", "weight_decay": 0.1},
    "dense_sparse_adam": {"type": "dense_sparse_adam"},
}


def train(optimizer_config: Dict[str, Any], before_backward: Callable[[torch.nn.Module], None]) -> List[Dict[str, torch.Tensor]]:
    """The weights of every module after each update (index 0: before training)."""
    torch.manual_seed(0)
    model = Tiny()
    config = dict(copy.deepcopy(TINY_OPTIMIZER), **optimizer_config)
    optimizer = Optimizer.from_params(
        model_parameters=list(model.named_parameters()), params=Params(config)
    )
    scheduler = LearningRateScheduler.from_params(
        params=Params(copy.deepcopy(COMBINED)),
        optimizer=optimizer,
        num_epochs=3,
        num_steps_per_epoch=STEPS_PER_EPOCH,
    )
    inputs = torch.randn(8, 3)
    targets = torch.tensor([0, 1] * 4)

    def snapshot() -> Dict[str, torch.Tensor]:
        return {
            name: torch.cat([p.detach().flatten() for p in module.parameters()]).clone()
            for name, module in model.named_children()
        }

    weights = [snapshot()]

    def forward_backward(update: int) -> None:
        optimizer.zero_grad()
        before_backward(model)
        torch.nn.functional.cross_entropy(model(inputs), targets).backward()

    def optimizer_step(update: int, epoch_ends: List[int]) -> None:
        optimizer.step()
        weights.append(snapshot())

    drive(scheduler, optimizer, [STEPS_PER_EPOCH] * 3, before=forward_backward, after=optimizer_step)
    return weights


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_group_frozen_after_it_trained_does_not_move(name: str) -> None:
    weights = train(OPTIMIZERS[name], lambda model: None)
    assert len(weights) == 3 * STEPS_PER_EPOCH + 1
    for module, last_frozen in FROZEN_THROUGH.items():
        # Trained in phase 1, unchanged while frozen, trained again once unfrozen.
        assert not torch.equal(weights[0][module], weights[STEPS_PER_EPOCH][module])
        moved = [
            update
            for update in range(STEPS_PER_EPOCH + 1, last_frozen + 1)
            if not torch.equal(weights[update][module], weights[STEPS_PER_EPOCH][module])
        ]
        assert moved == [], f"{module} moved while frozen, in updates {moved}"
        assert not torch.equal(weights[-1][module], weights[STEPS_PER_EPOCH][module])
    assert all(
        not torch.equal(weights[update]["head"], weights[update - 1]["head"])
        for update in range(1, len(weights))
    )
