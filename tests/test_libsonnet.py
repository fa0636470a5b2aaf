"""
`stlr.libsonnet` as the package ships it (`allennlp_stlr.resources.libsonnet_path()`),
evaluated with the `jsonnet` module: its groups cover the real all-MiniLM-L6-v2 classifier's
parameters exactly once (by AllenNLP's own `make_parameter_groups`), the repository's
`configs/stlr.libsonnet` is the same library, with `noDecay` every layer's biases and LayerNorm
weights (and nothing else) land in its `weight_decay: 0` half, and
`configs/transformer_classifier.jsonnet` previews as intended.
"""
import json
from pathlib import Path
from typing import Any, List, Tuple

import _jsonnet
import pytest
import torch
from allennlp.common import Params
from allennlp.common.plugins import import_plugins
from allennlp.training.learning_rate_schedulers import LearningRateScheduler
from allennlp.training.optimizers import make_parameter_groups

from allennlp_stlr import SlantedTriangular
from allennlp_stlr.tools.config import load_params
from allennlp_stlr.tools.preview.experiment import read_experiment
from allennlp_stlr.tools.groups import suggest
from allennlp_stlr.tools.model import build_model
from allennlp_stlr.tools.preview.simulate import simulate
from benchmarks.local_model import model_dir
from allennlp_stlr.resources import libsonnet_path
from tests.helpers import ROOT

TRANSFORMER = "configs/transformer_classifier.jsonnet"


def evaluate(expression: str, folder: Path = libsonnet_path().parent) -> Any:
    snippet = f"local stlr = import 'stlr.libsonnet'; {expression}"
    return json.loads(_jsonnet.evaluate_snippet("snippet", snippet, jpathdir=[str(folder)]))


@pytest.mark.parametrize(
    "expression",
    [
        "stlr.transformerGroups(6, layersPerGroup=2, head=['_head'], options={lr: 0.1})",
        "stlr.moduleGroups(['a.b', 'c'])",
        "stlr.moduleGroups(['a.b', 'c'], noDecay=true)",
        "stlr.transformerGroups(4, layersPerGroup=3, noDecay=true, options={betas: [0.9, 0.98]})",
        "stlr.scheduler(numEpochs=4, numStepsPerEpoch=9, ratio=7.5)",
        "stlr.moduleRegex('_text_field_embedder')",
        "stlr.callbacks(trace=true)",
    ],
)
def test_the_repository_configs_import_the_packaged_library(expression: str) -> None:
    assert evaluate(expression, ROOT / "configs") == evaluate(expression)


@pytest.fixture(scope="module")
def minilm() -> List[Tuple[str, torch.nn.Parameter]]:
    """The transformer classifier's trainable parameters, built from the shipped config."""
    import_plugins()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        patch.setenv("STLR_MODEL", str(model_dir()))
        model, _ = build_model(load_params(TRANSFORMER))
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("STLR_MODEL", str(model_dir()))


def covered(
    parameters: List[Tuple[str, torch.nn.Parameter]], groups: List[Any]
) -> List[List[str]]:
    back = {id(p): n for n, p in parameters}
    built = make_parameter_groups(parameters, groups)  # raises if a name is in two groups
    return [[back[id(p)] for p in group["params"]] for group in built]


@pytest.mark.parametrize(
    "per_group, names",
    [
        (1, [f"layer {i}" for i in range(6)]),
        (2, ["layers 0-1", "layers 2-3", "layers 4-5"]),
        (4, ["layers 0-3", "layers 4-5"]),
    ],
)
def test_transformer_groups_cover_minilm_exactly_once(
    minilm: List[Tuple[str, torch.nn.Parameter]], per_group: int, names: List[str]
) -> None:
    groups = evaluate(f"stlr.transformerGroups(6, layersPerGroup={per_group})")
    assert [options["name"] for _, options in groups] == ["embeddings"] + names + ["head"]
    *configured, default = covered(minilm, groups)
    assert default == []
    assert all(configured)
    assert sorted(n for group in configured for n in group) == sorted(n for n, _ in minilm)
    assert all(".embeddings." in n for n in configured[0])
    assert configured[-1][0].endswith("transformer_model.pooler.dense.weight")
    assert configured[-1][-1] == "_classification_layer.bias"
    first_layers = configured[1]
    assert {n.split("encoder.layer.")[1].split(".")[0] for n in first_layers} == {
        str(i) for i in range(min(per_group, 6))
    }
    # The same regexes also match once DDP has prefixed every name with `module.`.
    prefixed = [("module." + n, p) for n, p in minilm]
    assert [len(g) for g in covered(prefixed, groups)] == [len(g) for g in configured] + [0]


