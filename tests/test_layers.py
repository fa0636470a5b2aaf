"""
Param groups that share a `name` are one layer (`allennlp_stlr.layers`): built from a config
the way AllenNLP builds an optimizer, each of three layers is two param groups, the decayed
weights and the `weight_decay: 0` biases, and the scheduler treats the pair as one layer at
every update.
"""
from typing import Any, Dict, List

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.training.optimizers import Optimizer

from allennlp_stlr.layers import label_groups, layers_of
from tests.helpers import Tiny, build, drive, rates

MODULES = ("embed", "encoder", "head")


def split_groups() -> List[Any]:
    """Per module, a decayed half (weights) and a no-decay half (biases), under one name."""
    groups = []
    for module in MODULES:
        groups.append([[f"^{module}\\.weight$"], {"name": module}])
        groups.append([[f"^{module}\\.bias$"], {"name": module, "weight_decay": 0.0}])
    return groups


def split_optimizer(kind: str = "adamw") -> torch.optim.Optimizer:
    torch.manual_seed(0)
    return Optimizer.from_params(
        model_parameters=list(Tiny().named_parameters()),
        params=Params(
            {"type": kind, "lr": 0.01, "weight_decay": 0.1, "parameter_groups": split_groups()}
        ),
    )


@pytest.mark.parametrize(
    "sizes, names, gradual, layers",
    [
        ([3, 3, 3, 0], ["a", "b", "c", "d"], True, [[0], [1], [2]]),  # no shared names
        ([3, 1, 3, 1, 0], ["a", "a", "b", "b", "d"], True, [[0, 1], [2, 3]]),
        ([3, 1, 3, 1, 5], ["a", "a", "b", "b", "d"], False, [[0, 1], [2, 3], [4]]),  # default
        ([3, 3, 1, 0], ["a", "b", "a", "d"], True, [[0, 2], [1]]),  # placed by its first group
        ([3, 3, 0], ["", "", "d"], True, [[0], [1]]),  # unnamed groups are layers of their own
    ],
)
def test_layers_of_param_groups(sizes, names, gradual, layers):
    assert layers_of(sizes, names, gradual) == layers


# Expected per update for 4 epochs of 5 updates, 3 layers of two groups (+ AllenNLP's empty
# default group): which layers train (by epochs: the top one, then two, then all), and the
# discriminative factor of each group's layer.
FACTORS = [0.25, 0.25, 0.5, 0.5, 1.0, 1.0, 1.0]


def test_two_groups_per_layer_share_rate_factor_and_unfreezing() -> None:
    optimizer = split_optimizer()
    assert [len(g["params"]) for g in optimizer.param_groups] == [1, 1, 1, 1, 1, 1, 0]
    scheduler = build(
        optimizer,
        num_epochs=4,
        num_steps_per_epoch=5,
        gradual_unfreezing=True,
        discriminative_fine_tuning=True,
        decay_factor=0.5,
    )
    assert scheduler.base_values == pytest.approx([0.01 * f for f in FACTORS])
    seen = drive(scheduler, optimizer, [5, 5, 5, 5])
    for update, (lrs, flags) in enumerate(seen, start=1):
        epoch = (update - 1) // 5
        layers_trained = min(epoch + 1, 3)
        # Both halves of a layer: one rate, one flag; the factor holds between layers.
        assert lrs[0::2][:3] == lrs[1::2][:3], update
        assert lrs[:6] == pytest.approx([lrs[4] * f for f in FACTORS[:6]]), update
        assert flags[:6] == [layer >= 3 - layers_trained for layer in (0, 0, 1, 1, 2, 2)], update
    # Each group keeps the options it was configured with.
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.1, 0.0] * 3 + [0.1]
    assert [g.get("name") for g in optimizer.param_groups][:6] == [m for m in MODULES for _ in (0, 1)]


def test_stages_by_updates_count_layers_not_groups() -> None:
    # 3 layers of 2 groups: 2 frozen stages of 4 updates, then all train from update 9.
    optimizer = split_optimizer()
    scheduler = build(
        optimizer,
        num_epochs=2,
        num_steps_per_epoch=10,
        gradual_unfreezing=True,
        unfreeze_every_num_updates=4,
    )
    seen = drive(scheduler, optimizer, [10, 10])
    bottom = [flags[0] and flags[1] for _, flags in seen]
    middle = [flags[2] and flags[3] for _, flags in seen]
    assert bottom == [False] * 8 + [True] * 12
    assert middle == [False] * 4 + [True] * 16
    first, _ = seen[0]
    assert first[:6] == rates([0.01] * 6, 1.0, 32)  # a 4-update stage peaks at its first update


def test_epochs_gradual_unfreezing_needs_count_layers() -> None:
    # 6 groups but 3 layers: 3 epochs are enough; 2 are not, and the message counts layers.
    build(split_optimizer(), num_epochs=3, num_steps_per_epoch=5, gradual_unfreezing=True)
    with pytest.raises(ConfigurationError, match=r"`num_epochs` = 2 for 3 layer groups"):
        build(split_optimizer(), num_epochs=2, num_steps_per_epoch=5, gradual_unfreezing=True)


@pytest.mark.parametrize("kind", ["adam", "adamw", "sgd"])
def test_state_dict_round_trip_keeps_the_layers(kind: str) -> None:
    config: Dict[str, Any] = dict(
        num_epochs=4, num_steps_per_epoch=5, gradual_unfreezing=True, discriminative_fine_tuning=True
    )
    first = split_optimizer(kind)
    scheduler = build(first, **config)
    full = drive(scheduler, first, [5, 5, 5, 5])
    halfway = build(split_optimizer(kind), **config)
    drive(halfway, halfway.optimizer, [5, 5])
    resumed_optimizer = split_optimizer(kind)
    resumed = build(resumed_optimizer, **config)
    resumed.load_state_dict(halfway.state_dict())
    assert drive(resumed, resumed_optimizer, [5, 5, 5, 5], start=(2, 0)) == full[10:]


@pytest.mark.parametrize(
    "names, labels",
    [
        (["embed", "encoder", "(default)"], ["embed", "encoder", "(default)"]),
        (["a", "a", "b", None], ["a [1/2]", "a [2/2]", "b", "group 3"]),
        ([None], ["group 0"]),
    ],
)
def test_one_label_per_group(names, labels):
    assert label_groups(names) == labels


def test_the_log_labels_each_group_with_its_layer(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="allennlp_stlr.scheduler")
    build(split_optimizer(), num_epochs=3, num_steps_per_epoch=5, gradual_unfreezing=True)
    table = next(r.getMessage() for r in caplog.records if "layer groups (start)" in r.getMessage())
    rows = [line.split(None, 4) for line in table.splitlines()[2:]]
    assert [row[-1] for row in rows] == [
        f"{m} [{k}/2]" for m in MODULES for k in (1, 2)
    ] + ["group 6"]
    assert [row[3] for row in rows] == ["frozen"] * 4 + ["trainable"] * 3
