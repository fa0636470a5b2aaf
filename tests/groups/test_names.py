"""
Param groups built by AllenNLP's optimizers carry their regexes as a name, and the name of
every parameter they hold can be looked up with `names_of`: for a plain optimizer, for
`multi` and its nested optimizers, and whatever was imported first.
"""
import gc
import logging
import subprocess
import sys
from typing import Any, Dict, List, Optional, Sequence

import pytest
import torch
from allennlp.common import Params
from allennlp.training import optimizers
from allennlp.training.optimizers import MultiOptimizer, Optimizer

from allennlp_stlr.groups import names as names_module
from allennlp_stlr.groups.names import DEFAULT_GROUP_NAME, names_of
from tests.helpers import ROOT, build

NAMES = ("emb.w", "enc.w", "head.w")


def optimizer(groups: Optional[List[Any]], extra: Sequence[str] = (), **config: Any) -> Optimizer:
    named = [(name, torch.nn.Parameter(torch.zeros(2))) for name in (*NAMES, *extra)]
    params: Dict[str, Any] = {"type": "adam", "lr": 0.1, **config}
    if groups is not None:
        params["parameter_groups"] = groups
    return Optimizer.from_params(model_parameters=named, params=Params(params))


def group_names(built: torch.optim.Optimizer) -> List[Optional[str]]:
    return [group.get("name") for group in built.param_groups]


def tensor_names(built: torch.optim.Optimizer) -> List[List[Optional[str]]]:
    return [names_of(group["params"]) for group in built.param_groups]


