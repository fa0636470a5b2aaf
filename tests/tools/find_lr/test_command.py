"""
`allennlp stlr-find-lr` and `python -m allennlp_stlr find-lr`: what they write and print,
and configuration mistakes reported as the preview reports them.
"""
import argparse
import csv
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest
from allennlp.common.plugins import import_plugins
from matplotlib import image

from allennlp_stlr import cli
from allennlp_stlr.tools.find_lr import rules
from allennlp_stlr.tools.find_lr.command import paste_value
from allennlp_stlr.tools.find_lr.sweep import TRAIN_MODES
from tests.helpers import ROOT, run_main

README_CONFIG = "configs/classifier_ulmfit.jsonnet"  # lr 0.03, decay_factor 0.6, 4 groups
FIXTURE = "fixtures/experiment_ulmfit.jsonnet"
LAST_LINE = re.compile(r"lr: (\d+(\.\d+)?(e-?\d+)?),")


@pytest.fixture(scope="module", autouse=True)
def plugins() -> None:
    import_plugins()


@pytest.fixture(autouse=True)
def in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def test_csv_rates_keep_each_groups_discriminative_factor(
    capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    done = run_main(capsys, "find-lr", README_CONFIG, "-s", str(tmp_path), "--csv")
    assert done["code"] == 0, done["err"]
    with open(tmp_path / "lr-losses.csv") as lines:
        rows = list(csv.reader(lines))
    labels = ["embedder", "encoder", "feedforward", "head", "group 4"]
    assert rows[0] == ["step"] + [f"lr: {label}" for label in labels] + ["loss", "smoothed loss"]
    steps = rows[1:]
    assert 20 <= len(steps) <= 100
    planned = rules.exponential_rates(1e-7, 10.0, 100)
    factors = [0.6**3, 0.6**2, 0.6, 1.0, 1.0]  # decay_factor 0.6 per group below the head
    for number, row in enumerate(steps):
        assert int(row[0]) == number
        rates = [float(value) for value in row[1:6]]
        assert rates[3] == pytest.approx(planned[number], rel=1e-12)
        assert rates == pytest.approx([rates[3] * factor for factor in factors], rel=1e-12)
    losses = [float(row[6]) for row in steps]
    assert [float(row[7]) for row in steps] == pytest.approx(rules.smoothed(losses, 0.98), rel=1e-9)
    out = done["out"].splitlines()
    curve = rules.trimmed(planned[: len(steps)], rules.smoothed(losses, 0.98), 100)
    assert out[-1] == f"lr: {paste_value(rules.valley(*curve))},"
    assert LAST_LINE.fullmatch(out[-1])
    assert out[1] == "trained (all layers): embedder, encoder, feedforward, head"
    picture = image.imread(tmp_path / "lr-losses.png")
    assert picture.shape[:2] == (550, 900)


def test_first_stage_trains_the_head_alone(
    capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    done = run_main(
        capsys, "find-lr", FIXTURE, "-s", str(tmp_path), "--train", "first-stage", "--num-steps", "30"
    )
    assert done["code"] == 0, done["err"]
    assert done["out"].splitlines()[1] == "trained (the first stage's layers): group 3"
    assert not (tmp_path / "lr-losses.csv").exists()


@pytest.mark.allennlp_train
def test_real_commands_run_on_the_fixture_and_end_with_the_value(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m allennlp_stlr find-lr` in a fresh interpreter, from a folder without a
    plugins file, with the default sweep (its time is printed: run with -s to see it),
    prints what the command prints in the root (the README's block runs `allennlp
    stlr-find-lr` itself)."""
    overrides = json.dumps({"train_data_path": str(ROOT / "fixtures/data/train.jsonl"),
                            "validation_data_path": str(ROOT / "fixtures/data/dev.jsonl")})
    assert not (tmp_path / ".allennlp_plugins").exists()
    out = tmp_path / "module"
    began, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(
        [sys.executable, "-m", "allennlp_stlr", "find-lr", str(ROOT / FIXTURE), "-o", overrides,
         "-s", str(out), "--csv"],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    # Wall time depends on what else the machine runs; CPU time much less.
    took = f"{time.perf_counter() - began:.1f} s wall, {_children_cpu() - cpu:.1f} s CPU"
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert LAST_LINE.fullmatch(lines[-1]), lines[-1]
    assert (out / "lr-losses.png").stat().st_size > 0 and (out / "lr-losses.csv").exists()
    monkeypatch.chdir(ROOT)
    in_root = run_main(capsys, "find-lr", FIXTURE, "-s", str(tmp_path / "root"), "--csv")
    assert in_root["code"] == 0, in_root["err"]

    def report(text: str) -> List[str]:
        return [line for line in text.splitlines() if not line.startswith("wrote ")]

    assert report(done.stdout) == report(in_root["out"])
    print(f"python -m allennlp_stlr find-lr: {took}")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_distributed_config_is_a_configuration_error(
    capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    distributed = "configs/classifier_ulmfit_distributed.jsonnet"
    done = run_main(capsys, "find-lr", distributed, "-s", str(tmp_path))
    assert done["code"] == 1
    assert done["out"] == ""
    lines = done["err"].splitlines()
    assert lines[0] == (
        "stlr-find-lr: error: stlr-find-lr: the config trains distributed (`distributed` starts "
        "2 workers), and the sweep runs in one process, as AllenNLP's find-lr does."
    )
    assert lines[1].startswith(
        "hint: sweep the single-process experiment with -o '{\"distributed\": null}'"
    )
    assert os.listdir(tmp_path) == []


# config, overrides: mistakes the preview reports too
BAD_CONFIGS = [
    (FIXTURE, '{"trainer.num_epochs": 3}'),  # fewer epochs than layer groups
    (FIXTURE, '{"train_data_path": "fixtures/data/no_such.jsonl"}'),
    # gradual unfreezing without layer groups: the hint points to stlr-groups
    ("fixtures/experiment.jsonnet", '{"trainer.learning_rate_scheduler.gradual_unfreezing": true}'),
    ("fixtures/no_such_experiment.jsonnet", ""),
    (FIXTURE, '{"trainer.learning_rate_scheduler.decay_factor": 2.6}'),
]


@pytest.mark.parametrize("config, overrides", BAD_CONFIGS)
def test_bad_config_gets_the_previews_error_and_hint(
    capsys: pytest.CaptureFixture, tmp_path: Path, config: str, overrides: str
) -> None:
    found = run_main(capsys, "find-lr", config, "-o", overrides, "-s", str(tmp_path))
    preview = run_main(capsys, "preview", config, "-o", overrides)
    assert found["code"] == preview["code"] == 1
    assert found["out"] == ""
    assert found["err"].startswith("stlr-find-lr: error: ")
    as_preview = found["err"].replace("stlr-find-lr: error: ", "stlr-preview: error: ", 1)
    assert as_preview == preview["err"]


@pytest.mark.parametrize(
    "option, message",
    [
        (["--num-steps", "5"], "--num-steps is 5; use at least 20"),
        (["--start-lr", "0"], "--start-lr (0) and --end-lr (10) must be finite rates with 0 <"),
        (["--smoothing", "1"], "--smoothing is 1; it must be in [0, 1)"),
        (["--stopping-factor", "1"], "--stopping-factor is 1; it must be greater than 1"),
    ],
)
def test_bad_options_are_configuration_errors_naming_the_option(
    capsys: pytest.CaptureFixture, tmp_path: Path, option: List[str], message: str
) -> None:
    done = run_main(capsys, "find-lr", FIXTURE, "-s", str(tmp_path), *option)
    assert done["code"] == 1
    assert message in done["err"].splitlines()[0]


def test_command_line_choices_are_the_tools_own() -> None:
    """cli.py names the rules and modes without importing the tool."""
    probe = argparse.ArgumentParser()
    cli.add_find_lr_arguments(probe)
    actions = {action.dest: action for action in probe._actions}
    assert list(actions["rule"].choices) == list(rules.RULES)
    assert actions["rule"].default == rules.DEFAULT_RULE
    assert tuple(actions["train"].choices) == TRAIN_MODES
