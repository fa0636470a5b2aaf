"""
What `stlr-preview` warns about a config, real `allennlp train` runs warn about too, in the
same words, before the first epoch ends: the scheduler where its block's `num_epochs` or
`num_steps_per_epoch` differ from the trainer's, the `stlr_checks` callback for `patience`
and the distributed section. The warnings the README lists as preview-only are the
exceptions. A `ConfigurationError` stands once as an ERROR line above AllenNLP's traceback.
"""
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

from allennlp_stlr.distributed import FIND_UNUSED_HINT
from tests.helpers import ROOT, allennlp_train

ULMFIT = ROOT / "configs" / "classifier_ulmfit.jsonnet"
# The done criteria of the checks: patience, and a scheduler block planned for 5 of 10 epochs.
PATIENCE_AND_EPOCHS = {"trainer.patience": 1, "trainer.learning_rate_scheduler.num_epochs": 5}

# Broken configs beyond PATIENCE_AND_EPOCHS, as Jsonnet on top of the ULMFiT config.
BROKEN = {
    # An epoch length the data do not have (20), a group of every bias (it spans layers) and
    # a group whose regex matches nothing.
    "length and groups": f"""
(import '{ULMFIT}') + {{
  trainer+: {{
    num_epochs: 6,
    optimizer+: {{ parameter_groups: [
      [['^(module\\\\.)?_text_field_embedder\\\\.'], {{ name: 'embedder' }}],
      [['^(module\\\\.)?_nothing_here\\\\.'], {{ name: 'empty' }}],
      [['^(module\\\\.)?_seq2vec_encoder\\\\..*weight$'], {{ name: 'encoder' }}],
      [['^(module\\\\.)?_feedforward\\\\..*weight$'], {{ name: 'feedforward' }}],
      [['^(module\\\\.)?_classification_layer\\\\.weight$'], {{ name: 'head' }}],
      [['bias$'], {{ name: 'no decay', weight_decay: 0 }}],
    ] }},
    learning_rate_scheduler+: {{ num_steps_per_epoch: 7 }},
  }},
}}
""",
    # Two workers, gradual unfreezing without `find_unused_parameters` (training stops at the
    # first forward pass), and a regex that DDP's `module.` prefix defeats (its group still
    # gets its parameters from the second regex).
    "distributed": f"""
(import '{ULMFIT}') + {{
  distributed: {{ cuda_devices: [-1, -1] }},
  trainer+: {{
    optimizer+: {{ parameter_groups: [
      [['^_text_field_embedder', '^module\\\\._text_field_embedder'], {{ name: 'embedder' }}],
      [['^(module\\\\.)?_seq2vec_encoder'], {{ name: 'encoder' }}],
      [['^(module\\\\.)?_feedforward'], {{ name: 'feedforward' }}],
      [['^(module\\\\.)?_classification_layer'], {{ name: 'head' }}],
    ] }},
  }},
}}
""",
    # No stlr_checks callback.
    "no checks callback": f"""
(import '{ROOT / "fixtures" / "experiment.jsonnet"}') + {{
  trainer+: {{ num_epochs: 1, callbacks: [] }},
}}
""",
}
# How many of each config's preview warnings training gives; the others are preview-only.
GIVEN = {"patience and epochs": 2, "length and groups": 2, "distributed": 2, "no checks callback": 0}
LOG_WARNING = re.compile(r" - WARNING - (allennlp_stlr[\w.]*) - (.*)$")


def train(tmp_path: Path, config: str, *args: str) -> Tuple[subprocess.CompletedProcess, str]:
    done = allennlp_train(config, "-s", str(tmp_path / "run"), *args, OMP_NUM_THREADS="1")
    return done, done.stdout + done.stderr


def logged_warnings(output: str) -> List[Tuple[int, str, str]]:
    """(line number, logger, message) of every WARNING this package logged."""
    lines = re.split(r"[\r\n]", output)
    found = [(number, LOG_WARNING.search(line)) for number, line in enumerate(lines)]
    return [(number, match[1], match[2]) for number, match in found if match]


def first_epoch_end(output: str) -> int:
    lines = re.split(r"[\r\n]", output)
    return next(i for i, line in enumerate(lines) if "Epoch duration" in line)


