"""
`allennlp stlr-preview`: its numbers are those of a real `allennlp train` run on the fixture
(every update's learning rate and trainable flag, from the `stlr_trace` callback), its
plot and CSV are what they say, and each config warning fires exactly when it should.
"""
import copy
import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import _jsonnet
import numpy as np
import pytest
from allennlp.common.checks import ConfigurationError
from allennlp.common.plugins import import_plugins
from matplotlib import image

from allennlp_stlr.group_labels import DEFAULT_GROUP_NAME
from allennlp_stlr.commands import preview

ROOT = Path(__file__).resolve().parents[2]
CONFIG = "fixtures/experiment.jsonnet"
ALLENNLP = str(Path(sys.executable).parent / "allennlp")

# Gradual unfreezing and discriminative fine-tuning over named groups, one of which matches
# nothing (it still takes an epoch to unfreeze), one with its own lr, and gradient
# accumulation that does not divide the 14 batches of 12 (so updates per epoch round up).
ULMFIT: Dict[str, Any] = {
    "data_loader": {"batch_size": 12},
    "trainer": {
        "num_epochs": 6,
        "num_gradient_accumulation_steps": 3,
        "optimizer": {
            "parameter_groups": [
                [["^(module\\.)?_text_field_embedder\\."], {"name": "embedder"}],
                [["^(module\\.)?_nothing_here\\."], {"name": "empty"}],
                [["^(module\\.)?_seq2vec_encoder\\."], {"name": "encoder", "lr": 0.02}],
                [["^(module\\.)?_feedforward\\."], {"name": "feedforward"}],
                [["^(module\\.)?_classification_layer\\."], {"name": "head"}],
            ]
        },
        "learning_rate_scheduler": {
            "type": "slanted_triangular",
            "gradual_unfreezing": True,
            "discriminative_fine_tuning": True,
        },
    },
}
# A data loader without a length: the trainer passes None and the schedule plans the
# triangle once the first epoch has ended.
LAZY: Dict[str, Any] = {"data_loader": {"batch_size": 16, "max_instances_in_memory": 48}}


def merged(*overrides: Dict[str, Any]) -> Dict[str, Any]:
    """The overrides as `-o` wants them: AllenNLP replaces a nested dict whole, so the keys
    of sections the config already has are dotted (`trainer.num_epochs`)."""
    out: Dict[str, Any] = {}
    for override in overrides:
        out = _merge(out, override)
    return _dotted(out, preview.load_params(str(ROOT / CONFIG)).as_dict(quiet=True))


