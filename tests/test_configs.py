"""
Every shipped config builds: it parses, and `TrainModel.from_params` constructs its
data loaders, model, optimizer and trainer, with our `SlantedTriangular` serving
"slanted_triangular".

Conventions for configs (so that this test covers new ones without changes):
- data is `text_classification_json` jsonl with "text" and "label"; the test points the
  data paths at the fixture files so that building stays fast;
- a pretrained transformer is read from `std.extVar('STLR_MODEL')`, which the test sets to
  the local all-MiniLM-L6-v2 folder of `benchmarks.local_model`; a RoBERTa from
  `std.extVar('STLR_ROBERTA')`, a stand-in with roberta-large's names and 24 layers;
- a pretrained LSTM language model from `std.extVar('ULMFIT_LM')`, which the test sets to
  a tiny one of the ULMFiT LSTM benchmark's shape
  (`tests.benchmarks.helpers.tiny_language_model`).

The ULMFiT LSTM classifier, the config to copy for an LSTM, also goes through `stlr-preview`
and `stlr-groups` as a user would run them.
"""
import atexit
import functools
import io
import json
import math
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

import _jsonnet
import pytest
from allennlp.commands.train import TrainModel
from allennlp.common import Params
from allennlp.common.util import prepare_environment
from allennlp.training import GradientDescentTrainer

import allennlp_stlr
from allennlp_stlr import __main__ as entry
from benchmarks import local_model
from tests import probes  # noqa: F401  (test-only callbacks of fixtures/recover_*.jsonnet)
from tests.benchmarks.helpers import tiny_language_model
from tests.helpers import ROOT, save_tiny_roberta

TRAIN = ROOT / "fixtures" / "data" / "train.jsonl"
DEV = ROOT / "fixtures" / "data" / "dev.jsonl"

CONFIGS = sorted(ROOT.glob("configs/**/*.jsonnet")) + sorted(ROOT.glob("fixtures/*.jsonnet"))


@functools.lru_cache(maxsize=None)
def _ext_vars() -> Dict[str, str]:
    # The folder is converted once and then cached on disk, so every config may use it,
    # directly or through an imported .libsonnet.
    roberta = save_tiny_roberta(Path(tempfile.mkdtemp(prefix="stlr-roberta-")))
    atexit.register(shutil.rmtree, roberta, True)
    return {"STLR_MODEL": str(local_model.model_dir()), "STLR_ROBERTA": str(roberta)}


@functools.lru_cache(maxsize=None)
def _language_model() -> str:
    # Trained once per test run (a few seconds), only for the configs that load one.
    return str(tiny_language_model(Path(tempfile.mkdtemp(prefix="ulmfit-lm-"))))


def _ext_vars_of(config: Path) -> Dict[str, str]:
    if "ULMFIT_LM" in config.read_text():
        return {**_ext_vars(), "ULMFIT_LM": _language_model()}
    return _ext_vars()


def _load(config: Path) -> Params:
    overrides: Dict[str, Any] = {
        "train_data_path": str(TRAIN),
        "validation_data_path": str(DEV),
    }
    params = Params.from_file(str(config), overrides, _ext_vars_of(config))
    if "test_data_path" in params:
        params["test_data_path"] = str(DEV)
    # Build in this process on the CPU; the parameter names and groups are the same as
    # under DDP, whose `module.` prefix the configs' regexes allow for.
    params.pop("distributed", None)
    params["trainer"]["cuda_device"] = -1
    # As `allennlp train` does: seeds the run and takes the seed keys out of the params.
    prepare_environment(params)
    return params


def test_the_examples_are_found() -> None:
    names = {str(path.relative_to(ROOT)) for path in CONFIGS}
    assert {
        "configs/classifier_stlr.jsonnet",
        "configs/classifier_ulmfit.jsonnet",
        "configs/ulmfit_lstm_classifier.jsonnet",
        "fixtures/experiment.jsonnet",
        "fixtures/experiment_ulmfit.jsonnet",
    } <= names
    assert not any(name.endswith(".libsonnet") for name in names)


@pytest.mark.parametrize("name", ["classifier_stlr", "classifier_ulmfit"])
def test_the_examples_train_as_shipped_on_the_fixture_data(name: str) -> None:
    # Relative to the repository root, where `allennlp train` runs with the plugin.
    params = Params.from_file(str(ROOT / "configs" / f"{name}.jsonnet")).as_dict(quiet=True)
    assert (ROOT / params["train_data_path"]).resolve() == TRAIN
    assert (ROOT / params["validation_data_path"]).resolve() == DEV
    assert params["trainer"]["learning_rate_scheduler"]["type"] == "slanted_triangular"
    assert params["trainer"]["callbacks"] == [{"type": "stlr_checks"}, {"type": "stlr_trace"}]


