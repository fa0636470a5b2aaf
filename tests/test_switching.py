"""
The recipe of docs/switching.md on the shape of allennlp-models' RoBERTa configs
(`fixtures/roberta_switched.jsonnet`), with a stand-in RoBERTa built from a `transformers`
config (roberta-large's 24 layers, small widths, random weights, saved to a temporary folder:
nothing is downloaded). AllenNLP's own `make_parameter_groups` over the real model puts every
parameter in exactly one group, each layer in two groups under one name, and in the
`weight_decay: 0` halves exactly the parameters that allennlp-models' no-decay entry held,
which itself spans every layer.
"""
import json
from typing import Any, Dict, List, Tuple

import _jsonnet
import pytest
import torch
from allennlp.common import Params
from allennlp.common.plugins import import_plugins
from allennlp.training.optimizers import make_parameter_groups

from allennlp_stlr.tools.groups import find as layer_groups
from allennlp_stlr.tools.model import build_model
from tests.helpers import ROOT, save_tiny_roberta

CONFIG = ROOT / "fixtures" / "roberta_switched.jsonnet"
# The entry allennlp-models v2.10.1 writes (rc/transformer_qa.jsonnet, mc/*, ...).
ALLENNLP_MODELS_NO_DECAY = [
    [["bias", "LayerNorm\\.weight", "layer_norm\\.weight"], {"weight_decay": 0}]
]
# The same layers, one group each.
PLAIN = json.loads(_jsonnet.evaluate_snippet("plain", (
    "local stlr = import 'stlr.libsonnet'; stlr.transformerGroups("
    "24, layersPerGroup=4, head=['_seq2vec_encoder', '_classification_layer'])"
), jpathdir=[str(ROOT / "configs")]))
ROBERTA = "_text_field_embedder.token_embedder_tokens.transformer_model."


@pytest.fixture(scope="module")
def roberta(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """The switched config and its model's trainable parameters, built as `allennlp train` does."""
    folder = save_tiny_roberta(tmp_path_factory.mktemp("roberta"))
    config = json.loads(_jsonnet.evaluate_file(str(CONFIG), ext_vars={"STLR_ROBERTA": str(folder)}))
    import_plugins()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        model, _ = build_model(Params(json.loads(json.dumps(config))))
    parameters = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return {"config": config, "parameters": parameters}


def held(parameters: List[Tuple[str, torch.nn.Parameter]], groups: List[Any]) -> List[List[str]]:
    """The names in each group AllenNLP builds (default group last); raises on a double match."""
    back = {id(p): n for n, p in parameters}
    return [[back[id(p)] for p in g["params"]] for g in make_parameter_groups(parameters, groups)]


def test_allennlp_models_no_decay_entry_spans_every_layer(roberta: Dict[str, Any]) -> None:
    """Why no scheduler can split it: one group of every layer's biases and LayerNorm weights."""
    exempt, default = held(roberta["parameters"], ALLENNLP_MODELS_NO_DECAY)
    layers = {n.split("encoder.layer.")[1].split(".")[0] for n in exempt if "encoder.layer." in n}
    assert layers == {str(i) for i in range(24)}
    assert layer_groups.groups_spanning_layers([exempt, default]) == [0, 1]


def test_switched_config_splits_every_layer_and_covers_every_parameter_once(
    roberta: Dict[str, Any]
) -> None:
    groups = roberta["config"]["trainer"]["optimizer"]["parameter_groups"]
    names = ["embeddings"] + [f"layers {i}-{i + 3}" for i in range(0, 24, 4)] + ["head"]
    assert [options for _, options in groups] == [
        {"name": name, **extra} for name in names for extra in ({}, {"weight_decay": 0})
    ]
    for prefix in ("", "module."):  # DDP's prefix
        parameters = [(prefix + n, p) for n, p in roberta["parameters"]]
        *halves, default = held(parameters, groups)
        assert default == [] and all(halves)
        assert sorted(n for half in halves for n in half) == sorted(n for n, _ in parameters)
        # Each layer's weight_decay: 0 half holds exactly its part of allennlp-models' entry.
        exempt, _ = held(parameters, ALLENNLP_MODELS_NO_DECAY)
        *layers, _ = held(parameters, PLAIN)
        assert halves[0::2] == [[n for n in layer if n not in exempt] for layer in layers]
        assert halves[1::2] == [[n for n in layer if n in exempt] for layer in layers]
        assert {n[len(prefix):].split(".")[0] for n in layers[-1]} == {
            "_seq2vec_encoder", "_classification_layer", "_text_field_embedder"  # its pooler
        }
        assert f"{prefix}{ROBERTA}pooler.dense.bias" in halves[-1]
        assert f"{prefix}{ROBERTA}encoder.layer.23.output.LayerNorm.weight" in halves[-3]


def test_switched_scheduler_block(roberta: Dict[str, Any]) -> None:
    block = roberta["config"]["trainer"]["learning_rate_scheduler"]
    assert block == {
        "type": "allennlp_stlr.SlantedTriangular", "cut_frac": 0.06, "ratio": 32, "gradual_unfreezing": True,
        "discriminative_fine_tuning": True, "decay_factor": 0.9, "unfreeze_every_num_updates": 2,
    }  # no num_epochs, no num_steps_per_epoch: the trainer's own
