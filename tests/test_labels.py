"""
A param group's label is its `name` option, else `group k` (k its index in the optimizer), the
same for every optimizer AllenNLP builds, whichever way the plugin was loaded: the plugin
changes nothing in how AllenNLP builds param groups.
"""
import logging
from typing import Any, Dict, List, Optional, Sequence

import pytest
import torch
from allennlp.common import Params
from allennlp.training.optimizers import Optimizer

from allennlp_stlr.layers import label_groups
from tests.helpers import build

NAMES = ("emb.w", "enc.w", "head.w")


def optimizer(groups: Optional[List[Any]], extra: Sequence[str] = (), **config: Any) -> Optimizer:
    named = [(name, torch.nn.Parameter(torch.zeros(2))) for name in (*NAMES, *extra)]
    params: Dict[str, Any] = {"type": "adam", "lr": 0.1}
    params.update(config)
    params = {key: value for key, value in params.items() if value is not None}
    if groups is not None:
        params["parameter_groups"] = groups
    return Optimizer.from_params(model_parameters=named, params=Params(params))


def labels(built: torch.optim.Optimizer) -> List[str]:
    return label_groups([group.get("name") for group in built.param_groups])


@pytest.mark.parametrize(
    "groups, expected",
    [
        # No names: each group by its index, the default group too.
        ([[["^emb\\.", "^pos\\."], {}], [["^enc\\."], {}]], ["group 0", "group 1", "group 2"]),
        # A name wins; the others keep their index.
        ([[["^emb\\."], {"name": "embeddings"}], [["^enc\\."], {}]], ["embeddings", "group 1", "group 2"]),
        # Groups that share a name are one layer: `name [k/n]`.
        (
            [[["^emb\\."], {"name": "low"}], [["^enc\\."], {"name": "low"}], [["^head\\."], {"name": "head"}]],
            ["low [1/2]", "low [2/2]", "head", "group 3"],
        ),
        # No parameter_groups: one group.
        (None, ["group 0"]),
    ],
)
def test_labels_are_names_else_indices(groups: Optional[List[Any]], expected: List[str]) -> None:
    assert labels(optimizer(groups)) == expected


def test_groups_dropped_by_requires_grad_false_shift_the_indices() -> None:
    built = optimizer([[["^emb\\."], {"requires_grad": False}], [["^enc\\."], {"name": "enc"}], [["^head\\."], {}]])
    assert labels(built) == ["enc", "group 1", "group 2"]


def test_multi_optimizer_groups_are_labelled_the_same_way() -> None:
    built = optimizer(
        [
            [["^emb\\."], {"optimizer_name": "slow", "name": "embeddings"}],
            [["^enc\\."], {"optimizer_name": "slow"}],
            [["^head\\."], {"optimizer_name": "default"}],
        ],
        type="multi",
        lr=None,
        optimizers={"default": {"type": "adam", "lr": 0.1}, "slow": {"type": "sgd", "lr": 0.01}},
    )
    assert labels(built)[:3] == ["embeddings", "group 1", "group 2"]


def test_the_scheduler_log_names_groups_by_their_labels(caplog: pytest.LogCaptureFixture) -> None:
    built = optimizer([[["^emb\\."], {"name": "embeddings"}], [["^enc\\."], {}], [["^head\\."], {"name": "head"}]])
    with caplog.at_level(logging.INFO, logger="allennlp_stlr.scheduler"):
        build(built, num_epochs=3, num_steps_per_epoch=2, gradual_unfreezing=True)
    table = [r.getMessage() for r in caplog.records if "layer groups" in r.getMessage()][0]
    rows = table.splitlines()[2:]
    assert rows[0].endswith("embeddings") and "frozen" in rows[0]
    assert rows[1].endswith("group 1") and "frozen" in rows[1]
    assert rows[2].endswith("head") and "trainable" in rows[2]
    assert rows[3].endswith("group 3")
