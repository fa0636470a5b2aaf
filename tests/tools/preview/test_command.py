"""
`allennlp stlr-preview` and `python -m allennlp_stlr preview`: the preview's numbers are those
of a real `allennlp train` run on the fixture (every update's learning rate and trainable
flag, from the `stlr_trace` callback), its plot and CSV are what they say, each config
warning fires exactly when it should, and configuration mistakes read as messages.
"""
import copy
import csv
import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import _jsonnet
import pytest
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.common.plugins import import_plugins
from matplotlib import image

from allennlp_stlr import __main__ as entry
from allennlp_stlr.tools.preview.advice import config_warnings
from allennlp_stlr.tools.config import load_params
from allennlp_stlr.checks import empty_group_message
from allennlp_stlr.tools.preview.experiment import NeedsLayerGroups, group_labels, read_experiment
from allennlp_stlr.tools.preview.render import format_table
from allennlp_stlr.tools.preview.simulate import Preview, simulate
from tests.helpers import ALLENNLP, ROOT, allennlp_train, read_lines, run_main

CONFIG = "fixtures/experiment.jsonnet"

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
# A configured epoch length the data do not have (10 batches of 16): epoch 0 follows the
# configured one, and the scheduler re-plans from the measured one when it ends.
MISCONFIGURED: Dict[str, Any] = {"trainer": {"learning_rate_scheduler": {"num_steps_per_epoch": 4}}}


# Gradual unfreezing every 3 updates instead of every epoch (5 updates): the next group
# starts training inside an epoch.
BY_UPDATES: Dict[str, Any] = {
    **ULMFIT,
    "trainer": {
        **ULMFIT["trainer"],
        "learning_rate_scheduler": {
            **ULMFIT["trainer"]["learning_rate_scheduler"],
            "unfreeze_every_num_updates": 3,
        },
    },
}


def merged(*overrides: Dict[str, Any]) -> Dict[str, Any]:
    """The overrides as `-o` wants them: AllenNLP replaces a nested dict whole, so the keys
    of sections the config already has are dotted (`trainer.num_epochs`)."""
    out: Dict[str, Any] = {}
    for override in overrides:
        out = _merge(out, override)
    return _dotted(out, load_params(str(ROOT / CONFIG)).as_dict(quiet=True))


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


@pytest.fixture(autouse=True)
def in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the fixture's data paths are relative to the root


def load(*overrides: Dict[str, Any]) -> Any:
    return load_params(str(ROOT / CONFIG), json.dumps(merged(*overrides)))


# The runs the preview is compared with, by name.
RUNS = {"ulmfit": ULMFIT, "lazy": LAZY, "by_updates": BY_UPDATES, "misconfigured": MISCONFIGURED}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Dict[str, Any]]:
    """`trained(name)`: the trace and log of the run `RUNS[name]`, trained once, when a test
    first asks for it."""

    @functools.lru_cache(maxsize=None)
    def run_of(name: str) -> Dict[str, Any]:
        out = tmp_path_factory.mktemp(name) / "run"
        done = allennlp_train(CONFIG, "-s", str(out), "-o", json.dumps(merged(RUNS[name])))
        assert done.returncode == 0, done.stderr[-3000:]
        return {"trace": read_lines(out / "stlr_trace.jsonl"), "log": (out / "out.log").read_text()}

    return run_of


def assert_matches_trace(result: Preview, trace: List[Dict[str, Any]]) -> None:
    assert [record["update"] for record in trace] == list(range(1, len(result.lr) + 1))
    for row, record in enumerate(trace):
        assert result.lr[row].tolist() == record["lr"], f"update {row + 1}"
        assert result.trainable[row].tolist() == record["trainable"], f"update {row + 1}"
        assert int(result.epoch[row]) == record["epoch"], f"update {row + 1}"


