"""
`stlr.libsonnet` as the package ships it (`allennlp_stlr.resources.libsonnet_path()`),
evaluated with the `jsonnet` module: its groups cover the real all-MiniLM-L6-v2 classifier's
parameters exactly once (by AllenNLP's own `make_parameter_groups`), the repository's
`configs/stlr.libsonnet` is the same library, and `configs/transformer_classifier.jsonnet`
previews as intended.
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
from allennlp_stlr.preview.experiment import load_params, read_experiment
from allennlp_stlr.preview.model import build_model
from allennlp_stlr.preview.simulate import simulate
from allennlp_stlr.local_model import model_dir
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
        "stlr.scheduler(numEpochs=4, numStepsPerEpoch=9, ratio=7.5)",
        "stlr.moduleRegex('_text_field_embedder')",
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
    assert names == ["embeddings", "layers 0-1", "layers 2-3", "layers 4-5", "head", "(default)"]
    # The model is built (from the local folder) to count each group's parameters, so
    # the preview shows that every regex matched and nothing fell to the default group.
    counts = [group.num_parameters for group in experiment.groups]
    assert counts == [11918592, 3548928, 3548928, 3548928, 148610, 0]
    result = simulate(experiment)
    assert (experiment.num_epochs, experiment.updates_per_epoch) == (4, 10)
    assert result.trainable.all()  # no gradual unfreezing
    assert result.peak[:5] == pytest.approx([1e-4] * 5)  # no discriminative rates
    assert result.peaks == [4]  # one triangle over 40 updates, cut at 4
