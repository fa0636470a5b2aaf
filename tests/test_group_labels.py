"""Param groups built by AllenNLP's optimizers carry their regexes as a name."""
import logging

import torch
from allennlp.common import Params
from allennlp.training.optimizers import Optimizer

from allennlp_stlr.group_labels import DEFAULT_GROUP_NAME
from tests.test_scheduler import build


def optimizer(groups, extra=()):
    named = [(name, torch.nn.Parameter(torch.zeros(2))) for name in ("emb.w", "enc.w", "head.w", *extra)]
    return Optimizer.from_params(
        model_parameters=named,
        params=Params({"type": "adam", "lr": 0.1, "parameter_groups": groups}),
    )


def test_groups_are_named_by_their_regexes_unless_the_config_names_them():
    built = optimizer([[["^emb\\.", "^pos\\."], {}], [["^enc\\."], {"name": "encoder"}], [["^head\\."], {"lr": 0.5}]])
    names = [group["name"] for group in built.param_groups]
    assert names == ["^emb\\. ^pos\\.", "encoder", "^head\\.", DEFAULT_GROUP_NAME]
    assert built.param_groups[2]["lr"] == 0.5


def test_a_dropped_group_gets_no_name_and_no_warning(caplog):
    with caplog.at_level(logging.WARNING):
        built = optimizer([[["^emb\\."], {"requires_grad": False}], [["^enc\\."], {}]])
    assert [group["name"] for group in built.param_groups] == ["^enc\\.", DEFAULT_GROUP_NAME]
    assert not [r for r in caplog.records if "unused options" in r.getMessage()]


def test_without_parameter_groups_nothing_is_named():
    named = [("w", torch.nn.Parameter(torch.zeros(2)))]
    built = Optimizer.from_params(model_parameters=named, params=Params({"type": "sgd", "lr": 0.1}))
    assert "name" not in built.param_groups[0]


def test_the_scheduler_log_names_groups_by_their_regexes(caplog):
    built = optimizer([[["^emb\\."], {}], [["^enc\\."], {}], [["^head\\."], {}]])
    with caplog.at_level(logging.INFO, logger="allennlp_stlr.scheduler"):
        build(built, num_epochs=3, num_steps_per_epoch=2, gradual_unfreezing=True)
    table = [r.getMessage() for r in caplog.records if "layer groups" in r.getMessage()][0]
    rows = table.splitlines()[2:]
    assert rows[0].split()[-1] == "^emb\\." and "frozen" in rows[0]
    assert rows[2].split()[-1] == "^head\\." and "trainable" in rows[2]
    assert rows[3].endswith(DEFAULT_GROUP_NAME)