def _dotted(
    overrides: Dict[str, Any], original: Dict[str, Any], prefix: str = ""
) -> Dict[str, Any]:
    flat: Dict[str, Any] = {}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(original.get(key), dict):
            flat.update(_dotted(value, original[key], f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def _merge(base: Dict[str, Any], extra: Dict[str, Any]) -> Dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@pytest.fixture(scope="module", autouse=True)
def plugins() -> None:
    import_plugins()


def load(*overrides: Dict[str, Any]) -> Any:
    return preview.load_params(str(ROOT / CONFIG), json.dumps(merged(*overrides)))


def train(tmp_path_factory: Any, name: str, overrides: Dict[str, Any]) -> Dict[str, Any]:
    out = tmp_path_factory.mktemp(name) / "run"
    done = subprocess.run(
        [ALLENNLP, "train", CONFIG, "-s", str(out), "-o", json.dumps(merged(overrides))],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = (out / "stlr_trace.jsonl").read_text().splitlines()
    return {"trace": [json.loads(line) for line in lines], "log": (out / "out.log").read_text()}


@pytest.fixture(scope="module")
def ulmfit_run(tmp_path_factory: Any) -> Dict[str, Any]:
    return train(tmp_path_factory, "ulmfit", ULMFIT)


@pytest.fixture(scope="module")
def lazy_run(tmp_path_factory: Any) -> Dict[str, Any]:
    return train(tmp_path_factory, "lazy", LAZY)


def assert_matches_trace(
    lr: np.ndarray, trainable: np.ndarray, trace: List[Dict[str, Any]]
) -> None:
    assert [record["update"] for record in trace] == list(range(1, len(lr) + 1))
    for row, record in enumerate(trace):
        assert lr[row].tolist() == record["lr"], f"update {row + 1}"
        assert trainable[row].tolist() == record["trainable"], f"update {row + 1}"


def test_in_process_preview_equals_training_with_layer_groups(ulmfit_run: Dict[str, Any]) -> None:
    result = preview.simulate(preview.read_experiment(load(ULMFIT)))
    assert result.experiment.updates_per_epoch == 5  # ceil(ceil(160 / 12) / 3)
    assert len(result.lr) == 30
    assert_matches_trace(result.lr, result.trainable, ulmfit_run["trace"])
    names = [group.name for group in result.experiment.groups]
    assert names == ["embedder", "empty", "encoder", "feedforward", "head", "(default)"]
    counts = [group.num_parameters for group in result.experiment.groups]
    assert counts[1] == 0 and counts[-1] == 0 and all(counts[i] > 0 for i in (0, 2, 3, 4))
    # One group more each epoch from the top; the empty group uses up epoch 3.
    first = {i: int(result.epoch[np.argmax(result.trainable[:, i])]) for i in (0, 2, 3, 4)}
    assert first == {4: 0, 3: 1, 2: 2, 0: 4}


def test_training_log_names_each_group(ulmfit_run: Dict[str, Any]) -> None:
    groups = preview.read_experiment(load(ULMFIT)).groups
    log = ulmfit_run["log"]
    start = log.index("slanted_triangular layer groups (start):")
    table = log[start:].split("\n")[2 : 2 + len(groups)]
    for index, (line, group) in enumerate(zip(table, groups)):
        fields = line.split()
        assert fields[:2] == [str(index), str(group.num_parameters)]
        state = "trainable" if index in (4, 5) else "frozen"  # the empty group waits its turn
        name = DEFAULT_GROUP_NAME.split() if group.name == "(default)" else [group.name]
        assert fields[3:] == [state] + name
    assert "slanted_triangular layer groups (epoch 4):" in log


def test_preview_of_a_loader_without_length_equals_training(lazy_run: Dict[str, Any]) -> None:
    experiment = preview.read_experiment(load(LAZY))
    assert experiment.passed_steps_per_epoch is None
    assert experiment.updates_per_epoch == 10
    result = preview.simulate(experiment)
    assert_matches_trace(result.lr, result.trainable, lazy_run["trace"])


def test_command_writes_table_csv_and_plot(ulmfit_run: Dict[str, Any], tmp_path: Path) -> None:
    png, table = tmp_path / "lr.png", tmp_path / "lr.csv"
    done = subprocess.run(
        [ALLENNLP, "stlr-preview", CONFIG, "-o", json.dumps(merged(ULMFIT)), "--plot", str(png),
         "--csv", str(table)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "WARNING" not in done.stdout
    assert "6 epochs x 5 updates = 30 updates" in done.stdout
    rows = {line.split()[1]: line.split() for line in done.stdout.splitlines()
            if line.split()[:1] in (["0"], ["2"], ["3"], ["4"])}
    assert rows["embedder"][5:7] == ["epoch", "4"]
    assert rows["head"][5:7] == ["epoch", "0"]
    assert "warm-up: 1 update(s) to the first peak; 5 triangle(s)" in done.stdout

    with table.open() as handle:
        reader = csv.reader(handle)
        header = next(reader)
        data = list(reader)
    groups = 6
    assert header == ["update", "epoch"] + [f"lr_{i}" for i in range(groups)] + [
        f"trainable_{i}" for i in range(groups)
    ]
    assert len(data) == 30
    trace = ulmfit_run["trace"]
    for row, record in zip(data, trace):
        assert int(row[0]) == record["update"] and int(row[1]) == record["epoch"]
        assert [float(x) for x in row[2 : 2 + groups]] == record["lr"]
        assert [x == "1" for x in row[2 + groups :]] == record["trainable"]

    pixels = image.imread(str(png))
    assert pixels.shape[:2] == (550, 1000)
    assert pixels.std() > 0.05  # not a blank canvas


def test_steps_per_epoch_comes_from_the_flag_then_the_scheduler() -> None:
    flagged = preview.read_experiment(load(), steps_per_epoch=7)
    assert (flagged.updates_per_epoch, flagged.passed_steps_per_epoch) == (7, 7)
    assert flagged.steps_source == "--steps-per-epoch"
    result = preview.simulate(flagged)
    assert result.lr.shape == (42, 1)
    assert result.peaks == [4]  # int(42 * 0.1): one triangle over the whole run

    configured = preview.read_experiment(
        load({"trainer": {"learning_rate_scheduler": {"num_steps_per_epoch": 4}}})
    )
    assert (configured.updates_per_epoch, configured.steps_source) == (
        4,
        "the scheduler's num_steps_per_epoch",
    )
    # The fixture needs no model for a plain schedule: group sizes stay unknown.
    assert configured.parameter_names is None
    assert configured.groups[0].num_parameters is None


def test_non_stlr_scheduler_is_a_configuration_error() -> None:
    params = load({"trainer": {"learning_rate_scheduler": {"type": "noam", "model_size": 8,
                                                            "warmup_steps": 5}}})
    with pytest.raises(ConfigurationError, match="not served by allennlp_stlr"):
        preview.read_experiment(params)


# ----------------------------------------------------------------------------- warnings
GOOD = ULMFIT
WARNING_CASES = {
    "early stopping": (
        {"trainer": {"patience": 2}},
        {},
        "remove `trainer.patience`",
    ),
    "scheduler epochs": (
        {"trainer": {"learning_rate_scheduler": {"num_epochs": 8}}},
        {"trainer": {"learning_rate_scheduler": {"num_epochs": 6}}},
        "Remove `num_epochs` from the scheduler block",
    ),
    "ddp unused parameters": (
        {"distributed": {"cuda_devices": [-1, -1]}},
        {"distributed": {"cuda_devices": [-1, -1], "ddp_accelerator": {
            "type": "torch", "find_unused_parameters": True}}},
        '"find_unused_parameters": true',
    ),
    "too few epochs": (
        {"trainer": {"num_epochs": 4}},
        {"trainer": {"num_epochs": 5}},
        "set trainer.num_epochs to at least 5",
    ),
}


@pytest.mark.parametrize("case", sorted(WARNING_CASES))
def test_warning_fires_only_for_the_problem(case: str) -> None:
    bad, good, fix = WARNING_CASES[case]
    assert preview.config_warnings(load(GOOD)) == []
    assert preview.config_warnings(load(GOOD, good)) == []
    warnings = preview.config_warnings(load(GOOD, bad))
    assert len(warnings) == 1 and fix in warnings[0], warnings


def test_too_few_epochs_then_fails_like_training() -> None:
    params = load(GOOD, {"trainer": {"num_epochs": 4}})
    with pytest.raises(ConfigurationError, match="`num_epochs` = 4 for 5 layer groups"):
        preview.simulate(preview.read_experiment(params))


def anchored(regex: str) -> Dict[str, Any]:
    groups = copy.deepcopy(ULMFIT["trainer"]["optimizer"]["parameter_groups"])
    groups[0][0] = [regex]
    return {"trainer": {"optimizer": {"parameter_groups": groups}}}


@pytest.mark.parametrize("with_names", [False, True])
def test_ddp_regex_warning_suggests_the_prefix(with_names: bool) -> None:
    names = preview.read_experiment(load(ULMFIT)).parameter_names if with_names else None
    warnings = preview.config_warnings(load(GOOD, anchored("^_text_field_embedder")), names)
    assert len(warnings) == 1
    assert "'^(module\\\\.)?_text_field_embedder'" in warnings[0]
    assert preview.config_warnings(load(GOOD, anchored("_text_field_embedder")), names) == []
    safe = anchored("^(module\\.)?_text_field_embedder")
    assert preview.config_warnings(load(GOOD, safe), names) == []


def test_suggested_groups_paste_into_the_config_and_preview_cleanly() -> None:
    done = subprocess.run(
        [ALLENNLP, "stlr-preview", CONFIG, "--suggest-groups"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("// 4 layer groups for the model of fixtures/experiment.jsonnet")
    groups = json.loads(_jsonnet.evaluate_snippet("suggested", "{" + done.stdout + "}"))[
        "parameter_groups"
    ]
    assert [options["name"] for _, options in groups] == [
        "_text_field_embedder", "_seq2vec_encoder", "_linear_layers.0", "head"
    ]
    pasted = {"trainer": {"optimizer": {"parameter_groups": groups}, "learning_rate_scheduler": {
        "type": "slanted_triangular", "gradual_unfreezing": True}}}
    experiment = preview.read_experiment(load(pasted))
    assert preview.config_warnings(load(pasted), experiment.parameter_names) == []
    assert experiment.groups[-1].num_parameters == 0
    result = preview.simulate(experiment)
    # One more group each epoch, from the head down; all train from epoch 3 on.
    first = [int(result.epoch[np.argmax(result.trainable[:, i])]) for i in range(4)]
    assert first == [3, 2, 1, 0]
