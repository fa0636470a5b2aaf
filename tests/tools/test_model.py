"""
`build_model` gives what `allennlp train` builds: the same vocabulary, the same initial
weights (same seeds), and a training loader indexed with the model's vocabulary.
"""
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

import pytest
import torch
from allennlp.commands.train import TrainModel
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.common.plugins import import_plugins
from allennlp.common.util import prepare_environment

from allennlp_stlr.tools.model import build_model
from tests.helpers import ROOT

CONFIG = "fixtures/experiment.jsonnet"


@pytest.fixture(autouse=True)
def in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """In the root, as `allennlp train` runs there (the config's data paths are relative to
    it), with its plugins loaded."""
    monkeypatch.chdir(ROOT)
    import_plugins()


def params_of(overrides: Dict[str, Any]) -> Params:
    return Params.from_file(str(ROOT / CONFIG), params_overrides=overrides)


def built_by_allennlp_train(params: Params, tmp_path: Path) -> TrainModel:
    """What `allennlp train` does before its first batch (commands/train.py, _train_worker)."""
    params = params.duplicate()
    prepare_environment(params)
    return TrainModel.from_params(params=params, serialization_dir=str(tmp_path), local_rank=0)


def tokens(vocabulary: Any) -> List[str]:
    return [vocabulary.get_token_from_index(i) for i in range(vocabulary.get_vocab_size())]


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"datasets_for_vocab_creation": ["train"]},
        {"vocabulary": {"type": "from_instances", "min_count": {"tokens": 3}}},
    ],
)
def test_same_model_and_vocabulary_as_allennlp_train(
    overrides: Dict[str, Any], tmp_path: Path
) -> None:
    params = params_of(overrides)
    before = params.as_dict(quiet=True)
    model, loader = build_model(params)
    assert params.as_dict(quiet=True) == before  # the caller's params are not consumed
    reference = built_by_allennlp_train(params, tmp_path)
    assert tokens(model.vocab) == tokens(reference.model.vocab)
    assert model.vocab.get_token_to_index_vocabulary("labels") == \
        reference.model.vocab.get_token_to_index_vocabulary("labels")
    ours, theirs = model.state_dict(), reference.model.state_dict()
    assert list(ours) == list(theirs)
    assert all(torch.equal(ours[key], theirs[key]) for key in ours)
    # 160 training sentences in batches of 16, already indexed: a batch runs through the model.
    assert len(loader) == math.ceil(160 / 16) == len(reference.trainer.data_loader)
    batch = next(iter(loader))
    assert batch["tokens"]["tokens"]["tokens"].dtype == torch.int64
    assert model(**batch)["loss"].dim() == 0


def counted(files: List[str], min_count: int) -> Set[str]:
    """The words of the fixture files seen at least `min_count` times, counted here."""
    counts: Counter = Counter()
    for name in files:
        for line in (ROOT / "fixtures/data" / name).read_text().splitlines():
            counts.update(json.loads(line)["text"].split())
    return {word for word, count in counts.items() if count >= min_count}


@pytest.mark.parametrize(
    "datasets, files",
    [
        (None, ["train.jsonl", "dev.jsonl"]),
        (["train"], ["train.jsonl"]),
        (["validation"], ["dev.jsonl"]),
    ],
)
def test_vocabulary_counts_only_the_datasets_it_is_told_to(
    datasets: Optional[List[str]], files: List[str]
) -> None:
    overrides: Dict[str, Any] = {"vocabulary": {"min_count": {"tokens": 10}}}
    if datasets is not None:
        overrides["datasets_for_vocab_creation"] = datasets
    model, _ = build_model(params_of(overrides))
    expected = counted(files, 10)
    assert set(tokens(model.vocab)) == expected | {"@@PADDING@@", "@@UNKNOWN@@"}
    # The three choices really differ, so the test tells them apart.
    assert counted(["train.jsonl", "dev.jsonl"], 10) != counted(["train.jsonl"], 10)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"datasets_for_vocab_creation": ["test"]},
         "`datasets_for_vocab_creation` names 'test', which is not one of the experiment's "
         "datasets ['train', 'validation']; use only those."),
        ({"train_data_path": None},
         "The experiment has no `train_data_path`; set it to the training data file."),
    ],
)
def test_bad_experiments_are_configuration_errors(
    overrides: Dict[str, Any], message: str
) -> None:
    params = params_of(overrides)
    if overrides.get("train_data_path", "") is None:
        params.pop("train_data_path")
    with pytest.raises(ConfigurationError) as error:
        build_model(params)
    assert str(error.value).strip("'\"") == message