def test_module_groups_cover_the_fixture_cnn() -> None:
    import_plugins()
    model, _ = build_model(load_params(str(ROOT / "fixtures/experiment.jsonnet")))
    parameters = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = evaluate(
        "stlr.moduleGroups(['_text_field_embedder', '_seq2vec_encoder', '_feedforward', "
        "'_classification_layer'])"
    )
    assert groups[2] == [["^(module\\.)?_feedforward\\."], {"name": "_feedforward"}]
    *configured, default = covered(parameters, groups)
    assert default == [] and all(configured)


def no_decay(name: str) -> bool:
    """What allennlp-models' and transformers' fine-tuning code keep weight decay off."""
    return any(part in name for part in ("bias", "LayerNorm.weight", "layer_norm.weight"))


def assert_split(
    parameters: List[Tuple[str, torch.nn.Parameter]], split: List[Any], plain: List[Any]
) -> None:
    """`split` (a `noDecay=true` block) holds, layer by layer, what `plain` holds: its weights
    in the first half and exactly its biases and LayerNorm weights in the second (options
    plus `weight_decay: 0`), also under DDP's `module.` prefix."""
    assert [options for _, options in split[0::2]] == [options for _, options in plain]
    assert [options for _, options in split[1::2]] == [
        {**options, "weight_decay": 0} for _, options in plain
    ]
    for prefix in ("", "module."):
        named = [(prefix + n, p) for n, p in parameters]
        *halves, default = covered(named, split)  # raises if two groups match a name
        *layers, plain_default = covered(named, plain)
        assert default == plain_default == []
        for layer, decayed, exempt in zip(layers, halves[0::2], halves[1::2]):
            assert decayed == [n for n in layer if not no_decay(n)]
            assert exempt == [n for n in layer if no_decay(n)]
            assert decayed and exempt


@pytest.mark.parametrize(
    "arguments",
    [
        "layersPerGroup=1",
        "layersPerGroup=4",
        "layersPerGroup=2, options={lr: 0.1, weight_decay: 0.1}",
    ],
)
def test_no_decay_halves_split_every_minilm_layer(
    minilm: List[Tuple[str, torch.nn.Parameter]], arguments: str
) -> None:
    split = evaluate(f"stlr.transformerGroups(6, {arguments}, noDecay=true)")
    plain = evaluate(f"stlr.transformerGroups(6, {arguments})")
    assert [options["name"] for _, options in split[0::2]] == [
        options["name"] for _, options in split[1::2]
    ] == [options["name"] for _, options in plain]
    assert_split(minilm, split, plain)
    # 6 layers of 2 LayerNorms and 6 biases each, the embeddings' LayerNorm, the pooler's
    # and the classifier's bias.
    exempt = covered(minilm, split)[1:-1:2]
    assert sum(len(names) for names in exempt) == 6 * (2 * 2 + 6) + 2 + 2


def test_no_decay_module_groups_split_real_torch_modules() -> None:
    """A CNN's biases, an LSTM's `bias_ih_l0`, attention's `in_proj_bias`, a LayerNorm's
    weight, as torch names them."""
    import_plugins()
    model, _ = build_model(load_params(str(ROOT / "fixtures/experiment.jsonnet")))
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    extra = torch.nn.ModuleDict({
        "_module": torch.nn.LSTM(2, 3, num_layers=2, bidirectional=True),
        "attention": torch.nn.MultiheadAttention(4, 2, add_bias_kv=True),
        "layer_norm": torch.nn.LayerNorm(3),
    })
    named += [("_extra." + n, p) for n, p in extra.named_parameters()]
    paths = (
        "['_text_field_embedder', '_seq2vec_encoder', '_extra', '_feedforward', "
        "'_classification_layer']"
    )
    split = evaluate(f"stlr.moduleGroups({paths}, noDecay=true)")
    plain = evaluate(f"stlr.moduleGroups({paths})")
    # The embedding has no bias: its exempt half matches nothing.
    assert covered(named, split)[1] == []
    *layers, _ = covered(named, plain)
    assert_split(named[1:], split[2:], plain[1:])
    assert [n for n in layers[2] if no_decay(n)] == [
        f"_extra._module.bias_{kind}_l{layer}{direction}"
        for layer in (0, 1) for direction in ("", "_reverse") for kind in ("ih", "hh")
    ] + [
        "_extra.attention.in_proj_bias", "_extra.attention.bias_k", "_extra.attention.bias_v",
        "_extra.attention.out_proj.bias", "_extra.layer_norm.weight", "_extra.layer_norm.bias",
    ]