# (parameter_groups, names of the param groups, names of their tensors)
CASES = {
    "regexes": (
        [[["^emb\\.", "^pos\\."], {}], [["^enc\\."], {}]],
        ["^emb\\. ^pos\\.", "^enc\\.", DEFAULT_GROUP_NAME],
        [["emb.w"], ["enc.w"], ["head.w"]],
    ),
    "config_name_wins": (
        [[["^emb\\."], {"name": "embeddings"}], [["^enc\\."], {"lr": 0.5}]],
        ["embeddings", "^enc\\.", DEFAULT_GROUP_NAME],
        [["emb.w"], ["enc.w"], ["head.w"]],
    ),
    "empty_group_and_empty_default": (
        [[["^emb\\."], {}], [["^nothing\\."], {}], [["^enc\\.", "^head\\."], {}]],
        ["^emb\\.", "^nothing\\.", "^enc\\. ^head\\.", DEFAULT_GROUP_NAME],
        [["emb.w"], [], ["enc.w", "head.w"], []],
    ),
    "requires_grad_false_is_dropped": (
        [[["^emb\\."], {"requires_grad": False}], [["^enc\\."], {}]],
        ["^enc\\.", DEFAULT_GROUP_NAME],
        [["enc.w"], ["head.w"]],
    ),
    "every_group_dropped": (
        [[["^emb\\.", "^enc\\."], {"requires_grad": False}]],
        [DEFAULT_GROUP_NAME],
        [["head.w"]],
    ),
    "no_parameter_groups": (None, [None], [list(NAMES)]),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
@pytest.mark.parametrize("kind", ["adam", "sgd", "huggingface_adamw"])
def test_plain_optimizers_name_groups_and_parameters(kind: str, case: str) -> None:
    groups, expected_groups, expected_tensors = CASES[case]
    built = optimizer(groups, type=kind)
    assert group_names(built) == expected_groups
    assert tensor_names(built) == expected_tensors


def test_config_options_are_kept_and_the_config_is_not_changed() -> None:
    groups = [[["^emb\\."], {"lr": 0.5}], [["^enc\\."], {"name": "encoder", "weight_decay": 0.1}]]
    built = optimizer(groups)
    assert built.param_groups[0]["lr"] == 0.5
    assert built.param_groups[1]["weight_decay"] == 0.1
    assert groups == [[["^emb\\."], {"lr": 0.5}], [["^enc\\."], {"name": "encoder", "weight_decay": 0.1}]]


def test_a_dropped_group_gets_no_name_and_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        built = optimizer([[["^emb\\."], {"requires_grad": False}], [["^enc\\."], {}]])
    assert group_names(built) == ["^enc\\.", DEFAULT_GROUP_NAME]
    assert not [r for r in caplog.records if "unused options" in r.getMessage()]


def test_a_named_dropped_group_still_warns_as_allennlp_does(caplog: pytest.LogCaptureFixture) -> None:
    # The config's own unused option: AllenNLP's warning is left alone.
    with caplog.at_level(logging.WARNING):
        optimizer([[["^emb\\."], {"requires_grad": False, "name": "frozen"}]])
    assert [r for r in caplog.records if "Ignoring unused options {'name': 'frozen'}" in r.getMessage()]


MULTI = {
    "type": "multi",
    "optimizers": {
        "default": {"type": "adam", "lr": 0.1},
        "slow": {"type": "sgd", "lr": 0.01},
    },
    "parameter_groups": [
        [["^emb\\."], {"optimizer_name": "slow"}],
        [["^enc\\."], {"optimizer_name": "slow", "name": "encoder"}],
        [["^head\\."], {"lr": 0.3}],
    ],
}


def test_multi_and_its_nested_optimizers_name_groups_and_parameters() -> None:
    named = [(name, torch.nn.Parameter(torch.ones(2))) for name in (*NAMES, "bias")]
    built = Optimizer.from_params(model_parameters=named, params=Params(MULTI))
    assert isinstance(built, MultiOptimizer)
    assert group_names(built) == ["^emb\\.", "encoder", "^head\\.", DEFAULT_GROUP_NAME]
    assert tensor_names(built) == [["emb.w"], ["enc.w"], ["head.w"], ["bias"]]
    slow, default = built.optimizers["slow"], built.optimizers["default"]
    assert group_names(slow) == ["^emb\\.", "encoder", DEFAULT_GROUP_NAME]
    assert tensor_names(slow) == [["emb.w"], ["enc.w"], []]
    assert group_names(default) == ["^head\\.", DEFAULT_GROUP_NAME]
    assert tensor_names(default) == [["head.w"], ["bias"]]
    assert default.param_groups[0]["lr"] == 0.3
    # The extra key does not disturb an update of either nested optimizer.
    for _, parameter in named:
        parameter.grad = torch.ones(2)
    built.step()
    assert [p.data.tolist() != [1.0, 1.0] for _, p in named] == [True] * 4


def test_a_later_name_for_the_same_tensor_wins() -> None:
    parameter = torch.nn.Parameter(torch.zeros(2))
    optimizers.make_parameter_groups([("w", parameter)])
    optimizers.make_parameter_groups([("module.w", parameter)])  # as under DDP
    assert names_of([parameter, torch.zeros(2)]) == ["module.w", None]


def test_names_are_forgotten_with_their_tensors() -> None:
    parameter = torch.nn.Parameter(torch.zeros(2))
    optimizers.make_parameter_groups([("gone.w", parameter)])
    key = id(parameter)
    assert key in names_module._names
    del parameter
    gc.collect()
    assert key not in names_module._names


def test_install_is_idempotent() -> None:
    wrapped = optimizers.make_parameter_groups
    names_module.install()
    assert optimizers.make_parameter_groups is wrapped
    assert wrapped.labels_groups is True  # type: ignore[attr-defined]


def test_no_loaded_module_keeps_the_unwrapped_function() -> None:
    # A fresh process, as `allennlp train` starts: all of allennlp, then the plugin from
    # `.allennlp_plugins`, then every module of the package (some bind the function by name).
    code = (
        "import pkgutil, sys\n"
        "from allennlp.common.plugins import import_plugins; import_plugins()\n"
        "import allennlp_stlr\n"
        "for found in pkgutil.walk_packages(allennlp_stlr.__path__, 'allennlp_stlr.'):\n"
        "    if found.name != 'allennlp_stlr.__main__':\n"
        "        __import__(found.name)\n"
        "from allennlp.training import optimizers\n"
        "assert optimizers.make_parameter_groups.labels_groups\n"
        "stale = sorted(name for name, module in list(sys.modules.items())\n"
        "    if getattr(module, 'make_parameter_groups', None) not in (None, optimizers.make_parameter_groups))\n"
        "print('STALE', stale)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "STALE []" in done.stdout


def test_the_scheduler_log_names_groups_by_their_regexes(caplog: pytest.LogCaptureFixture) -> None:
    built = optimizer([[["^emb\\."], {}], [["^enc\\."], {}], [["^head\\."], {}]])
    with caplog.at_level(logging.INFO, logger="allennlp_stlr.scheduler"):
        build(built, num_epochs=3, num_steps_per_epoch=2, gradual_unfreezing=True)
    table = [r.getMessage() for r in caplog.records if "layer groups" in r.getMessage()][0]
    rows = table.splitlines()[2:]
    assert rows[0].split()[-1] == "^emb\\." and "frozen" in rows[0]
    assert rows[2].split()[-1] == "^head\\." and "trainable" in rows[2]
    assert rows[3].endswith(DEFAULT_GROUP_NAME)
