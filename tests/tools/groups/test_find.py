"""
Layer groups from parameter names: each shape of model gets its layers bottom to top, every
parameter lands in exactly one group (checked with AllenNLP's own `make_parameter_groups`,
also under DDP's `module.` prefix), and the pasted block means what it says.
"""
import json
from typing import Callable, List, Sequence, Tuple

import _jsonnet
import pytest
from allennlp.common.plugins import import_plugins
from allennlp.training.optimizers import make_parameter_groups
from hypothesis import given
from hypothesis import strategies as st

from allennlp_stlr.tools.groups import find as layer_groups
from allennlp_stlr.tools.config import load_params
from allennlp_stlr.tools.model import build_model
from benchmarks.local_model import model_dir
from tests.helpers import ROOT, assert_exactly_once

BERT = "_text_field_embedder.token_embedder_tokens.transformer_model."


def bert_names(num_layers: int) -> List[Tuple[str, int]]:
    names = [
        (BERT + "embeddings.word_embeddings.weight", 100),
        (BERT + "embeddings.LayerNorm.bias", 4),
    ]
    for i in range(num_layers):
        names += [(BERT + f"encoder.layer.{i}.attention.self.query.weight", 16),
                  (BERT + f"encoder.layer.{i}.output.LayerNorm.bias", 4)]
    names += [(BERT + "pooler.dense.weight", 16), ("_classification_layer.weight", 8),
              ("_classification_layer.bias", 2)]
    return names


def test_transformer_layers_bottom_to_top_with_a_head() -> None:
    pairs = bert_names(12)  # layer.1 must not take layer.10 and layer.11
    groups = layer_groups.suggest(pairs)
    assert [g.name for g in groups] == ["embeddings"] + [f"layer.{i}" for i in range(12)] + ["head"]
    assert groups[0].regexes == (
        "^(module\\.)?_text_field_embedder\\.token_embedder_tokens"
        "\\.transformer_model\\.embeddings\\.",
    )
    assert groups[2].parameter_names == (
        BERT + "encoder.layer.1.attention.self.query.weight",
        BERT + "encoder.layer.1.output.LayerNorm.bias",
    )
    assert groups[-1].parameter_names == (
        BERT + "pooler.dense.weight", "_classification_layer.weight", "_classification_layer.bias",
    )
    assert groups[-1].num_parameters == 26
    assert_exactly_once(pairs, groups)


@pytest.mark.parametrize("stack", ["h", "block", "layers"])
def test_other_numbered_block_names(stack: str) -> None:
    pairs = [("wte.weight", 50)] + [(f"{stack}.{i}.mlp.weight", 9) for i in range(3)] + [
        ("ln_f.weight", 3), ("lm_head.weight", 50)
    ]
    groups = layer_groups.suggest(pairs)
    assert [g.name for g in groups] == ["wte"] + [f"{stack}.{i}" for i in range(3)] + ["head"]
    assert groups[-1].regexes == ("^(module\\.)?ln_f\\.", "^(module\\.)?lm_head\\.")
    assert_exactly_once(pairs, groups)


def test_stacked_bidirectional_rnn_layers_keep_both_directions() -> None:
    rnn = "_seq2seq_encoder._module."
    pairs = [("_text_field_embedder.token_embedder_tokens.weight", 80)] + [
        (f"{rnn}{kind}_{gate}_l{layer}{direction}", 12)
        for layer in range(2)
        for direction in ("", "_reverse")
        for kind in ("weight", "bias")
        for gate in ("ih", "hh")
    ] + [("_classification_layer.weight", 6)]
    groups = layer_groups.suggest(pairs)
    assert [g.name for g in groups] == ["_text_field_embedder", "_module.l0", "_module.l1", "head"]
    assert groups[1].num_parameters == 8 * 12
    assert all("_l0" in name for name in groups[1].parameter_names)
    assert_exactly_once(pairs, groups)


def test_bare_parameters_and_repeated_labels() -> None:
    pairs = [("scale", 1), ("_encoder.layers.0.w", 4), ("_encoder.layers.1.w", 4),
             ("_decoder.layers.0.w", 4), ("_out.weight", 2)]
    groups = layer_groups.suggest(pairs)
    assert [g.name for g in groups] == [
        "scale", "_encoder.layers.0", "layers.1", "_decoder.layers.0", "head"
    ]
    assert groups[0].regexes == ("^(module\\.)?scale$",)
    assert_exactly_once(pairs, groups)


