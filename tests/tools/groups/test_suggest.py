"""
Layer groups found by running one training batch through real models: the order in which
layers run (not the order they were declared), parallel branches in one group, unused
parameters in the head and reported, the config's own weight-decay group explained, and the
name rules as the fallback when no batch can be run.
"""
import json
from pathlib import Path
from typing import Any, Dict, List

import _jsonnet
import pytest
import torch
from allennlp.common import Params
from allennlp.common.plugins import import_plugins
from allennlp.data import TextFieldTensors, Vocabulary
from allennlp.models import Model
from allennlp.modules import FeedForward, Seq2VecEncoder, TextFieldEmbedder
from allennlp.nn.util import get_text_field_mask

from allennlp_stlr.tools.groups import find as layer_groups
from benchmarks.local_model import model_dir
from allennlp_stlr.tools.groups import suggest
from allennlp_stlr.tools.model import build_model
from tests.helpers import ROOT, assert_exactly_once

BERT = "_text_field_embedder.token_embedder_tokens.transformer_model."


@Model.register("stlr_test_branches")
class Branches(Model):
    """
    Declared top first, run bottom first: an embedder, a two-layer LSTM, then two feedforward
    branches (two layers and one) that both read the LSTM's output, summed with an embedding
    that reads no layer (like coreference's distance embedding), then the output layer. One
    linear layer is never called.
    """

    def __init__(
        self,
        vocab: Vocabulary,
        text_field_embedder: TextFieldEmbedder,
        encoder: Seq2VecEncoder,
    ) -> None:
        super().__init__(vocab)
        width = encoder.get_output_dim()
        self._output = torch.nn.Linear(width, vocab.get_vocab_size("labels"))
        self._unused = torch.nn.Linear(width, width)
        self._right = FeedForward(width, 1, width, torch.nn.Tanh())
        self._left = FeedForward(width, 2, width, torch.nn.Tanh())
        self._distance = torch.nn.Embedding(3, width)
        self._encoder = encoder
        self._text_field_embedder = text_field_embedder

    def forward(self, tokens: TextFieldTensors, label: torch.Tensor) -> Dict[str, torch.Tensor]:
        encoded = self._encoder(self._text_field_embedder(tokens), get_text_field_mask(tokens))
        distance = self._distance(torch.ones(label.shape[0], dtype=torch.long))
        logits = self._output(self._left(encoded) + self._right(encoded) + distance)
        return {"loss": torch.nn.functional.cross_entropy(logits, label)}