@pytest.mark.parametrize("config", CONFIGS, ids=[str(p.relative_to(ROOT)) for p in CONFIGS])
def test_config_builds_with_our_scheduler(config: Path, tmp_path: Path) -> None:
    params = _load(config)
    trainer_config = params["trainer"].as_dict(quiet=True)
    scheduler_config = trainer_config.get("learning_rate_scheduler", {})
    optimizer_config = trainer_config.get("optimizer", {})
    accumulation = trainer_config.get("num_gradient_accumulation_steps", 1)

    train_loop = TrainModel.from_params(
        params=params, serialization_dir=str(tmp_path), local_rank=0
    )
    trainer = train_loop.trainer
    assert isinstance(trainer, GradientDescentTrainer)
    scheduler = trainer._learning_rate_scheduler

    if scheduler_config.get("type") == "slanted_triangular":
        assert type(scheduler) is allennlp_stlr.SlantedTriangular
        # The trainer passes its own epoch count and the loader's length in updates,
        # unless the config sets them itself.
        assert scheduler.num_epochs == scheduler_config.get("num_epochs", trainer._num_epochs)
        steps = math.ceil(len(trainer.data_loader) / accumulation)
        assert scheduler.num_steps_per_epoch == scheduler_config.get(
            "num_steps_per_epoch", steps
        )

    configured: List[Any] = optimizer_config.get("parameter_groups", [])
    # AllenNLP leaves the groups with `requires_grad: false` out of the optimizer.
    groups = [g for g in configured if g[1].get("requires_grad") is not False]
    if configured:
        sizes = [sum(p.numel() for p in g["params"]) for g in trainer.optimizer.param_groups]
        # One optimizer group per configured group, plus AllenNLP's trailing default group.
        assert len(sizes) == len(groups) + 1
        # A regex matching nothing leaves an empty layer group, which would waste an
        # unfreezing epoch and shift the discriminative rates of the groups below it.
        empty = [groups[i][0] for i, size in enumerate(sizes[:-1]) if size == 0]
        assert not empty, f"{config.name}: parameter_groups matching no parameter: {empty}"
        if scheduler_config.get("gradual_unfreezing"):
            assert sizes[-1] == 0
        # Built through `TrainModel`, the groups carry their configured names, and nothing
        # else names them: the default group has none.
        names = [g.get("name") for g in trainer.optimizer.param_groups]
        assert names == [o.get("name") for _, o in groups] + [None]


def _command(monkeypatch: pytest.MonkeyPatch, *argv: str) -> str:
    """`python -m allennlp_stlr ARGV` in this process at the repository root; its stdout."""
    monkeypatch.chdir(ROOT)
    for name, value in _ext_vars_of(ROOT / argv[1]).items():
        # As for `allennlp train`, the commands read std.extVar from the environment.
        monkeypatch.setenv(name, value)
    printed = io.StringIO()
    monkeypatch.setattr(sys, "stdout", printed)
    entry.main(list(argv))
    return printed.getvalue()


def test_the_lstm_config_previews_its_five_groups_unfreezing_top_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = _command(monkeypatch, "preview", "configs/ulmfit_lstm_classifier.jsonnet")
    assert "6 epochs x 5 updates = 30 updates" in out
    rows = re.findall(r"^\s+(\d)  (\S+(?: \d)?)\s.*?(update \d+ \(epoch \d\)|empty)", out, re.M)
    # 160 fixture sentences in batches of 32: 5 updates per epoch, one group more per epoch.
    assert rows == [
        ("0", "embedding", "update 21 (epoch 4)"),
        ("1", "lstm 0", "update 16 (epoch 3)"),
        ("2", "lstm 1", "update 11 (epoch 2)"),
        ("3", "lstm 2", "update 6 (epoch 1)"),
        ("4", "head", "update 1 (epoch 0)"),
        ("5", "group 5", "empty"),
    ]


def test_stlr_groups_finds_the_lstm_config_s_embedding_and_each_lstm_layer_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = _command(monkeypatch, "groups", "configs/ulmfit_lstm_classifier.jsonnet")
    groups = json.loads(_jsonnet.evaluate_snippet("printed", "{" + out + "}"))["parameter_groups"]
    lstm = r"^(module\.)?_seq2seq_encoder\.encoder%d\._module\.\w+_l0(_reverse)?$"
    # Bottom to top as the layers ran: the embedding, each LSTM layer, then the head's parts.
    assert [regexes for regexes, _ in groups] == [
        [r"^(module\.)?_text_field_embedder\."],
        [lstm % 0],
        [lstm % 1],
        [lstm % 2],
        [r"^(module\.)?_seq2vec_encoder\."],
        [r"^(module\.)?_feedforward\._linear_layers\.0\."],
        [r"^(module\.)?_classification_layer\."],
    ]