def test_model_without_numbered_layers_is_one_group_per_module() -> None:
    pairs = [("_embedder.weight", 5), ("_encoder.conv_layer_0.weight", 3),
             ("_encoder.conv_layer_1.weight", 3), ("_classification_layer.weight", 2)]
    groups = layer_groups.suggest(pairs)
    assert [g.name for g in groups] == ["_embedder", "_encoder", "_classification_layer"]
    assert_exactly_once(pairs, groups)


# Random module trees: top-level modules holding plain sub-modules, numbered blocks and
# RNN layers, in registration order.
_segment = st.from_regex(r"_?[a-z]{1,6}", fullmatch=True)


@st.composite
def models(draw: st.DrawFn) -> List[Tuple[str, int]]:
    pairs: List[Tuple[str, int]] = []
    tops = draw(st.lists(_segment, min_size=1, max_size=5, unique=True))
    for top in tops:
        kind = draw(st.sampled_from(["plain", "blocks", "rnn", "bare"]))
        if kind == "bare":
            pairs.append((top, draw(st.integers(1, 9))))
        elif kind == "plain":
            for sub in draw(st.lists(_segment, min_size=1, max_size=3, unique=True)):
                pairs.append((f"{top}.{sub}.weight", draw(st.integers(1, 9))))
        elif kind == "blocks":
            inner = draw(st.sampled_from(["layer", "layers", "h", "block"]))
            before = draw(st.booleans())
            if before:
                pairs.append((f"{top}.embeddings.weight", 7))
            for i in range(draw(st.integers(1, 12))):
                pairs.append((f"{top}.{inner}.{i}.dense.weight", 5))
                pairs.append((f"{top}.{inner}.{i}.dense.bias", 1))
            if draw(st.booleans()):
                pairs.append((f"{top}.pooler.weight", 3))
        else:
            for layer in range(draw(st.integers(1, 3))):
                for direction in ("", "_reverse"):
                    pairs.append((f"{top}._module.weight_ih_l{layer}{direction}", 4))
    return pairs


@given(models())
def test_every_parameter_in_exactly_one_group(pairs: List[Tuple[str, int]]) -> None:
    groups = layer_groups.suggest(pairs)
    assert_exactly_once(pairs, groups)
    assert sum(g.num_parameters for g in groups) == sum(count for _, count in pairs)


def test_pasted_block_is_jsonnet_with_the_same_groups() -> None:
    groups = layer_groups.suggest(bert_names(2))
    text = layer_groups.format_parameter_groups(groups)
    evaluated = json.loads(_jsonnet.evaluate_snippet("block", "{" + text + "}"))
    assert evaluated["parameter_groups"] == [[list(g.regexes), {"name": g.name}] for g in groups]
    assert "// 11,918" not in text and "// 104 parameters" in text