def test_stlr_groups_splits_by_the_same_rule() -> None:
    assert evaluate("stlr.noDecayRegex") == suggest.NO_DECAY


def test_splitting_needs_a_regex_anchored_at_the_start() -> None:
    with pytest.raises(RuntimeError, match="a regex to split must start with \\^: bias"):
        evaluate("stlr.decayed('bias')")


def test_scheduler_block_has_the_schedulers_defaults() -> None:
    assert evaluate("stlr.scheduler()") == {
        # The dotted type builds our class also where no plugins file loads the package.
        "type": "allennlp_stlr.SlantedTriangular",
        "cut_frac": 0.1,
        "ratio": 32,
        "gradual_unfreezing": False,
        "discriminative_fine_tuning": False,
        "decay_factor": 0.38,
    }
    assert evaluate("stlr.scheduler(numEpochs=5, ratio=8)")["num_epochs"] == 5
    assert "num_epochs" not in evaluate("stlr.scheduler()")


def test_ulmfit_preset_builds_ours_with_the_papers_values() -> None:
    block = evaluate("stlr.ulmfitLstm()")
    import_plugins()
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in range(3)]
    # Three layer groups and AllenNLP's (empty) default group.
    optimizer = torch.optim.SGD([{"params": [p]} for p in params] + [{"params": []}], lr=0.1)
    scheduler = LearningRateScheduler.from_params(
        params=Params(block), optimizer=optimizer, num_epochs=4, num_steps_per_epoch=10
    )
    assert type(scheduler) is SlantedTriangular
    assert scheduler.base_values == pytest.approx([0.1 * 0.38**2, 0.1 * 0.38, 0.1, 0.1])
    assert [p.requires_grad for p in params] == [False, False, True]


@pytest.mark.parametrize(
    "preset, gradual, discriminative",
    [("stlr.ulmfitLstm()", True, True), ("stlr.transformer()", False, False)],
)
def test_presets(preset: str, gradual: bool, discriminative: bool) -> None:
    block = evaluate(preset)
    assert block["type"] == "allennlp_stlr.SlantedTriangular"
    assert (block["cut_frac"], block["ratio"]) == (0.1, 32)
    assert block["gradual_unfreezing"] is gradual
    assert block["discriminative_fine_tuning"] is discriminative
    assert block == evaluate("stlr.scheduler(gradualUnfreezing=%s, discriminativeFineTuning=%s)"
                             % (str(gradual).lower(), str(discriminative).lower()))


def test_transformer_classifier_uses_the_transformer_preset_and_names_its_groups() -> None:
    import_plugins()
    experiment = read_experiment(load_params(TRANSFORMER))
    assert experiment.scheduler == evaluate("stlr.transformer()")
    names = [group.name for group in experiment.groups]
    layers = ["embeddings", "layers 0-1", "layers 2-3", "layers 4-5", "head"]
    assert names == [name for name in layers for _ in range(2)] + [None]
    decays = [group[1].get("weight_decay") for group in
              experiment.config["trainer"]["optimizer"]["parameter_groups"]]
    assert decays == [None, 0] * 5  # AdamW's 0.01, then 0 for biases and LayerNorm weights
    # The model is built (from the local folder) to count each group's parameters, so
    # the preview shows that every regex matched and nothing fell to the default group.
    counts = [group.num_parameters for group in experiment.groups]
    assert all(counts[:-1]) and counts[-1] == 0
    pairs = [counts[i] + counts[i + 1] for i in range(0, 10, 2)]
    assert pairs == [11918592, 3548928, 3548928, 3548928, 148610]
    result = simulate(experiment)
    assert (experiment.num_epochs, experiment.updates_per_epoch) == (4, 10)
    assert result.trainable.all()  # no gradual unfreezing
    assert result.peak[:10] == pytest.approx([1e-4] * 10)  # no discriminative rates
    assert result.peaks == [4]  # one triangle over 40 updates, cut at 4


def test_callbacks_are_dotted_types_of_our_classes() -> None:
    from allennlp.training.callbacks.callback import TrainerCallback

    from allennlp_stlr import ConfigChecks, LearningRateTrace

    assert evaluate("stlr.callbacks()") == [{"type": "allennlp_stlr.ConfigChecks"}]
    both = evaluate("stlr.callbacks(trace=true)")
    assert [TrainerCallback.resolve_class_name(c["type"])[0] for c in both] == [
        ConfigChecks, LearningRateTrace
    ]