@Model.register("stlr_test_no_loss")
class NoLoss(Model):
    """A model whose output has no loss."""

    def __init__(self, vocab: Vocabulary, text_field_embedder: TextFieldEmbedder) -> None:
        super().__init__(vocab)
        self._text_field_embedder = text_field_embedder
        self._output = torch.nn.Linear(text_field_embedder.get_output_dim(), 2)

    def forward(self, tokens: TextFieldTensors, label: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {"logits": self._output(self._text_field_embedder(tokens)).sum(1)}


def experiment(model: Dict[str, Any], **more: Any) -> Params:
    return Params({
        "dataset_reader": {"type": "text_classification_json", "tokenizer": {"type": "whitespace"}},
        "train_data_path": "fixtures/data/train.jsonl",
        "model": model,
        "data_loader": {"batch_size": 8, "shuffle": True},
        "trainer": {"num_epochs": 1, "optimizer": {"type": "adam"}},
        **more,
    })


EMBEDDER = {"token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 6}}}
BRANCHES = {
    "type": "stlr_test_branches",
    "text_field_embedder": EMBEDDER,
    "encoder": {"type": "lstm", "input_size": 6, "hidden_size": 5, "num_layers": 2},
}


@pytest.fixture(autouse=True)
def in_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("STLR_MODEL", str(model_dir()))
    import_plugins()


def names_and_sizes(params: Params, with_data: bool = True) -> List[Any]:
    model = build_model(params)[0] if with_data else suggest.model_without_data(params)
    return [(n, p.numel()) for n, p in model.named_parameters() if p.requires_grad]


def test_transformer_pooler_without_gradient_goes_to_the_head() -> None:
    params = Params.from_file("fixtures/pair_classifier.jsonnet")
    found = suggest.suggest_groups(params)
    assert found.method == suggest.TRACED and found.reason == ""
    assert [g.name for g in found.groups] == (
        ["embeddings"] + [f"layer.{i}" for i in range(6)] + ["_linear_layers.0", "head"]
    )
    pooler = [BERT + "pooler.dense.weight", BERT + "pooler.dense.bias"]
    assert found.unused == pooler
    assert found.groups[-1].regexes == (
        "^(module\\.)?_classification_layer\\.",
        "^(module\\.)?" + BERT.replace(".", "\\.") + "pooler\\.",
    )
    assert found.groups[-1].parameter_names == (
        *pooler, "_classification_layer.weight", "_classification_layer.bias"
    )
    # 2 labels: 32 * 2 + 2 for the classifier, 384 * 384 + 384 for the pooler.
    assert found.groups[-1].num_parameters == 66 + 147_840
    assert found.groups[7].parameter_names == (
        "_feedforward._linear_layers.0.weight", "_feedforward._linear_layers.0.bias"
    )
    # The config's weight-decay group beside the default group: neither is a layer.
    assert found.notes == [
        "The config's own parameter_groups set options that the groups below do not carry: "
        "0 (group 0: weight_decay=0). Pasting the block "
        "replaces them; add the options you need to each group.",
        layer_groups.spanning_groups_message(
            [0, 1], ["group 0", "group 1"]
        ),
    ]
    text = suggest.format_suggestion(found)
    assert text.splitlines()[:2] == [
        "// 9 layer groups, bottom to top, found by running one training batch through the "
        "model: groups follow the order in which the layers ran, and layers on parallel "
        "branches share a group.",
        "// With gradual_unfreezing, train at least 9 epochs, or unfreeze within epochs with "
        "unfreeze_every_num_updates.",
    ]
    assert text.splitlines()[2].startswith(
        f"// Unused: 2 parameters got no gradient from a training batch ({pooler[0]}, "
        f"{pooler[1]}). They never change in training"
    )
    evaluated = json.loads(_jsonnet.evaluate_snippet("block", "{" + text + "}"))
    assert evaluated["parameter_groups"] == [
        [list(g.regexes), {"name": g.name}] for g in found.groups
    ]
    assert_exactly_once(names_and_sizes(params), found.groups)


def test_parallel_branches_share_a_group_and_layers_follow_the_run_order() -> None:
    params = experiment(BRANCHES)
    found = suggest.suggest_groups(params)
    assert found.method == suggest.TRACED
    assert [g.name for g in found.groups] == [
        "_text_field_embedder",
        "_module.l0",
        "_module.l1",
        "_left._linear_layers.0",
        "_distance + _linear_layers.1 + _right._linear_layers.0",  # in the order they ran
        "head",
    ]
    assert [g.regexes for g in found.groups[3:]] == [
        ("^(module\\.)?_left\\._linear_layers\\.0\\.",),
        ("^(module\\.)?_distance\\.", "^(module\\.)?_left\\._linear_layers\\.1\\.",
         "^(module\\.)?_right\\._linear_layers\\.0\\."),
        ("^(module\\.)?_output\\.", "^(module\\.)?_unused\\."),
    ]
    assert found.groups[1].parameter_names == tuple(
        f"_encoder._module.{kind}_{gate}_l0" for kind in ("weight", "bias") for gate in ("ih", "hh")
    )
    assert found.unused == ["_unused.weight", "_unused.bias"]
    assert found.notes == []
    assert_exactly_once(names_and_sizes(params), found.groups)
    # The name rules alone follow the declaration order, top first.
    assert [g.name for g in layer_groups.suggest(names_and_sizes(params))][:2] == [
        "_output", "_unused"
    ]


@pytest.mark.parametrize(
    "params, reason",
    [
        (experiment(BRANCHES, train_data_path="fixtures/data/missing.jsonl",
                    vocabulary={"type": "empty"}),
         "the training data cannot be read (file fixtures/data/missing.jsonl not found)"),
        (experiment({"type": "stlr_test_no_loss", "text_field_embedder": EMBEDDER}),
         'the model\'s output on a training batch has no "loss" to differentiate'),
    ],
)
def test_falls_back_to_the_name_rules_and_says_why(params: Params, reason: str) -> None:
    found = suggest.suggest_groups(params)
    assert found.method == suggest.NAMES
    assert found.reason == reason
    assert found.unused == []
    with_data = "missing" not in params["train_data_path"]
    assert found.groups == layer_groups.suggest(names_and_sizes(params, with_data))
    assert suggest.format_suggestion(found).splitlines()[0] == (
        f"// {len(found.groups)} layer groups, bottom to top, found from parameter names "
        f"only, since {reason}."
    )


def test_fixture_experiment_traced() -> None:
    found = suggest.suggest_groups(Params.from_file("fixtures/experiment.jsonnet"))
    assert (found.method, found.unused, found.notes) == (suggest.TRACED, [], [])
    assert [g.name for g in found.groups] == [
        "_text_field_embedder", "_seq2vec_encoder", "_linear_layers.0", "head"
    ]


@pytest.mark.parametrize(
    "params, whole",
    [
        (experiment(BRANCHES), "_text_field_embedder (no biases or LayerNorm weights)"),
        (experiment(BRANCHES, train_data_path="fixtures/data/missing.jsonl",  # name rules
                    vocabulary={"type": "empty"}),
         "_distance (no biases or LayerNorm weights), head (no biases or LayerNorm weights)"),
    ],
)
def test_no_decay_splits_rnn_layers_and_leaves_a_layer_without_biases_whole(
    params: Params, whole: str
) -> None:
    plain = suggest.suggest_groups(params)
    found = suggest.suggest_groups(params, no_decay=True)
    assert found.method == plain.method and found.exempt is not None
    pairs = names_and_sizes(params, with_data="missing" not in params["train_data_path"])
    assert_exactly_once(pairs, found.groups)  # also under DDP's `module.`
    # Each layer's biases (LSTM `bias_ih_l0` too; the model has no LayerNorm) in its second
    # group, the rest in its first; a layer without biases stays one group.
    for layer in plain.groups:
        halves = [(g, off) for g, off in zip(found.groups, found.exempt) if g.name == layer.name]
        assert [(off, g.parameter_names) for g, off in halves] == [
            (off, names) for off, names in (
                (False, tuple(n for n in layer.parameter_names if "bias" not in n)),
                (True, tuple(n for n in layer.parameter_names if "bias" in n)),
            ) if names
        ]
    assert sum(found.exempt) == len(plain.groups) - whole.count("(no biases")
    assert found.notes[1] == f"In one group, as there is nothing to split: {whole}."
    block = json.loads(_jsonnet.evaluate_snippet("b", "{" + suggest.format_suggestion(found) + "}"))
    assert block["parameter_groups"] == [
        [list(g.regexes), {"name": g.name, **({"weight_decay": 0} if off else {})}]
        for g, off in zip(found.groups, found.exempt)
    ]


@pytest.mark.parametrize(
    "optimizer, warned",
    [
        ({"type": "adam"}, True),  # weight_decay 0 by default
        ({"type": "huggingface_adamw", "weight_decay": 0.0}, True),
        ({"type": "adamw"}, False),  # 0.01 by default
        ({"type": "huggingface_adamw", "weight_decay": 0.1}, False),
    ],
)
def test_no_decay_says_when_the_optimizer_decays_nothing(
    optimizer: Dict[str, Any], warned: bool
) -> None:
    params = experiment(BRANCHES, trainer={"num_epochs": 1, "optimizer": optimizer})
    notes = suggest.suggest_groups(params, no_decay=True).notes
    note = (
        "The config's optimizer has weight_decay 0, so the other groups are not decayed "
        "either: set trainer.optimizer.weight_decay (e.g. 0.01) for them."
    )
    assert (note in notes) is warned