def preview_warnings(config: str, *args: str) -> List[str]:
    done = subprocess.run(
        [sys.executable, "-m", "allennlp_stlr", "preview", config, *args],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return [line[len("WARNING: "):] for line in done.stdout.splitlines() if line.startswith("WARNING: ")]


def preview_only() -> List[str]:
    """The openings of the warnings the README lists as given by `stlr-preview` alone."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("Warnings only `stlr-preview` gives, and why:")[1].split("\n\n")[0]
    bullets = section.split("\n- ")[1:]
    return [" ".join(re.match(r"`([^`]*)`", bullet, re.S)[1].split()) for bullet in bullets]


@pytest.fixture(scope="module")
def patience_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    run = tmp_path_factory.mktemp("patience")
    done, output = train(run, str(ULMFIT), "-o", json.dumps(PATIENCE_AND_EPOCHS))
    assert done.returncode == 0, output[-3000:]
    return output


@pytest.mark.allennlp_train
def test_patience_is_warned_about_before_the_first_epoch_ends(patience_run: str) -> None:
    warned = [(n, name, text) for n, name, text in logged_warnings(patience_run) if "patience" in text]
    assert len(warned) == 1
    number, name, text = warned[0]
    assert name == "allennlp_stlr.callbacks"
    assert text.startswith("slanted_triangular: trainer.patience = 1 can stop training")
    assert number < first_epoch_end(patience_run)


@pytest.mark.allennlp_train
def test_scheduler_epochs_other_than_the_trainers_are_warned_about_with_both_values(
    patience_run: str,
) -> None:
    warned = [(n, name, text) for n, name, text in logged_warnings(patience_run) if "num_epochs" in text]
    assert len(warned) == 1
    number, name, text = warned[0]
    assert name == "allennlp_stlr.checks"
    assert "learning_rate_scheduler.num_epochs = 5 but trainer.num_epochs = 10" in text
    assert "after 5 epochs and stays there for the last 5" in text
    assert number < first_epoch_end(patience_run)
    assert "found in both **extras and in params" not in patience_run  # AllenNLP's own line


@pytest.mark.allennlp_train
@pytest.mark.parametrize("case", sorted(BROKEN) + ["patience and epochs"])
def test_every_preview_warning_is_given_by_training_or_listed_as_preview_only(
    case: str, tmp_path: Path, patience_run: str
) -> None:
    if case == "patience and epochs":
        args = ["-o", json.dumps(PATIENCE_AND_EPOCHS)]
        config, output = str(ULMFIT), patience_run
    else:
        path = tmp_path / "broken.jsonnet"
        path.write_text(BROKEN[case])
        config, args = str(path), []
        done, output = train(tmp_path, config)
        if case == "distributed":
            # Gradual unfreezing without `find_unused_parameters`: our error, naming the fix,
            # not DDP's reduction error at the first backward pass.
            assert done.returncode != 0
            assert "ConfigurationError" in done.stderr and FIND_UNUSED_HINT in done.stderr
            assert "RuntimeError: Expected to have finished reduction" not in done.stderr
    previewed = preview_warnings(config, *args)
    assert previewed, "a broken config that the preview finds nothing wrong with"
    trained = {text for _, _, text in logged_warnings(output)}
    exceptions = preview_only()
    missing = [
        warning
        for warning in previewed
        if warning not in trained and not any(warning.startswith(e) for e in exceptions)
    ]
    assert missing == [], f"trained with: {sorted(trained)}"
    assert len([warning for warning in previewed if warning in trained]) == GIVEN[case]
    # The preview-only ones are really not given at training (else the README is stale).
    assert not any(
        text.startswith(exception) for text in trained for exception in exceptions
    )


def error_lines(output: str, message: str) -> List[int]:
    lines = re.split(r"[\r\n]", output)
    return [i for i, line in enumerate(lines) if " - ERROR - allennlp_stlr" in line and message in line]


@pytest.mark.allennlp_train
def test_a_configuration_error_stands_once_above_the_traceback(tmp_path: Path) -> None:
    done, output = train(tmp_path, str(ULMFIT), "-o", json.dumps(
        {"trainer.learning_rate_scheduler.ratio": 0.5}))  # fmt: skip
    assert done.returncode != 0
    message = "slanted_triangular: `ratio` must be a finite number >= 1 (at most 2**53), got 0.5."
    (line,) = error_lines(output, message)
    lines = re.split(r"[\r\n]", output)
    uncaught = next(i for i, text in enumerate(lines) if "Uncaught exception" in text)
    assert line < uncaught
    # The traceback still ends with it, as AllenNLP prints it.
    assert lines[uncaught:] and any(
        text.startswith("allennlp.common.checks.ConfigurationError: " + message)
        for text in lines[uncaught:]
    )

