"""
A real `allennlp train` of the switched allennlp-models config (`fixtures/roberta_switched.jsonnet`,
the stand-in RoBERTa of `tests/test_switching.py`): the two groups of each layer get equal rates
at every update, the discriminative factor holds between layers, a layer's groups unfreeze
together, one layer every 2 updates, and each group keeps its weight decay.
"""
import json
from typing import Any, Dict, List

import pytest
import torch

from tests.helpers import allennlp_train, save_tiny_roberta, read_lines
from tests.test_switching import CONFIG

LAYERS = 8  # embeddings, 6 x 4 transformer layers, the head; two groups each
EVERY = 2  # unfreeze_every_num_updates
EPOCHS = 2  # 10 updates each


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    folder = save_tiny_roberta(tmp_path_factory.mktemp("roberta"))
    out = tmp_path_factory.mktemp("switched") / "run"
    overrides = {"trainer.num_epochs": EPOCHS, "trainer.callbacks": [{"type": "stlr_trace"}],
                 "validation_data_path": None}
    done = allennlp_train(
        str(CONFIG), "-s", str(out), "-o", json.dumps(overrides), STLR_ROBERTA=str(folder)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # The last checkpoint: `training_state_e{completed epochs}_b0.th`.
    state = torch.load(out / f"training_state_e{EPOCHS}_b0.th", map_location="cpu")
    return {"trace": read_lines(out / "stlr_trace.jsonl"), "optimizer": state["optimizer"]}


@pytest.mark.allennlp_train
def test_a_layers_groups_share_its_rate_and_the_factor_holds_between_layers(
    run: Dict[str, Any]
) -> None:
    trace: List[Dict[str, Any]] = run["trace"]
    assert [line["update"] for line in trace] == list(range(1, EPOCHS * 10 + 1))
    for line in trace:
        rates = line["lr"]
        assert len(rates) == 2 * LAYERS + 1  # and AllenNLP's (empty) default group
        assert rates[0:-1:2] == rates[1::2]
        layer = rates[0:-1:2]
        assert [low / high for low, high in zip(layer, layer[1:])] == pytest.approx([0.9] * 7)


@pytest.mark.allennlp_train
def test_a_layers_groups_unfreeze_together_one_layer_per_stage(run: Dict[str, Any]) -> None:
    for line in run["trace"]:
        flags = line["trainable"]
        assert flags[0:-1:2] == flags[1::2]
        stage = (line["update"] - 1) // EVERY  # stage 0 trains the head only
        assert flags[0:-1:2] == [k >= LAYERS - 1 - stage for k in range(LAYERS)]


@pytest.mark.allennlp_train
def test_each_group_keeps_its_weight_decay(run: Dict[str, Any]) -> None:
    groups = run["optimizer"]["param_groups"]
    assert [g["weight_decay"] for g in groups] == [0.1, 0] * LAYERS + [0.1]
    assert [g["name"] for g in groups[:-1:2]] == [
        "embeddings", *[f"layers {i}-{i + 3}" for i in range(0, 24, 4)], "head"
    ]