# ----------------------------------------------------------------------------- vs training
@pytest.mark.allennlp_train
def test_in_process_preview_equals_training_with_layer_groups(
    trained: Callable[[str], Dict[str, Any]]
) -> None:
    result = simulate(read_experiment(load(ULMFIT)))
    assert result.experiment.updates_per_epoch == 5  # ceil(ceil(160 / 12) / 3)
    assert len(result.lr) == 30
    assert_matches_trace(result, trained("ulmfit")["trace"])
    names = [group.name for group in result.experiment.groups]
    assert names == ["embedder", "empty", "encoder", "feedforward", "head", None]
    counts = [group.num_parameters for group in result.experiment.groups]
    assert counts[1] == 0 and counts[-1] == 0 and all(counts[i] > 0 for i in (0, 2, 3, 4))
    # One group more each epoch from the top; the empty group uses up epoch 3.
    first = {i: result.first_trainable_update(i) for i in (0, 2, 3, 4)}
    assert first == {4: 1, 3: 6, 2: 11, 0: 21}


@pytest.mark.allennlp_train
def test_training_log_names_each_group(trained: Callable[[str], Dict[str, Any]]) -> None:
    groups = read_experiment(load(ULMFIT)).groups
    log = trained("ulmfit")["log"]
    start = log.index("slanted_triangular layer groups (start):")
    table = log[start:].split("\n")[2 : 2 + len(groups)]
    for index, (line, group, label) in enumerate(zip(table, groups, group_labels(groups))):
        fields = line.split()
        assert fields[:2] == [str(index), str(group.num_parameters)]
        state = "trainable" if index in (4, 5) else "frozen"  # the empty group waits its turn
        name = label.split()  # the log splits on spaces as well
        assert fields[3:] == [state] + name
    assert "slanted_triangular layer groups (epoch 4):" in log


@pytest.mark.allennlp_train
def test_preview_of_a_loader_without_length_equals_training(
    trained: Callable[[str], Dict[str, Any]]
) -> None:
    experiment = read_experiment(load(LAZY))
    assert experiment.passed_steps_per_epoch is None
    assert experiment.updates_per_epoch == 10
    assert experiment.steps_source == "10 batches counted (the data loader has no length)"
    assert_matches_trace(simulate(experiment), trained("lazy")["trace"])


@pytest.mark.allennlp_train
def test_unfreezing_every_n_updates_equals_training(
    trained: Callable[[str], Dict[str, Any]]
) -> None:
    result = simulate(read_experiment(load(BY_UPDATES)))
    assert_matches_trace(result, trained("by_updates")["trace"])


def test_unfreezing_every_n_updates_shows_each_stage() -> None:
    result = simulate(read_experiment(load(BY_UPDATES)))
    # Stages of 3 updates from the head down; the empty group takes updates 10-12.
    first = {i: result.first_trainable_update(i) for i in (0, 2, 3, 4)}
    assert first == {4: 1, 3: 4, 2: 7, 0: 13}
    # A triangle per stage, then one over the remaining 18 updates (peak at int(18 * 0.1)).
    assert result.peaks == [1, 4, 7, 10, 13]
    table = format_table(result)
    rows = {line.split()[1]: line for line in table.splitlines() if line[:5].strip().isdigit()}
    assert "  update 13 (epoch 2)  " in rows["embedder"]
    assert "  update 7 (epoch 1)  " in rows["encoder"]
    assert "  update 4 (epoch 0)  " in rows["feedforward"]


@pytest.mark.allennlp_train
def test_misconfigured_epoch_length_is_simulated_as_trained(
    trained: Callable[[str], Dict[str, Any]]
) -> None:
    experiment = read_experiment(load(MISCONFIGURED))
    # Counted from the data, while the constructor gets the configured value.
    assert (experiment.updates_per_epoch, experiment.passed_steps_per_epoch) == (10, 4)
    result = simulate(experiment)
    assert result.lr.shape == (60, 1)
    assert_matches_trace(result, trained("misconfigured")["trace"])
    warnings = config_warnings(experiment)
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "slanted_triangular: `num_steps_per_epoch` is 4, but an epoch of the training data has "
        "10 optimizer updates."
    )
    assert "Remove `num_steps_per_epoch` from the scheduler's config" in warnings[0]


@pytest.mark.subprocess
def test_each_warning_is_printed_once_on_stdout_and_not_repeated_on_stderr() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "allennlp_stlr", "preview", CONFIG, "-o",
         json.dumps(merged(MISCONFIGURED))],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    message = "`num_steps_per_epoch` is 4, but an epoch of the training data has 10"
    assert done.stdout.count(message) == 1
    assert done.stdout.startswith(f"WARNING: slanted_triangular: {message}")
    assert message not in done.stderr


