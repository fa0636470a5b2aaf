"""
The sweep on the fixture experiments, built as `allennlp train` builds them: it trains the
groups it says it trains and no others, at each group's configured ratio to the swept
trainer.optimizer.lr, with any scheduler, and leaves the model and optimizer as they were.
"""
import copy
from pathlib import Path
from typing import Any, Dict, List

import pytest
import torch
from allennlp.common import Params
from allennlp.common.plugins import import_plugins
from allennlp.training import GradientDescentTrainer

from allennlp_stlr.tools.config import load_params
from allennlp_stlr.tools.find_lr.sweep import (
    ALL,
    FIRST_STAGE,
    Settings,
    build_trainer,
    prepare,
    sweep,
    train,
)
from tests.helpers import ROOT

ULMFIT = "fixtures/experiment_ulmfit.jsonnet"  # 4 layer groups, decay_factor 0.6, lr 0.03
PLAIN = "fixtures/experiment.jsonnet"  # one group, lr 0.01
SHORT = Settings(num_steps=20, end_lr=1.0)


@pytest.fixture(scope="module", autouse=True)
def plugins() -> None:
    import_plugins()


@pytest.fixture(autouse=True)
def in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the fixtures' data paths are relative to the root


def trainer_of(config: str, tmp_path: Path, overrides: str = "") -> GradientDescentTrainer:
    return build_trainer(load_params(config, overrides), str(tmp_path))


def group_names(trainer: GradientDescentTrainer) -> List[List[str]]:
    """The parameter names of each param group."""
    name_of = {id(param): name for name, param in trainer.model.named_parameters()}
    groups = trainer.optimizer.param_groups
    return [[name_of[id(param)] for param in group["params"]] for group in groups]


# mode -> whether each of the 5 param groups (4 layers, the empty default group) trains
DOCUMENTED = {
    ALL: [True, True, True, True, True],
    FIRST_STAGE: [False, False, False, True, True],  # gradual unfreezing starts with the head
}


@pytest.mark.parametrize("mode", [ALL, FIRST_STAGE])
def test_the_sweep_trains_the_groups_it_documents_and_no_others(
    mode: str, tmp_path: Path
) -> None:
    trainer = trainer_of(ULMFIT, tmp_path)
    settings = Settings(num_steps=20, end_lr=1.0, train=mode)
    result = prepare(trainer, settings)
    assert result.trained == DOCUMENTED[mode]
    before = {name: param.detach().clone() for name, param in trainer.model.named_parameters()}
    train(trainer, settings, result)
    changed = {
        name
        for name, param in trainer.model.named_parameters()
        if not torch.equal(param, before[name])
    }
    expected = {
        name
        for names, trained in zip(group_names(trainer), result.trained)
        if trained
        for name in names
    }
    assert changed == expected
    assert any(name.startswith("_text_field_embedder") for name in expected) is (mode == ALL)
    for name, param in trainer.model.named_parameters():
        assert param.requires_grad is (name in expected)
        assert (param.grad is None) is (name not in expected)


def state(trainer: GradientDescentTrainer) -> Dict[str, Any]:
    return {
        "weights": copy.deepcopy(trainer.model.state_dict()),
        "requires_grad": {name: p.requires_grad for name, p in trainer.model.named_parameters()},
        "grad": {
            name: None if p.grad is None else p.grad.clone()
            for name, p in trainer.model.named_parameters()
        },
        "optimizer": copy.deepcopy(trainer.optimizer.state_dict()),
        "training": trainer.model.training,
        "rng": torch.get_rng_state(),
    }


def assert_same(left: Any, right: Any) -> None:
    if isinstance(left, torch.Tensor):
        assert isinstance(right, torch.Tensor) and torch.equal(left, right)
    elif isinstance(left, dict):
        assert isinstance(right, dict) and list(left) == list(right)
        for key in left:
            assert_same(left[key], right[key])
    elif isinstance(left, (list, tuple)):
        assert type(left) is type(right) and len(left) == len(right)
        for a, b in zip(left, right):
            assert_same(a, b)
    else:
        assert left == right


@pytest.mark.parametrize("mode", [ALL, FIRST_STAGE])
def test_weights_flags_and_optimizer_state_are_as_before(mode: str, tmp_path: Path) -> None:
    trainer = trainer_of(ULMFIT, tmp_path)
    # One real update first, so that Adam has state and the head has gradients to keep.
    batch = next(iter(trainer.data_loader))
    trainer.batch_outputs(batch, for_training=True)["loss"].backward()
    trainer.optimizer.step()
    trainer.model.eval()
    before = state(trainer)
    assert before["optimizer"]["state"], "Adam should hold state after an update"
    assert before["requires_grad"]["_text_field_embedder.token_embedder_tokens.weight"] is False
    result = sweep(trainer, Settings(num_steps=20, end_lr=1.0, train=mode))
    assert len(result.losses) == 20
    assert_same(state(trainer), before)


def test_each_group_runs_at_its_peak_ratio_to_the_swept_rate(tmp_path: Path) -> None:
    # The encoder has an lr of its own (0.02, against the optimizer's 0.03): with
    # discriminative fine-tuning its peak is 0.02 x 0.6^2, which it keeps relative to the top.
    overrides = (
        '{"trainer.optimizer.parameter_groups": ['
        '[["^(module\\\\.)?_text_field_embedder"], {}],'
        '[["^(module\\\\.)?_seq2vec_encoder"], {"lr": 0.02}],'
        '[["^(module\\\\.)?_feedforward"], {}],'
        '[["^(module\\\\.)?_classification_layer"], {}]]}'
    )
    trainer = trainer_of(ULMFIT, tmp_path, overrides)
    result = sweep(trainer, SHORT)
    expected = [0.6**3, 0.02 / 0.03 * 0.6**2, 0.6, 1.0, 1.0]
    assert result.factors == pytest.approx(expected, rel=1e-12)
    for step in range(len(result.rates)):
        assert result.group_rates(step) == pytest.approx(
            [result.rates[step] * factor for factor in expected], rel=1e-12
        )


@pytest.mark.parametrize(
    "scheduler",
    [
        None,
        {"type": "linear_with_warmup", "warmup_steps": 5},
        {"type": "noam", "model_size": 16, "warmup_steps": 5},
    ],
)
def test_any_scheduler_sweeps_the_configured_rates_on_every_group(
    scheduler: Any, tmp_path: Path
) -> None:
    # The head with an lr of its own, twice the optimizer's: it keeps that ratio.
    params = load_params(PLAIN)
    config = params.as_dict(quiet=True)
    config["trainer"]["optimizer"]["parameter_groups"] = [
        [["^_classification_layer"], {"lr": 0.02}]
    ]
    if scheduler is None:
        config["trainer"].pop("learning_rate_scheduler")
    else:
        config["trainer"]["learning_rate_scheduler"] = scheduler
    trainer = build_trainer(Params(config), str(tmp_path))
    for mode in (ALL, FIRST_STAGE):
        result = sweep(trainer, Settings(num_steps=20, end_lr=1.0, train=mode))
        assert result.factors == pytest.approx([2.0, 1.0], rel=1e-12)
        assert result.trained == [True, True]
