"""
Our class exposes the readable attributes of AllenNLP's built-in SlantedTriangular, with the
values the built-in has at the same point of a run, so code (and tests) written against the
built-in keep working: `freezing_current` (whether gradual unfreezing is still under way)
and `last_epoch` after construction, after every update and after every `step()`, and the
hyperparameters and per-group `base_values`.

Both classes are built from the same `Params`, the way AllenNLP builds them, on identical
optimizers (three layer groups and AllenNLP's empty default group), and driven in the
trainer's call order over epochs long enough that the built-in is right (every
`int(T * cut_frac) >= 1`, at least one epoch per layer group).
"""
import copy
from typing import Any, Dict, List, Tuple

import pytest
import torch
from allennlp.common import Lazy, Params
from allennlp.training.learning_rate_schedulers import LearningRateScheduler
from allennlp.training.learning_rate_schedulers.slanted_triangular import (
    SlantedTriangular as BuiltinSlantedTriangular,
)
from allennlp.training.optimizers import Optimizer

import allennlp_stlr  # noqa: F401  (registers our "slanted_triangular")
from allennlp_stlr.scheduler import SlantedTriangular
from tests.helpers import TINY_OPTIMIZER as OPTIMIZER, Tiny

STEPS_PER_EPOCH = 10
CONSTANT = ["num_epochs", "num_steps_per_epoch", "cut_frac", "ratio", "gradual_unfreezing"]
CHANGING = ["freezing_current", "last_epoch", "is_first_epoch"]

# scheduler config, num_epochs
CASES: List[Tuple[Dict[str, Any], int]] = [
    ({}, 3),
    ({"gradual_unfreezing": True}, 3),
    ({"gradual_unfreezing": True}, 5),
    ({"discriminative_fine_tuning": True, "decay_factor": 0.5}, 3),
    ({"gradual_unfreezing": True, "discriminative_fine_tuning": True}, 4),
    ({"gradual_unfreezing": True, "cut_frac": 0.3, "ratio": 8}, 4),
]


def optimizer() -> torch.optim.Optimizer:
    torch.manual_seed(0)
    model = Tiny()
    return Optimizer.from_params(
        model_parameters=[[n, p] for n, p in model.named_parameters()],
        params=Params(copy.deepcopy(OPTIMIZER)),
    )


def pair(config: Dict[str, Any], num_epochs: int) -> Tuple[Any, Any]:
    extras = {"num_epochs": num_epochs, "num_steps_per_epoch": STEPS_PER_EPOCH}
    ours = Lazy(
        LearningRateScheduler, params=Params({"type": "slanted_triangular", **config})
    ).construct(optimizer=optimizer(), **extras)
    builtin = Lazy(BuiltinSlantedTriangular, params=Params(dict(config))).construct(
        optimizer=optimizer(), **extras
    )
    assert isinstance(ours, SlantedTriangular)
    return ours, builtin


def readable(scheduler: Any, names: List[str]) -> Dict[str, Any]:
    return {name: getattr(scheduler, name, "<missing>") for name in names}


@pytest.mark.parametrize(
    "config, num_epochs", CASES, ids=[f"{c}-{e}-epochs" for c, e in CASES]
)
def test_readable_attributes_match_the_builtin_at_every_point(
    config: Dict[str, Any], num_epochs: int
) -> None:
    ours, builtin = pair(config, num_epochs)
    assert readable(ours, CONSTANT) == readable(builtin, CONSTANT)
    assert ours.base_values == pytest.approx(builtin.base_values, rel=1e-12)

    points = {"constructed": (readable(ours, CHANGING), readable(builtin, CHANGING))}
    update = 0
    for epoch in range(num_epochs):
        for _ in range(STEPS_PER_EPOCH):
            update += 1
            ours.step_batch(update)
            builtin.step_batch(update)
            points[f"update {update}"] = (readable(ours, CHANGING), readable(builtin, CHANGING))
        ours.step()
        builtin.step()
        points[f"step() {epoch + 1}"] = (readable(ours, CHANGING), readable(builtin, CHANGING))
    differ = {point: values for point, values in points.items() if values[0] != values[1]}
    assert not differ, f"point: (ours, built-in) {differ}"


def test_freezing_current_follows_the_unfreezing_stages() -> None:
    """The built-in's meaning, spelled out: True until every layer group trains."""
    ours, _ = pair({"gradual_unfreezing": True}, 4)
    seen = [getattr(ours, "freezing_current", "<missing>")]
    for epoch in range(4):
        for update in range(epoch * STEPS_PER_EPOCH + 1, (epoch + 1) * STEPS_PER_EPOCH + 1):
            ours.step_batch(update)
        ours.step()
        seen.append(getattr(ours, "freezing_current", "<missing>"))
    # Three layer groups: the top one trains alone, then two, then all three from epoch 2.
    assert seen == [True, True, False, False, False]