@pytest.mark.allennlp_train
def test_command_writes_table_csv_and_plot(
    trained: Callable[[str], Dict[str, Any]], tmp_path: Path
) -> None:
    png, table = tmp_path / "lr.png", tmp_path / "lr.csv"
    done = subprocess.run(
        [ALLENNLP, "stlr-preview", CONFIG, "-o", json.dumps(merged(ULMFIT)), "--plot", str(png),
         "--csv", str(table)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # The scheduler's warning about the deliberately empty group, once, on stdout.
    warnings = [line for line in done.stdout.splitlines() if "WARNING" in line]
    assert warnings == [
        "WARNING: parameter_groups regex(es) matching no parameter of the model: "
        "`^(module\\.)?_nothing_here\\.` (group 1, empty).",
        "WARNING: " + empty_group_message(1, "empty", True, 0),
    ]
    assert "6 epochs x 5 updates = 30 updates" in done.stdout
    rows = {line.split()[1]: line for line in done.stdout.splitlines()
            if line.split()[:1] in (["0"], ["1"], ["2"], ["4"])}
    assert "  update 21 (epoch 4)  " in rows["embedder"]
    assert "  empty  " in rows["empty"]
    assert "  update 11 (epoch 2)  " in rows["encoder"]
    assert "  update 1 (epoch 0)  " in rows["head"]
    assert "warm-up: 1 update(s) to the first peak; 5 triangle(s)" in done.stdout

    with table.open() as handle:
        reader = csv.reader(handle)
        header = next(reader)
        data = list(reader)
    names = ["embedder", "empty", "encoder", "feedforward", "head", "group 5"]
    groups = len(names)
    assert header == ["update", "epoch"] + [f"lr: {n}" for n in names] + [
        f"trainable: {n}" for n in names
    ]
    assert len(data) == 30
    trace = trained("ulmfit")["trace"]
    for row, record in zip(data, trace):
        assert int(row[0]) == record["update"] and int(row[1]) == record["epoch"]
        assert [float(x) for x in row[2 : 2 + groups]] == record["lr"]
        assert [x == "1" for x in row[2 + groups :]] == record["trainable"]

    pixels = image.imread(str(png))
    assert pixels.shape[:2] == (550, 1000)
    assert pixels.std() > 0.05  # not a blank canvas


# ----------------------------------------------------------------------------- in process
def test_steps_per_epoch_flag_replaces_the_count() -> None:
    flagged = read_experiment(load(), steps_per_epoch=7)
    assert (flagged.updates_per_epoch, flagged.passed_steps_per_epoch) == (7, 7)
    assert flagged.steps_source == "--steps-per-epoch"
    result = simulate(flagged)
    assert result.lr.shape == (42, 1)
    assert result.peaks == [4]  # int(42 * 0.1): one triangle over the whole run
    # The fixture needs no model for a plain schedule: group sizes stay unknown.
    assert flagged.parameter_names is None
    assert flagged.groups[0].num_parameters is None


def test_a_run_longer_than_the_schedule_lists_no_peak_on_the_floor() -> None:
    # The scheduler block plans 5 epochs and the trainer runs 20: from update 30 on the rate
    # stays on the floor, and the run's last update is no peak.
    overrides = {"trainer": {"num_epochs": 20, "learning_rate_scheduler": {"num_epochs": 5}}}
    result = simulate(read_experiment(load(overrides), steps_per_epoch=6))
    assert result.lr[29:, 0].tolist() == pytest.approx([0.01 / 32] * 91, rel=1e-12)
    assert result.peaks == [3]
    assert "; 1 triangle(s), peaking at update(s) 3\n" in format_table(result)


# Data that cannot be read: a missing file, and a URL, which has no connection here.
NO_DATA = {
    "train_data_path": "fixtures/data/missing.jsonl",
    "validation_data_path": "https://example.invalid/dev.jsonl",
}


def test_steps_per_epoch_reads_no_data_for_layer_groups_and_says_what_it_did_not_count() -> None:
    # ULMFIT without its empty group: uncounted, every group is taken to hold parameters.
    kept = [g for g in ULMFIT["trainer"]["optimizer"]["parameter_groups"] if g[1]["name"] != "empty"]
    groups = {"trainer": {"optimizer": {"parameter_groups": kept}}}
    experiment = read_experiment(load(ULMFIT, groups, NO_DATA), steps_per_epoch=5)
    # The fixture's embedding and label layer are sized by the data's vocabulary.
    assert experiment.sized_by_data == ("labels", "tokens")
    assert [group.num_parameters for group in experiment.groups] == [None] * 5
    result = simulate(experiment)
    # The same schedule as counted from the data (5 updates per epoch there too).
    counted = simulate(read_experiment(load(ULMFIT, groups)))
    assert result.lr.tolist() == counted.lr.tolist()
    assert result.trainable.tolist() == counted.trainable.tolist()
    assert format_table(result).splitlines()[-1] == (
        "params ?: not counted: the model's sizes come from the vocabulary of the data "
        "(namespace 'labels', 'tokens'), which --steps-per-epoch does not read; the schedule "
        "takes each group to hold parameters and AllenNLP's default group none"
    )


def test_steps_per_epoch_counts_a_transformer_without_reading_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # allennlp-models' BoolQ model block (fixtures/roberta_switched.jsonnet): its sizes come
    # from the transformer and `num_labels`, so the model is built with no data.
    from tests.helpers import save_tiny_roberta

    monkeypatch.setenv("STLR_ROBERTA", str(save_tiny_roberta(tmp_path)))
    config = str(ROOT / "fixtures/roberta_switched.jsonnet")
    without = read_experiment(load_params(config, json.dumps(NO_DATA)), steps_per_epoch=10)
    counted = read_experiment(load_params(config))
    assert without.sized_by_data == ()
    sizes = [group.num_parameters for group in without.groups]
    assert sizes == [group.num_parameters for group in counted.groups]
    assert all(size for size in sizes[:-1]) and sizes[-1] == 0


def test_default_epochs_come_from_the_trainer() -> None:
    config = load().as_dict()
    del config["trainer"]["num_epochs"]
    experiment = read_experiment(Params(config), steps_per_epoch=2)
    assert experiment.num_epochs == 20  # GradientDescentTrainer's default
    assert simulate(experiment).lr.shape == (40, 1)


@pytest.mark.parametrize(
    "distributed, batch_size, updates",
    [
        # 160 instances in shards of 54, 53, 53: 2, 1, 1 batches of 53; the shortest ends it.
        ({"cuda_devices": [-1, -1, -1]}, 53, 1),
        # Two nodes of one worker each: shards of 80, 5 batches of 16.
        ({"cuda_devices": [-1], "num_nodes": 2}, 16, 5),
        # One device is not distributed: all 160 instances, 10 batches.
        ({"cuda_devices": [-1]}, 16, 10),
    ],
)
def test_distributed_epochs_count_one_workers_shard(
    distributed: Dict[str, Any], batch_size: int, updates: int
) -> None:
    experiment = read_experiment(
        load({"distributed": distributed, "data_loader": {"batch_size": batch_size}})
    )
    assert (experiment.updates_per_epoch, experiment.passed_steps_per_epoch) == (updates, updates)
    workers = len(distributed["cuda_devices"]) * distributed.get("num_nodes", 1)
    assert experiment.workers == workers
    if workers > 1:
        assert f"shortest of {workers} workers' shards" in experiment.steps_source
        assert "per worker" in render_table(experiment)


def render_table(experiment: Any) -> str:
    from allennlp_stlr.tools.preview.render import format_table

    return format_table(simulate(experiment))


def test_non_stlr_scheduler_is_a_configuration_error() -> None:
    params = load({"trainer": {"learning_rate_scheduler": {"type": "noam", "model_size": 8,
                                                            "warmup_steps": 5}}})
    with pytest.raises(ConfigurationError, match="not served by allennlp_stlr"):
        read_experiment(params)


# ----------------------------------------------------------------------------- warnings
GOOD = ULMFIT
WARNING_CASES = {
    "early stopping": (
        {"trainer": {"patience": 2}},
        {},
        "remove `trainer.patience`",
    ),
    "scheduler epoch length": (
        {"trainer": {"learning_rate_scheduler": {"num_steps_per_epoch": 4}}},
        {"trainer": {"learning_rate_scheduler": {"num_steps_per_epoch": 5}}},
        "`num_steps_per_epoch` is 4, but an epoch of the training data has 5 optimizer updates",
    ),
    "ddp unused parameters": (
        {"distributed": {"cuda_devices": [-1, -1]}},
        {"distributed": {"cuda_devices": [-1, -1], "ddp_accelerator": {
            "type": "torch", "find_unused_parameters": True}}},
        '"find_unused_parameters": true',
    ),
    "ddp unused parameters on several nodes": (
        {"distributed": {"cuda_devices": [-1], "num_nodes": 2}},
        {"distributed": {"cuda_devices": [-1], "num_nodes": 2, "ddp_accelerator": {
            "type": "torch", "find_unused_parameters": True}}},
        '"find_unused_parameters": true',
    ),
}


@pytest.fixture(scope="module")
def good_warnings() -> List[str]:
    return config_warnings(read_experiment(load(GOOD)))


@pytest.mark.parametrize("case", sorted(WARNING_CASES))
def test_warning_fires_only_for_the_problem(case: str, good_warnings: List[str]) -> None:
    bad, good, fix = WARNING_CASES[case]
    assert good_warnings == []
    assert config_warnings(read_experiment(load(GOOD, good))) == []
    warnings = config_warnings(read_experiment(load(GOOD, bad)))
    assert len(warnings) == 1 and fix in warnings[0], warnings


# Weight decay kept off every bias with a group of its own: the biases of three layers in a
# group that is not a layer, which gradual unfreezing would unfreeze as if it were one.
NO_DECAY_GROUP: Dict[str, Any] = {"trainer": {"optimizer": {"parameter_groups": [
    [["^(module\\.)?_text_field_embedder\\."], {"name": "embedder"}],
    [["^(module\\.)?_seq2vec_encoder\\..*weight$"], {"name": "encoder"}],
    [["^(module\\.)?_feedforward\\..*weight$"], {"name": "feedforward"}],
    [["^(module\\.)?_classification_layer\\.weight$"], {"name": "head"}],
    [["bias$"], {"name": "no decay", "weight_decay": 0}],
]}}}


@pytest.mark.parametrize("mode", ["gradual_unfreezing", "discriminative_fine_tuning"])
def test_group_that_is_not_a_layer_is_reported(mode: str) -> None:
    scheduler = {"trainer": {"learning_rate_scheduler": {
        "type": "slanted_triangular", mode: True, "num_epochs": 6}}}
    experiment = read_experiment(load(NO_DECAY_GROUP, scheduler))
    held = experiment.groups[4].parameter_names
    assert held is not None and all(name.endswith("bias") for name in held) and len(held) == 4
    warnings = config_warnings(experiment)
    assert len(warnings) == 1
    assert "Param group 4 (no decay) holds parameters of layers that other groups hold" in (
        warnings[0]
    )
    # Without layer groups in the schedule, the same groups are only weight-decay groups.
    plain = read_experiment(load(NO_DECAY_GROUP), build=True)
    assert config_warnings(plain) == []


def anchored(regex: str) -> Dict[str, Any]:
    groups = copy.deepcopy(ULMFIT["trainer"]["optimizer"]["parameter_groups"])
    groups[0][0] = [regex]
    return {"trainer": {"optimizer": {"parameter_groups": groups}}}


TWO_WORKERS = {
    "distributed": {
        "cuda_devices": [-1, -1],
        "ddp_accelerator": {"type": "torch", "find_unused_parameters": True},
    }
}


@pytest.mark.parametrize("build", [False, True])
def test_ddp_regex_warning_suggests_the_prefix_under_distributed_training(build: bool) -> None:
    def warnings(regex: str, *more: Dict[str, Any]) -> List[str]:
        return config_warnings(read_experiment(load(GOOD, anchored(regex), *more), build=build))

    found = warnings("^_text_field_embedder", TWO_WORKERS)
    assert len(found) == 1
    assert "'^(module\\\\.)?_text_field_embedder'" in found[0]
    assert warnings("_text_field_embedder", TWO_WORKERS) == []
    assert warnings("^(module\\.)?_text_field_embedder", TWO_WORKERS) == []
    # A config that does not train distributed: its regexes match as written.
    assert warnings("^_text_field_embedder") == []


# ----------------------------------------------------------------------------- errors
def test_too_few_epochs_fails_like_training() -> None:
    params = load(GOOD, {"trainer": {"num_epochs": 4}})
    with pytest.raises(ConfigurationError, match="`num_epochs` = 4 for 5 layer groups"):
        simulate(read_experiment(params))


def test_configuration_error_is_a_message_and_exit_code(capsys: pytest.CaptureFixture) -> None:
    overrides = json.dumps(merged(GOOD, {"trainer": {"num_epochs": 4}}))
    done = run_main(capsys, "preview", CONFIG, "-o", overrides)
    assert done["code"] == 1
    assert done["out"] == ""
    assert "Traceback" not in done["err"]
    lines = done["err"].splitlines()
    assert lines[0].startswith("stlr-preview: error: slanted_triangular: with `gradual_unfreezing`")
    assert "`num_epochs` = 4 for 5 layer groups" in lines[0]
    # The preview names the regex of the empty group, which is one of the 5.
    assert lines[1] == (
        "parameter_groups regex(es) matching no parameter of the model: "
        "`^(module\\.)?_nothing_here\\.` (group 1, empty)."
    )
    assert lines[2].startswith(f"hint: fix that setting in {CONFIG}")
    with pytest.raises(ConfigurationError, match="`num_epochs` = 4 for 5 layer groups"):
        entry.main(["preview", CONFIG, "-o", overrides, "--traceback"])


# ULMFIT's groups with the embedder's regex misspelled, as in a hand-written config.
MISSPELLED = [
    [["^(module\\.)?_text_field_embeder\\."], {"name": "embedder"}],
    *ULMFIT["trainer"]["optimizer"]["parameter_groups"][2:],
]
UNMATCHED = (
    "parameter_groups regex(es) matching no parameter of the model: "
    "`^(module\\.)?_text_field_embeder\\.` (group 0, embedder). AllenNLP's default group "
    "(group 4) holds the 1 parameter tensor(s) that no regex matches: "
    "_text_field_embedder.token_embedder_tokens.weight."
)


@pytest.mark.parametrize("mode", ["gradual_unfreezing", "discriminative_fine_tuning"])
def test_a_regex_that_matches_nothing_is_named_with_the_parameters_it_missed(
    mode: str, capsys: pytest.CaptureFixture
) -> None:
    overrides = merged(GOOD, {"trainer": {
        "optimizer": {"parameter_groups": MISSPELLED},
        "learning_rate_scheduler": {
            "gradual_unfreezing": mode == "gradual_unfreezing", "discriminative_fine_tuning": True
        },
    }})  # fmt: skip
    done = run_main(capsys, "preview", CONFIG, "-o", json.dumps(overrides))
    if mode == "gradual_unfreezing":
        # The scheduler refuses the parameters left in the default group; the preview says
        # which regex missed them.
        assert done["code"] == 1
        lines = done["err"].splitlines()
        assert "fell into AllenNLP's default group (group 4)" in lines[0]
        assert lines[1] == UNMATCHED
    else:
        # They train at the top rate in the default group: a warning, and the preview.
        assert done["code"] == 0, done["err"]
        assert f"WARNING: {UNMATCHED}" in done["out"].splitlines()


# file name, its text (None: no such file), the hint line
UNREADABLE = [
    ("no_such_experiment.jsonnet", None,
     "hint: there is no file no_such_experiment.jsonnet in {cwd}, the folder the command "
     "runs in: check the path"),
    ("broken.jsonnet", "{\n  trainer: {\n    num_epochs: 3\n    optimizer: 'adam',\n  },\n}\n",
     "hint: the Jsonnet of broken.jsonnet does not evaluate at line 4, column 5: fix it "
     "there (the error above is Jsonnet's own)"),
    ("needs_env.jsonnet", "{ model: std.extVar('STLR_UNSET_VARIABLE') }\n",
     "hint: the Jsonnet of needs_env.jsonnet reads std.extVar('STLR_UNSET_VARIABLE'): set "
     "the environment variable STLR_UNSET_VARIABLE and run again"),
]  # fmt: skip


@pytest.mark.parametrize("name, text, hint", UNREADABLE)
@pytest.mark.parametrize("command", ["preview", "groups"])
def test_unreadable_config_gets_a_hint_that_fits(
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    command: str,
    name: str,
    text: Optional[str],
    hint: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STLR_UNSET_VARIABLE", raising=False)
    if text is not None:
        (tmp_path / name).write_text(text)
    done = run_main(capsys, command, name)
    assert done["code"] == 1
    lines = done["err"].splitlines()
    assert lines[0].startswith(f"stlr-{command}: error: cannot read {name}")
    assert lines[-1] == hint.format(cwd=tmp_path)
    assert "fix that setting" not in done["err"]


@pytest.mark.parametrize("mode", ["gradual_unfreezing", "discriminative_fine_tuning"])
def test_layer_schedule_without_groups_points_to_stlr_groups(
    mode: str, capsys: pytest.CaptureFixture
) -> None:
    overrides = json.dumps(merged({"trainer": {"learning_rate_scheduler": {mode: True}}}))
    with pytest.raises(NeedsLayerGroups, match="needs at least two layer groups") as raised:
        simulate(read_experiment(load_params(CONFIG, overrides)))
    assert "stlr-groups" in str(raised.value) and "[1]" not in str(raised.value)
    done = run_main(capsys, "preview", CONFIG, "-o", overrides)
    assert done["code"] == 1
    assert "[1] parameters" not in done["err"]
    assert done["err"].splitlines()[1] == (
        f"hint: `allennlp stlr-groups {CONFIG}` (or `python -m allennlp_stlr groups {CONFIG}`) "
        "prints a parameter_groups block for this model to paste into trainer.optimizer"
    )


@pytest.mark.parametrize(
    "extra, named",
    [(["--plot", "lr.png"], "--plot"), (["--csv", "lr.csv", "--log-y"], "--csv and --log-y")],
)
def test_suggest_groups_refuses_preview_options(
    extra: List[str], named: str, capsys: pytest.CaptureFixture
) -> None:
    done = run_main(capsys, "preview", CONFIG, "--suggest-groups", *extra)
    assert done["code"] == 2 and done["out"] == ""
    assert done["err"].startswith(
        f"stlr-preview: error: {named} belong to a preview of the learning rates, but "
        "--suggest-groups prints parameter_groups instead of a preview."
    )


# ----------------------------------------------------------------------------- groups
@pytest.mark.subprocess
def test_suggested_groups_paste_into_the_config_and_preview_cleanly() -> None:
    done = subprocess.run(
        [ALLENNLP, "stlr-groups", CONFIG], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    alias = subprocess.run(
        [ALLENNLP, "stlr-preview", CONFIG, "--suggest-groups"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert alias.returncode == 0 and alias.stdout == done.stdout
    assert done.stdout.startswith("// 4 layer groups, bottom to top, found by running one training")
    groups = json.loads(_jsonnet.evaluate_snippet("suggested", "{" + done.stdout + "}"))[
        "parameter_groups"
    ]
    assert [options["name"] for _, options in groups] == [
        "_text_field_embedder", "_seq2vec_encoder", "_linear_layers.0", "head"
    ]
    pasted = {"trainer": {"optimizer": {"parameter_groups": groups}, "learning_rate_scheduler": {
        "type": "slanted_triangular", "gradual_unfreezing": True}}}
    experiment = read_experiment(load(pasted))
    assert config_warnings(experiment) == []
    assert experiment.groups[-1].num_parameters == 0
    result = simulate(experiment)
    # One more group each epoch, from the head down; all train from epoch 3 on.
    first = [result.first_trainable_update(i) for i in range(4)]
    assert first == [31, 21, 11, 1]


# ----------------------------------------------------------------------------- entry points
@pytest.mark.subprocess
def test_module_entry_points_need_no_plugins_file(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m allennlp_stlr`, in a fresh interpreter started in a folder without
    `.allennlp_plugins`, prints what the subcommands print in the root (the README's blocks
    run `allennlp stlr-preview` and `stlr-groups` themselves)."""
    assert not (tmp_path / ".allennlp_plugins").exists()
    data = ROOT / "fixtures" / "data"
    overrides = json.dumps(merged(ULMFIT, {
        "train_data_path": str(data / "train.jsonl"),
        "validation_data_path": str(data / "dev.jsonl"),
    }))
    config = str(ROOT / CONFIG)

    module = [sys.executable, "-m", "allennlp_stlr"]
    printed = {}
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("COLUMNS", "120")  # both cut the table's rows to the same width
    for command in ("preview", "groups"):
        done = subprocess.run(
            module + [command, config, "-o", overrides], cwd=tmp_path, capture_output=True,
            text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        printed[command] = done.stdout
        in_root = run_main(capsys, command, config, "-o", overrides)
        assert in_root["code"] == 0, in_root["err"]
        if command == "preview":
            # Only the folder without a plugins file is told that training there with the
            # plain type would use AllenNLP's built-in.
            warning, printed[command] = printed[command].split("\n", 1)
            assert "would train with AllenNLP's built-in slanted_triangular" in warning
        assert printed[command] == in_root["out"]
    assert "6 epochs x 5 updates = 30 updates" in printed["preview"]
    assert printed["groups"].startswith("// 4 layer groups, bottom to top")

    from allennlp_stlr.resources import libsonnet_path

    packaged = libsonnet_path()
    assert run_main(capsys, "libsonnet")["out"] == f"{packaged}\n"
    target = tmp_path / "configs"
    assert run_main(capsys, "libsonnet", "--copy-to", str(target))["out"] == (
        f"{target / 'stlr.libsonnet'}\n"
    )
    assert (target / "stlr.libsonnet").read_text() == packaged.read_text()


def test_libsonnet_copy_keeps_a_different_file(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    mine = tmp_path / "stlr.libsonnet"
    mine.write_text("// edited\n")
    done = run_main(capsys, "libsonnet", "--copy-to", str(tmp_path))
    assert done["code"] == 1
    assert done["err"].startswith(
        f"libsonnet: error: {mine} exists and differs from the packaged stlr.libsonnet; "
        "pass --force to replace it."
    )
    assert mine.read_text() == "// edited\n"
    assert run_main(capsys, "libsonnet", "--copy-to", str(tmp_path), "--force")["code"] == 0
    assert mine.read_text().startswith("//") and mine.read_text() != "// edited\n"


NEEDS_THE_MODEL = (
    "hint: the model itself is needed here (its layer groups and their parameters): set "
    "`model_name` to a local folder with the model"
)
# command, overrides, the hint line's start
HUB_CASES = [
    ("preview", {}, "hint: --steps-per-epoch N (the optimizer updates per epoch) previews the "
                    "schedule without the model or the data"),
    ("preview", {"trainer.learning_rate_scheduler.discriminative_fine_tuning": True},
     NEEDS_THE_MODEL),
    ("groups", {}, NEEDS_THE_MODEL),
]  # fmt: skip


@pytest.mark.parametrize("command, overrides, hint", HUB_CASES)
def test_a_transformer_only_the_hub_has_is_a_message_with_a_way_out(
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    overrides: Dict[str, Any],
    hint: str,
) -> None:
    """No model hub here: a name that is neither cached nor a folder fails to download."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("STLR_MODEL", "allennlp-stlr-tests/no-such-model")
    config = "configs/transformer_classifier.jsonnet"
    done = run_main(capsys, command, config, "-o", json.dumps(overrides))
    assert done["code"] == 1
    assert "Traceback" not in done["err"]
    lines = done["err"].splitlines()
    assert lines[0].startswith(
        f"stlr-{command}: error: the config's pretrained transformer "
        "(allennlp-stlr-tests/no-such-model) is not on this machine and the Hugging Face hub "
        "cannot be reached: "
    )
    assert lines[-1].startswith(hint)
    if overrides or command == "groups":
        return
    # As the hint says: the schedule itself needs neither model nor data.
    done = run_main(capsys, "preview", config, "--steps-per-epoch", "10")
    assert done["code"] == 0, done["err"]
    assert "4 epochs x 10 updates = 40 updates (updates per epoch from --steps-per-epoch)" in (
        done["out"]
    )
