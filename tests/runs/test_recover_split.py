"""
The transformer config with each layer split in two param groups under one name (weights
with weight decay, biases and LayerNorm weights without; `stlr.transformerGroups(...,
noDecay=true)`), trained for real with gradual unfreezing every 2 updates and discriminative
rates: SIGKILLed mid-epoch and continued with `--recover`, it applies the uninterrupted run's
rates and trainable flags at every update, and `stlr-preview` shows exactly what training did.
The model is a BERT of all-MiniLM-L6-v2's layers, names and tokenizer, with hidden size 8
(`save_tiny_bert`): the schedule depends on the names and layers, not on the weights.
"""
import json
import signal
from pathlib import Path
from typing import Any, Dict, List

import pytest

from allennlp_stlr.tools.config import load_params
from allennlp_stlr.tools.preview.experiment import group_labels, read_experiment
from allennlp_stlr.tools.preview.simulate import simulate
from tests.helpers import (
    ROOT,
    TINY_BERT_SIZE,
    allennlp_train,
    full_trace,
    read_trace,
    save_tiny_bert,
    schedule_of,
)

CONFIG = ROOT / "configs" / "transformer_classifier.jsonnet"
# 60 instances in batches of 8: 8 updates per epoch, 2 epochs. 5 layers (embeddings, layers
# 0-1, 2-3, 4-5, head) of two groups each, then AllenNLP's empty default group.
UPDATES_PER_EPOCH, EPOCHS, LAYERS, EVERY = 8, 2, 5, 2
# Killed after update 13 (epoch 1, batch 5); the latest checkpoint is e1_b3 (update 11).
KILL_AT, RESUMED_AFTER = 13, 11
OVERRIDES: Dict[str, Any] = {
    "train_data_path": "fixtures/data/dev.jsonl",
    "validation_data_path": None,
    "data_loader": {"batch_size": 8, "shuffle": False},
    "model.seq2vec_encoder.embedding_dim": TINY_BERT_SIZE,
    "trainer.num_epochs": EPOCHS,
    "trainer.checkpointer": {"save_every_num_batches": 3},
    "trainer.learning_rate_scheduler": {
        "type": "allennlp_stlr.SlantedTriangular",
        "gradual_unfreezing": True,
        "discriminative_fine_tuning": True,
        "decay_factor": 0.8,
        "unfreeze_every_num_updates": EVERY,
    },
}
TRACE = [{"type": "stlr_trace"}]
KILL = [{"type": "sigkill_at_update", "update": KILL_AT}]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("bert"))


def train(model: Path, run: Path, callbacks: List[Dict[str, Any]], *more: str) -> None:
    overrides = dict(OVERRIDES, **{"trainer.callbacks": callbacks})
    done = allennlp_train(
        str(CONFIG), "-s", str(run), "-o", json.dumps(overrides),
        "--include-package", "tests.fault_injection", *more,
        STLR_MODEL=str(model),
    )
    expected = -signal.SIGKILL if callbacks != TRACE and "--recover" not in more else 0
    assert done.returncode == expected, done.stderr[-3000:]


@pytest.fixture(scope="module")
def uninterrupted(
    tmp_path_factory: pytest.TempPathFactory, model: Path
) -> Dict[int, Dict[str, Any]]:
    run = tmp_path_factory.mktemp("split") / "run"
    train(model, run, TRACE)
    return full_trace(run, UPDATES_PER_EPOCH * EPOCHS)


@pytest.mark.allennlp_train
def test_a_split_layer_unfreezes_as_one_and_recover_continues_exactly(
    tmp_path: Path, model: Path, uninterrupted: Dict[int, Dict[str, Any]]
) -> None:
    for update, line in uninterrupted.items():
        lrs, flags = line["lr"], line["trainable"]
        assert len(lrs) == 2 * LAYERS + 1
        # The halves of a layer: one rate, one flag; one layer more every 2 updates.
        assert lrs[0:-1:2] == lrs[1::2] and flags[0:-1:2] == flags[1::2], update
        stage = (update - 1) // EVERY
        assert flags[0:-1:2] == [k >= LAYERS - 1 - stage for k in range(LAYERS)], update
        layer = lrs[0:-1:2]
        assert [low / high for low, high in zip(layer, layer[1:])] == pytest.approx([0.8] * 4)

    run = tmp_path / "run"
    train(model, run, TRACE + KILL)
    assert max(read_trace(run / "stlr_trace.jsonl")) == KILL_AT
    assert (run / f"training_state_e1_b{RESUMED_AFTER - UPDATES_PER_EPOCH}.th").exists()
    train(model, run, TRACE + KILL, "--recover")
    recovered = full_trace(run, UPDATES_PER_EPOCH * EPOCHS)
    # The recovered process labels the groups again in its first line.
    assert recovered[RESUMED_AFTER + 1]["groups"] == uninterrupted[1]["groups"]
    assert schedule_of(recovered) == schedule_of(uninterrupted)


@pytest.mark.allennlp_train
def test_the_preview_of_the_split_config_equals_training(
    model: Path, uninterrupted: Dict[int, Dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STLR_MODEL", str(model))
    monkeypatch.chdir(ROOT)
    overrides = dict(OVERRIDES, **{"trainer.callbacks": TRACE})
    preview = simulate(read_experiment(load_params(str(CONFIG), json.dumps(overrides))))
    assert preview.experiment.updates_per_epoch == UPDATES_PER_EPOCH
    assert len(preview.lr) == UPDATES_PER_EPOCH * EPOCHS
    for row, update in enumerate(sorted(uninterrupted)):
        assert preview.lr[row].tolist() == uninterrupted[update]["lr"], update
        assert preview.trainable[row].tolist() == uninterrupted[update]["trainable"], update
    # One label per group in the trace and the preview, showing each group's layer.
    layers = ["embeddings", "layers 0-1", "layers 2-3", "layers 4-5", "head"]
    labels = [f"{layer} [{k}/2]" for layer in layers for k in (1, 2)] + ["group 10"]
    assert uninterrupted[1]["groups"] == labels
    assert group_labels(preview.experiment.groups) == labels