# ----------------------------------------------------------------------------- real models
@pytest.mark.parametrize(
    "config, expected",
    [
        ("fixtures/experiment.jsonnet",
         ["_text_field_embedder", "_seq2vec_encoder", "_linear_layers.0", "head"]),
        ("configs/transformer_classifier.jsonnet",
         ["embeddings"] + [f"layer.{i}" for i in range(6)] + ["head"]),
    ],
)
def test_suggested_groups_cover_real_models(
    config: str, expected: List[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("STLR_MODEL", str(model_dir()))
    import_plugins()
    params = load_params(config)
    model, _ = build_model(params)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = layer_groups.suggest([(n, p.numel()) for n, p in trainable])
    assert [g.name for g in groups] == expected
    built = make_parameter_groups(trainable, [[list(g.regexes), {}] for g in groups])
    sizes = [sum(p.numel() for p in group["params"]) for group in built]
    assert sizes == [g.num_parameters for g in groups] + [0]
    assert all(sizes[:-1])
    assert sum(sizes) == sum(p.numel() for _, p in trainable)


# ---------------------------------------------------------------- groups that are not layers
NO_DECAY = ("bias", "LayerNorm.weight")


def split(names: Sequence[str], *tests: Callable[[str], bool]) -> List[List[str]]:
    """The param groups AllenNLP makes when each test is one configured group, plus the
    default group last. No name may pass two tests, as AllenNLP requires."""
    groups: List[List[str]] = [[] for _ in range(len(tests) + 1)]
    for name in names:
        passed = [i for i, test in enumerate(tests) if test(name)]
        assert len(passed) <= 1, name
        groups[passed[0] if passed else len(tests)].append(name)
    return groups


def no_decay(name: str) -> bool:
    return any(part in name for part in NO_DECAY)


def layer(i: int) -> Callable[[str], bool]:
    return lambda name: f"encoder.layer.{i}." in name


def layers(*ids: int) -> Callable[[str], bool]:
    return lambda name: any(f"encoder.layer.{i}." in name for i in ids)


def weights(test: Callable[[str], bool]) -> Callable[[str], bool]:
    return lambda name: test(name) and not no_decay(name)


BERT_NAMES = [name for name, _ in bert_names(4)]
EMBEDDINGS = lambda name: ".embeddings." in name  # noqa: E731


@pytest.mark.parametrize(
    "groups, spanning",
    [
        # allennlp-models' transformer_qa: a no-decay group beside the default group.
        (split(BERT_NAMES, no_decay), [0, 1]),
        # Per-layer groups with the no-decay group first: only that group spans layers.
        (split(BERT_NAMES, no_decay, weights(EMBEDDINGS), *[weights(layer(i)) for i in range(4)]),
         [0]),
        # ... or last, with the head in the default group.
        (split(BERT_NAMES, weights(EMBEDDINGS), weights(layers(0, 1)), weights(layers(2, 3)),
               no_decay), [3]),
        # Plain per-layer groups, one or two layers each: all are layers.
        (split(BERT_NAMES, EMBEDDINGS, *[layer(i) for i in range(4)]), []),
        (split(BERT_NAMES, EMBEDDINGS, layers(0, 1), layers(2, 3)), []),
        # One layer split into weights and biases is two groups inside one layer: not flagged.
        (split(BERT_NAMES, EMBEDDINGS, lambda n: "layer.0." in n and no_decay(n),
               weights(layer(0)), layers(1, 2, 3)), []),
        # The same split over two layers: two half-layer groups, both flagged.
        (split(BERT_NAMES, EMBEDDINGS, lambda n: layers(0, 1)(n) and no_decay(n),
               weights(layers(0, 1)), layers(2, 3)), [1, 2]),
        # A group that matches nothing spans nothing.
        (split(BERT_NAMES, lambda name: False, EMBEDDINGS, layers(0, 1, 2, 3)), []),
        # Everything in the default group.
        (split(BERT_NAMES), []),
    ],
)
def test_groups_spanning_layers(groups: List[List[str]], spanning: List[int]) -> None:
    assert sorted(n for g in groups for n in g) == sorted(BERT_NAMES)
    assert layer_groups.groups_spanning_layers(groups) == spanning
    # Under DDP the names change, the answer does not.
    assert layer_groups.groups_spanning_layers(
        [["module." + n for n in g] for g in groups]
    ) == spanning


@pytest.mark.parametrize(
    "indices, labels, says",
    [
        ([0], ["no decay", "(default)"],
         "Param group 0 (no decay) holds parameters of layers that other groups hold, so it "
         "is not a layer: gradual unfreezing unfreezes it in an epoch of its own"),
        ([0, 1], ["no decay", "(default)"],
         "Param groups 0 (no decay) and 1 ((default)) hold parameters of layers that other "
         "groups hold, so none of them is a layer"),
        ([0, 2, 5], list("abcdef"),
         "Param groups 0 (a), 2 (c) and 5 (f) hold parameters"),
    ],
)
def test_spanning_groups_message(indices: List[int], labels: List[str], says: str) -> None:
    message = layer_groups.spanning_groups_message(indices, labels)
    assert message.startswith(
        "slanted_triangular counts every optimizer param group as one layer (groups that "
        "share a `name` as one), bottom first"
    )
    assert says in message
    assert "split each layer instead: two groups under one name" in message
    assert "docs/switching.md#keeping-weight-decay-off-biases-and-layernorm-weights" in message
    assert ("remove that group" in message) == (len(indices) == 1)


def test_halves_of_one_layer_that_share_a_name_do_not_span_layers() -> None:
    # A layer group of two blocks (layers 0-1), split into weights and biases: without the
    # shared name the halves look like two groups over the same two layers; with it, one layer.
    groups = [
        ["layers.0.weight", "layers.1.weight"], ["layers.0.bias", "layers.1.bias"],
        ["layers.2.weight"], ["layers.2.bias"], [],
    ]
    names = ["layers 0-1", "layers 0-1", "layer 2", "layer 2", None]
    assert layer_groups.groups_spanning_layers(groups) == [0, 1]
    assert layer_groups.groups_spanning_layers(groups, names) == []
    # One no-decay group of every bias beside per-layer weight groups does, and with
    # the names it reports the whole no-decay layer.
    spanning = [["layers.0.weight"], ["layers.1.weight"], ["layers.0.bias", "layers.1.bias"], []]
    assert layer_groups.groups_spanning_layers(spanning, ["a", "b", "no decay", None]) == [2]
